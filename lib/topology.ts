/**
 * The cluster's nodes: which services each runs and the port of its own
 * /health, /ready and /metrics server. One source for the node runner,
 * docker-compose.yml, k8s/ and the tests that validate them.
 *
 * That port carries operator data (dependency errors, per-action counters, host
 * facts in the process metrics): probes and Prometheus reach it inside the
 * cluster, no proxy or ingress does. Only the gateway has a public port besides.
 */
export interface NodeSpec {
	/** Value of SERVICES that starts this node. */
	readonly name: string;
	/** Operator port (METRICS_PORT): /health, /ready, /metrics. */
	readonly port: number;
	/** The public API port (PORT), gateway only: the API, socket.io and a bare /health. */
	readonly publicPort?: number;
	/** Folders under services/ loaded by this node. */
	readonly services: readonly string[];
}

export const NODES: readonly NodeSpec[] = [
	{ name: "gateway", port: 3009, publicPort: 3000, services: ["gateway"] },
	{ name: "admin", port: 3001, services: ["admin"] },
	{ name: "auth", port: 3002, services: ["auth"] },
	{ name: "inventory", port: 3003, services: ["inventory"] },
	{ name: "sales", port: 3004, services: ["sales"] },
	{ name: "communications", port: 3005, services: ["communications"] },
	{ name: "analytics", port: 3006, services: ["analytics"] },
	{ name: "files", port: 3007, services: ["files"] },
	{ name: "kafka-bridge", port: 3008, services: ["kafka-bridge"] },
];

export function nodeSpec(name: string): NodeSpec | undefined {
	return NODES.find((n) => n.name === name);
}
