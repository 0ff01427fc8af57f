/**
 * The general per-user/per-IP rate limit across gateway nodes, without a Redis
 * round trip per request.
 *
 * Each node decides locally from the count it last read from Redis plus what it
 * has admitted since, and writes its admitted requests to Redis in one pipeline
 * every FLUSH_MS (per key: `SET 0 PX window NX`, `INCRBY n`, `PTTL`: the same
 * fixed-window counter rate-limiter-flexible keeps, under the same key), reading
 * the cluster-wide count back. A key over its limit is refused at once on every
 * node that has seen the count; a burst may overshoot by what the other nodes
 * admit within one flush interval. The strict credential limit (login, register,
 * password reset: a few per minute) stays exact, one Redis call each.
 *
 * Fail closed, as before: while Redis is not connected, or the last flush
 * failed, every consume is a 503.
 */
import type Redis from "ioredis";
import { RateLimiterRes } from "rate-limiter-flexible";

const FLUSH_MS = 50;

interface KeyState {
	/** Cluster-wide count at the last flush (including this node's flushed requests). */
	known: number;
	/** Admitted here since the last flush. */
	pending: number;
	/** When the current window ends (ms since the epoch). */
	resetAt: number;
}

export interface Limiter {
	readonly points: number;
	consume(key: string): Promise<{ remainingPoints: number }>;
	/** Stops background work (the batched limiter's flush timer). */
	stop?(): void;
}

export class BatchedRedisLimiter implements Limiter {
	private readonly keys = new Map<string, KeyState>();
	private timer: NodeJS.Timeout | undefined;
	private healthy = true;

	constructor(
		private readonly redis: Redis,
		private readonly keyPrefix: string,
		readonly points: number,
		private readonly durationSec: number,
	) {}

	consume(key: string): Promise<{ remainingPoints: number }> {
		if (!this.healthy || this.redis.status !== "ready") return Promise.reject(new Error("rate limiter store unavailable"));
		const now = Date.now();
		let state = this.keys.get(key);
		if (!state || state.resetAt <= now) {
			state = { known: 0, pending: 0, resetAt: now + this.durationSec * 1000 };
			this.keys.set(key, state);
		}
		const used = state.known + state.pending + 1;
		if (used > this.points) return Promise.reject(new RateLimiterRes(0, state.resetAt - now, used, false));
		state.pending++;
		this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
		return Promise.resolve({ remainingPoints: this.points - used });
	}

	private async flush(): Promise<void> {
		this.timer = undefined;
		const batch = [...this.keys].filter(([, s]) => s.pending > 0).map(([key, s]) => ({ key, state: s, n: s.pending }));
		for (const { state, n } of batch) state.pending -= n;
		const pipeline = this.redis.pipeline();
		for (const { key, n } of batch) {
			const redisKey = `${this.keyPrefix}:${key}`;
			pipeline
				.set(redisKey, 0, "PX", this.durationSec * 1000, "NX")
				.incrby(redisKey, n)
				.pttl(redisKey);
		}
		try {
			const replies = (await pipeline.exec()) ?? [];
			if (replies.some(([err]) => err)) throw new Error("rate limiter flush failed");
			const now = Date.now();
			batch.forEach(({ state }, i) => {
				state.known = Number(replies[3 * i + 1][1]);
				const ttl = Number(replies[3 * i + 2][1]);
				if (ttl > 0) state.resetAt = now + ttl;
			});
			this.healthy = true;
		} catch {
			// Not written: count them again next time; refuse meanwhile.
			for (const { state, n } of batch) state.pending += n;
			this.healthy = false;
			this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS * 10);
			return;
		}
		// Forget keys whose window is over and that have nothing left to write.
		const now = Date.now();
		for (const [key, s] of this.keys) if (s.resetAt <= now && s.pending === 0) this.keys.delete(key);
	}

	stop(): void {
		if (this.timer) clearTimeout(this.timer);
		this.timer = undefined;
	}
}
