/**
 * `npm start`: the whole backend in one process (or one cluster node with SERVICES=...).
 * Without DATABASE_URL an embedded PostgreSQL is started under ./.data.
 */
import { ConfigError, loadConfig, setConfig } from "../lib/config";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "../lib/database";
import { createBroker, loadServices } from "../lib/app";
import { closeRedis } from "../lib/redis";

async function main(): Promise<void> {
	let cfg;
	try {
		cfg = setConfig(loadConfig());
	} catch (err) {
		if (err instanceof ConfigError) {
			console.error(err.message);
			process.exit(1);
		}
		throw err;
	}

	let embedded: EmbeddedDatabase | undefined;
	if (!cfg.databaseUrl) {
		embedded = await startEmbeddedPostgres();
		cfg = setConfig({ ...cfg, databaseUrl: embedded.url });
		console.info(`No DATABASE_URL: using the embedded PostgreSQL at ${embedded.url.replace(/:[^:@]*@/, ":***@")}`);
	}

	const broker = createBroker(cfg);
	if (cfg.jwt.secretGenerated) broker.logger.warn("JWT_SECRET is not set: using a random per-process secret (tokens die with this process)");
	loadServices(broker, cfg.services);

	let stopping = false;
	const stop = async (signal: string) => {
		if (stopping) return;
		stopping = true;
		broker.logger.info(`${signal}: draining and stopping`);
		await broker.stop().catch((err: unknown) => broker.logger.error("Stop failed", err));
		await closeRedis();
		await embedded?.stop().catch(() => undefined);
		process.exit(0);
	};
	process.on("SIGINT", () => void stop("SIGINT"));
	process.on("SIGTERM", () => void stop("SIGTERM"));

	await broker.start();
}

main().catch((err: unknown) => {
	console.error(`Start-up failed: ${err instanceof Error ? err.message : String(err)}`);
	process.exit(1);
});
