/**
 * The general rate limit across gateway nodes, decided locally and counted in
 * Redis in batches: a key over its limit is refused, another node sees the shared
 * count after one flush, the Redis key has the window's expiry, and a limiter
 * without Redis fails closed.
 */
import { randomBytes } from "node:crypto";
import Redis from "ioredis";
import { RateLimiterRes } from "rate-limiter-flexible";
import { BatchedRedisLimiter } from "../../../services/gateway/batched-limiter";
import { closedPort } from "../auth/helpers";

const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const flushed = () => new Promise((r) => setTimeout(r, 200));

describe("batched Redis rate limiter", () => {
	const prefix = `eislager-rl-test-${randomBytes(4).toString("hex")}`;
	let redis: Redis;
	let a: BatchedRedisLimiter;
	let b: BatchedRedisLimiter;

	beforeAll(async () => {
		redis = new Redis(REDIS_URL);
		await new Promise((r) => redis.once("ready", r));
		a = new BatchedRedisLimiter(redis, prefix, 5, 60);
		b = new BatchedRedisLimiter(redis, prefix, 5, 60);
	});
	afterAll(async () => {
		a.stop();
		b.stop();
		await redis.quit();
	});

	it("admits the limit, refuses the next with the window's remaining time", async () => {
		for (let i = 0; i < 5; i++) await expect(a.consume("user:1")).resolves.toEqual({ remainingPoints: 4 - i });
		const refused = await a.consume("user:1").catch((e: unknown) => e);
		expect(refused).toBeInstanceOf(RateLimiterRes);
		expect((refused as RateLimiterRes).msBeforeNext).toBeGreaterThan(50_000);
		await flushed();
		expect(await redis.get(`${prefix}:user:1`)).toBe("5");
		expect(await redis.pttl(`${prefix}:user:1`)).toBeGreaterThan(50_000);
	});

	it("another node refuses the key once it has read the shared count", async () => {
		await b.consume("user:1").catch(() => undefined); // admitted or not, it brings back the count
		await flushed();
		await expect(b.consume("user:1")).rejects.toBeInstanceOf(RateLimiterRes);
		// Another key has its own budget.
		await expect(b.consume("user:2")).resolves.toEqual({ remainingPoints: 4 });
	});

	it("fails closed without Redis", async () => {
		const down = new Redis(`redis://127.0.0.1:${await closedPort()}`, { lazyConnect: true, maxRetriesPerRequest: 0 });
		down.on("error", () => undefined);
		const limiter = new BatchedRedisLimiter(down, prefix, 5, 60);
		const err = await limiter.consume("user:3").catch((e: unknown) => e);
		expect(err).toBeInstanceOf(Error);
		expect(err).not.toBeInstanceOf(RateLimiterRes);
		limiter.stop();
		down.disconnect();
	});
});
