/**
 * `npm run repl`: a Moleculer REPL on a service-less node attached to the
 * cluster (same TRANSPORTER and NAMESPACE as the nodes; default
 * nats://127.0.0.1:4222). Built-in commands: nodes, services, actions, events,
 * call, dcall, emit, metrics, info, ...; custom ones from repl-commands/:
 * find-user, stock, outbox, replay.
 */
import os from "node:os";
import { ConfigError, loadConfig, setConfig } from "../lib/config";
import { createBroker } from "./broker";
import { REPL_COMMANDS } from "../repl-commands";

async function main(): Promise<void> {
	let cfg;
	try {
		const env: NodeJS.ProcessEnv = { ...process.env, TRANSPORTER: process.env.TRANSPORTER || "nats://127.0.0.1:4222" };
		// The REPL verifies no tokens; a placeholder satisfies the cluster's JWT_SECRET rule.
		env.JWT_SECRET ||= "repl-node-does-not-verify-tokens-000000";
		env.LOG_LEVEL ||= "warn";
		cfg = setConfig(loadConfig(env));
	} catch (err) {
		if (err instanceof ConfigError) {
			console.error(err.message);
			process.exit(1);
		}
		throw err;
	}
	// Nodes with a SERVICE_KEY refuse every call without proof of origin (docs/security.md).
	if (!cfg.serviceKey)
		console.warn("SERVICE_KEY is not set: nodes that require it will refuse this REPL's calls (401 SERVICE_UNAUTHENTICATED)");
	const broker = createBroker(cfg, {
		nodeID: `repl-${os.hostname()}-${process.pid}`,
		replCommands: REPL_COMMANDS as never,
		replDelimiter: "eislager $",
	});
	await broker.start();
	await broker.repl();
}

main().catch((err: unknown) => {
	console.error(`REPL failed: ${err instanceof Error ? err.message : String(err)}`);
	process.exit(1);
});
