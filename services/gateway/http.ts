/**
 * HTTP edge concerns of the gateway, kept out of the service schema:
 * client IP (X-Forwarded-For trusted only per TRUST_PROXY), request ids,
 * and rate limiting (Redis across gateway nodes, memory in one process; the
 * general limit batched to Redis, see batched-limiter.ts).
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import { Errors } from "moleculer";
import { config } from "../../lib/config";
import { redisClient } from "../../lib/redis";
import { serviceUnavailable } from "../../lib/errors";
import { BatchedRedisLimiter, type Limiter } from "./batched-limiter";

/** The client's address: the entry TRUST_PROXY hops from the right of X-Forwarded-For + socket address. */
export function clientIp(req: IncomingMessage, trustProxy = config().trustProxy): string {
	const remote = req.socket.remoteAddress ?? "unknown";
	if (trustProxy <= 0) return remote;
	const forwarded = String(req.headers["x-forwarded-for"] ?? "")
		.split(",")
		.map((s) => s.trim())
		.filter(Boolean);
	const chain = [...forwarded, remote];
	return chain[Math.max(0, chain.length - 1 - trustProxy)];
}

const REQUEST_ID = /^[\w.:-]{8,128}$/;

/** Accepts a well-formed incoming X-Request-Id (from a proxy), otherwise makes one. */
export function requestIdFor(req: IncomingMessage): string {
	const incoming = req.headers["x-request-id"];
	return typeof incoming === "string" && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

export interface RateLimiters {
	/** Every request, per user or client IP: decided locally, counted in Redis in batches. */
	general: Limiter;
	/** Credential endpoints, per client IP: exact, one Redis call each. */
	auth: RateLimiterAbstract;
	/**
	 * Wrong device keys, per client IP: each 401 of a device route spends a point, and a spent budget refuses the
	 * address's device requests before any validation or database work. The per-device limit alone let random
	 * freezer ids through without end (a fresh bucket each); right keys spend nothing here.
	 */
	deviceKeyFailures: RateLimiterAbstract;
	/**
	 * The addresses this node saw fail a device key within the budget's window: only they pay the budget's store
	 * read. A sensor that never fails costs no round trip. Another node's failures reach this node's check after
	 * the address's first failure here: at most one more failure per address, per node and window.
	 */
	deviceKeyFailedRecently: RecentKeys;
}

/** Keys seen within the last `ttlMs`, at most `max` of them (the oldest mark goes first). */
export class RecentKeys {
	private readonly seen = new Map<string, number>();

	constructor(
		private readonly ttlMs: number,
		private readonly max: number,
	) {}

	mark(key: string, now = Date.now()): void {
		// Re-inserted, so the Map's order stays the order of the latest marks.
		this.seen.delete(key);
		this.seen.set(key, now + this.ttlMs);
		if (this.seen.size > this.max) this.seen.delete(this.seen.keys().next().value as string);
	}

	has(key: string, now = Date.now()): boolean {
		const until = this.seen.get(key);
		if (until === undefined) return false;
		if (until > now) return true;
		this.seen.delete(key);
		return false;
	}

	get size(): number {
		return this.seen.size;
	}
}

/** Every limit counts per minute (the `*_PER_MIN` settings). */
const WINDOW_SECONDS = 60;

export function createRateLimiters(): RateLimiters {
	const { perMin, authPerMin, deviceKeyFailuresPerMin } = config().rateLimit;
	const redis = redisClient();
	const exact = (keyPrefix: string, points: number): RateLimiterAbstract =>
		redis
			? new RateLimiterRedis({ storeClient: redis, keyPrefix, points, duration: WINDOW_SECONDS })
			: new RateLimiterMemory({ keyPrefix, points, duration: WINDOW_SECONDS });
	return {
		general: redis ? new BatchedRedisLimiter(redis, "eislager-rl", perMin, WINDOW_SECONDS) : exact("eislager-rl", perMin),
		auth: exact("eislager-rl-auth", authPerMin),
		deviceKeyFailures: exact("eislager-rl-device-key", deviceKeyFailuresPerMin),
		// A budget's window from the address's latest failure covers the window its first failure opened. 100k
		// addresses at most (a few MB).
		deviceKeyFailedRecently: new RecentKeys(WINDOW_SECONDS * 1000, 100_000),
	};
}

/** Consumes one point; 429 with Retry-After when spent, 503 when the limiter's store is down (fail closed). */
export async function consume(limiter: Limiter, key: string, res: ServerResponse): Promise<void> {
	try {
		const state = await limiter.consume(key);
		res.setHeader("RateLimit-Limit", String(limiter.points));
		res.setHeader("RateLimit-Remaining", String(state.remainingPoints));
	} catch (rejection) {
		if (rejection instanceof RateLimiterRes) throw rateLimited(rejection, res);
		throw serviceUnavailable("Rate limiter unavailable");
	}
}

/** Spends nothing: 429 while `key` has used up its budget, 503 when the limiter's store is down (fail closed). */
export async function refuseWhileSpent(limiter: RateLimiterAbstract, key: string, res: ServerResponse): Promise<void> {
	let state: RateLimiterRes | null;
	try {
		state = await limiter.get(key);
	} catch {
		throw serviceUnavailable("Rate limiter unavailable");
	}
	if (state && state.consumedPoints >= limiter.points) throw rateLimited(state, res);
}

function rateLimited(state: RateLimiterRes, res: ServerResponse): Errors.MoleculerClientError {
	const retryAfter = Math.max(1, Math.ceil(state.msBeforeNext / 1000));
	res.setHeader("Retry-After", String(retryAfter));
	return new Errors.MoleculerClientError("Too many requests, slow down", 429, "RATE_LIMITED", { retryAfter });
}
