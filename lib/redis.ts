/**
 * One ioredis client per process for REDIS_URL. Commands fail fast when Redis is
 * unreachable (one retry, 2 s command and connect timeouts) so callers can fail
 * closed with 503. The offline queue stays on: commands issued while the client
 * (re)connects wait for it, bounded by those timeouts, instead of failing at start-up.
 */
import Redis from "ioredis";
import { config } from "./config";
import { closeRevocations } from "./revocation";

let client: Redis | undefined;

export function redisClient(): Redis | undefined {
	const url = config().redisUrl;
	if (!url) return undefined;
	if (client) return client;
	client = new Redis(url, {
		enableOfflineQueue: true,
		maxRetriesPerRequest: 1,
		commandTimeout: 2000,
		connectTimeout: 2000,
		retryStrategy: (times) => Math.min(times * 200, 2000),
		lazyConnect: false,
	});
	// Errors surface on commands (one listener per client, not per call); the client keeps reconnecting in the background.
	client.on("error", () => undefined);
	return client;
}

export async function closeRedis(): Promise<void> {
	const c = client;
	client = undefined;
	await closeRevocations();
	if (c) await c.quit().catch(() => c.disconnect());
}
