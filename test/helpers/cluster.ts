/**
 * A real cluster for e2e tests: one `node dist/bin/start.js` process per node
 * over NATS (a unique NAMESPACE per run, so parallel runs never meet), a fresh
 * database, free ports, plus a service-less broker node in the test process for
 * internal calls (auth.createUser). `stop()` kills every child, also after a failure.
 * Needs `dist/` (npm test builds first; locally run `npx tsc -p .`).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import type { ServiceBroker } from "moleculer";
import { loadConfig, setConfig } from "../../lib/config";
import { createBroker } from "../../bin/broker";
import type { Role } from "../../lib/types";
import { createTestDatabase, type TestDatabase } from "./db";
import { uniqueEmail, type TestUser } from "./app";
import { httpRequest, type HttpResult, type RequestOptions } from "./http";
import { eventually } from "./eventually";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ROOT = path.resolve(__dirname, "..", "..");
export const START_JS = path.join(ROOT, "dist", "bin", "start.js");
export const NATS_URL = process.env.TEST_NATS_URL ?? "nats://127.0.0.1:4222";

export function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.once("error", reject);
		srv.listen(0, "127.0.0.1", () => {
			const port = (srv.address() as net.AddressInfo).port;
			srv.close(() => resolve(port));
		});
	});
}

export interface NodeProcess {
	name: string;
	nodeID: string;
	/** Operator port: /health, /ready, /metrics (the gateway's public port is in Cluster.gatewayUrl). */
	port: number;
	child: ChildProcess;
	output: string[];
	exited: Promise<number | null>;
}

export interface Cluster {
	namespace: string;
	db: TestDatabase;
	env: Record<string, string>;
	gatewayUrl: string;
	broker: ServiceBroker;
	nodes: NodeProcess[];
	startNode(name: string, extraEnv?: Record<string, string>): Promise<NodeProcess>;
	kill(node: NodeProcess, signal?: NodeJS.Signals): Promise<void>;
	request<T = any>(method: string, path: string, opts?: RequestOptions): Promise<HttpResult<T>>; // eslint-disable-line @typescript-eslint/no-explicit-any
	createUser(role?: Role): Promise<TestUser>;
	/** The last lines every node printed (for failure messages). */
	logs(): string;
	stop(): Promise<void>;
}

export async function waitUntil(what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 30_000, everyMs = 200): Promise<void> {
	await eventually(fn, what, timeoutMs, everyMs);
}

export async function httpGet(url: string): Promise<{ status: number; text: string }> {
	const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
	return { status: res.status, text: await res.text() };
}

export interface ClusterOptions {
	nodes: string[];
	env?: Record<string, string>;
	/** Service folders the gateway must route before start resolves. */
	routed?: string[];
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
	if (!fs.existsSync(START_JS)) throw new Error(`${START_JS} is missing: build first (npx tsc -p .; npm test does)`);
	const db = await createTestDatabase();
	const namespace = `t-${randomBytes(5).toString("hex")}`;
	const env: Record<string, string> = {
		NODE_ENV: "test",
		TRANSPORTER: NATS_URL,
		NAMESPACE: namespace,
		DATABASE_URL: db.url,
		JWT_SECRET: randomBytes(32).toString("hex"),
		// Every cluster test runs with proof of origin between nodes (middlewares/service-key.middleware.ts).
		SERVICE_KEY: randomBytes(32).toString("hex"),
		RATE_LIMIT_PER_MIN: "1000000",
		RATE_LIMIT_AUTH_PER_MIN: "1000000",
		LOG_LEVEL: process.env.CLUSTER_LOG_LEVEL ?? "warn",
		KAFKA_BROKERS: "",
		...options.env,
	};
	const nodes: NodeProcess[] = [];
	const gatewayPort = await freePort();

