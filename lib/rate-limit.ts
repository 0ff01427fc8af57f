/**
 * Per-key counters for limits inside services (the gateway limits requests at the edge):
 * Redis when REDIS_URL is set (shared by every node), this process's memory otherwise.
 */
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import { redisClient } from "./redis";
import { serviceUnavailable, tooManyRequests } from "./errors";

const limiters = new Map<string, RateLimiterAbstract>();

/** One limiter per name, points and window (and store: Redis or memory). */
export function limiter(name: string, points: number, durationSec: number): RateLimiterAbstract {
	const redis = redisClient();
	const id = `${name}:${points}:${durationSec}:${redis ? "redis" : "memory"}`;
	let found = limiters.get(id);
	if (!found) {
		const keyPrefix = `eislager-rl-${name}`;
		found = redis
			? new RateLimiterRedis({ storeClient: redis, keyPrefix, points, duration: durationSec })
			: new RateLimiterMemory({ keyPrefix, points, duration: durationSec });
		limiters.set(id, found);
	}
	return found;
}

/** Takes one point for `key`: 429 `code` with details.retryAfter (the gateway sets Retry-After) when spent; 503 when the store is down (fail closed). */
export async function consumePoint(rl: RateLimiterAbstract, key: string, message: string, code: string): Promise<void> {
	try {
		await rl.consume(key);
	} catch (rejection) {
		if (rejection instanceof RateLimiterRes)
			throw tooManyRequests(message, code, Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)));
		throw serviceUnavailable("Rate limiter unavailable");
	}
}