	const startNode = async (name: string, extraEnv: Record<string, string> = {}): Promise<NodeProcess> => {
		const port = await freePort();
		const nodeID = `${name}-${randomBytes(3).toString("hex")}`;
		const childEnv: Record<string, string> = {
			...(process.env as Record<string, string>),
			...env,
			...extraEnv,
			SERVICES: name,
			NODE_ID: nodeID,
			METRICS_PORT: String(port),
		};
		if (name === "gateway") childEnv.PORT = String(gatewayPort);
		const child = spawn(process.execPath, [START_JS], { cwd: ROOT, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
		const output: string[] = [];
		const keep = (chunk: Buffer) => {
			output.push(...chunk.toString().split("\n").filter(Boolean));
			if (output.length > 200) output.splice(0, output.length - 200);
		};
		child.stdout!.on("data", keep);
		child.stderr!.on("data", keep);
		const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
		const node: NodeProcess = { name, nodeID, port, child, output, exited };
		nodes.push(node);
		await waitUntil(
			`node "${name}" to answer /health on ${port}`,
			async () => {
				if (child.exitCode !== null)
					throw new Error(`node "${name}" exited with ${child.exitCode}:\n${output.slice(-15).join("\n")}`);
				return (await httpGet(`http://127.0.0.1:${port}/health`)).status === 200;
			},
			30_000,
		).catch((err: Error) => {
			throw new Error(`${err.message}\n${output.slice(-15).join("\n")}`);
		});
		return node;
	};

	const kill = async (node: NodeProcess, signal: NodeJS.Signals = "SIGTERM") => {
		if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill(signal);
		const timer = setTimeout(() => node.child.kill("SIGKILL"), 15_000);
		await node.exited;
		clearTimeout(timer);
	};

	setConfig(loadConfig({ ...process.env, ...env }));
	const broker = createBroker(loadConfig({ ...process.env, ...env }), {
		nodeID: `test-client-${randomBytes(3).toString("hex")}`,
		logLevel: "warn",
	});
	const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;

	const request = <T>(method: string, p: string, opts: RequestOptions = {}) =>
		httpRequest<T>(gatewayUrl, method, p, { timeoutMs: 30_000, ...opts });

	const cluster: Cluster = {
		namespace,
		db,
		env,
		gatewayUrl,
		broker,
		nodes,
		startNode,
		kill,
		request,
		async createUser(role: Role = "PATRON") {
			const email = uniqueEmail(role.toLowerCase());
			const password = `pw-${randomBytes(6).toString("hex")}`;
			const user = await broker.call<{ id: string }, object>("auth.createUser", { email, password, name: `${role} tester`, role });
			// Signed in through the gateway, as a client would.
			// A 503 says "try again shortly" (a node just joined, its routes being rebuilt): a client retries it.
			const signIn = () =>
				request<{ accessToken: string; refreshToken: string }>("POST", "/api/v1/auth/login", { body: { email, password } });
			let login = await signIn();
			for (const started = Date.now(); login.status === 503 && Date.now() - started < 15_000; login = await signIn())
				await sleep(250);
			if (login.status !== 200) throw new Error(`login through the gateway failed: ${login.status} ${JSON.stringify(login.body)}`);
			return { id: user.id, email, password, role, token: login.body.accessToken, refreshToken: login.body.refreshToken };
		},
		logs() {
			return nodes
				.map(
					(n) =>
						`--- ${n.name} (pid ${n.child.pid}, exit ${n.child.exitCode ?? n.child.signalCode ?? "-"})\n${n.output.slice(-10).join("\n")}`,
				)
				.join("\n");
		},
		async stop() {
			await Promise.all(nodes.map((n) => kill(n).catch(() => undefined)));
			await broker.stop().catch(() => undefined);
			await db.drop().catch(() => undefined);
		},
	};

	try {
		await broker.start();
		const order = [...options.nodes];
		await Promise.all(order.map((n) => startNode(n)));
		const services = [...new Set(order.filter((n) => n !== "gateway"))];
		const folders = services.filter((s) => s !== "kafka-bridge");
		await waitUntil(
			"every node to be ready",
			async () =>
				(await Promise.all(nodes.map(async (n) => (await httpGet(`http://127.0.0.1:${n.port}/ready`)).status === 200))).every(
					Boolean,
				),
			30_000,
		);
		await waitUntil("the test node to see every service", () => {
			const names = (broker.registry.getServiceList({ onlyAvailable: true }) as { name: string }[]).map((s) => s.name);
			return services.every((f) => names.some((n) => n === f || n.startsWith(`${f}.`)));
		});
		if (order.includes("gateway")) {
			for (const folder of options.routed ?? folders) {
				// The document is built from the registry; moleculer-web builds its routes a moment later, and until
				// then a documented path answers 503 (lib/availability.ts). Ready means one of them gets past routing.
				await waitUntil(`the gateway to route /api/v1/${folder}`, async () => {
					const res = await fetch(`${gatewayUrl}/api/v1/openapi.json`);
					const doc = (await res.json()) as { paths: Record<string, Record<string, unknown>> };
					const path = Object.keys(doc.paths).find((p) => p.startsWith(`/api/v1/${folder}/`) && doc.paths[p].get);
					if (!path) return false;
					// Path parameters filled with a fresh id: routed, the answer is a 401/404, never 503.
					return (await httpGet(`${gatewayUrl}${path.replace(/\{\w+\}/g, randomUUID())}`)).status !== 503;
				});
			}
		}
	} catch (err) {
		const logs = cluster.logs();
		await cluster.stop();
		throw new Error(`${(err as Error).message}\n${logs}`);
	}
	return cluster;
}
