/**
 * Redis-backed token revocation and rate limits, shared by two gateway brokers
 * on one database; and fail-closed behaviour when Redis is unreachable.
 */
import Redis from "ioredis";
import { startTestApp, uniqueEmail, type TestApp } from "../helpers/app";
import { closedPort, jwtPayload, randomIp } from "../integration/auth/helpers";

const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const JWT_SECRET = "redis-test-secret-0123456789-0123456789-abcdef";

describe("auth with Redis across two gateway brokers", () => {
	let a: TestApp;
	let b: TestApp;
	let redis: Redis;

	beforeAll(async () => {
		const env = { REDIS_URL, JWT_SECRET, TRUST_PROXY: "1", RATE_LIMIT_AUTH_PER_MIN: "4" };
		a = await startTestApp({ services: ["auth"], env });
		b = await startTestApp({ services: ["auth"], env, db: a.db });
		redis = new Redis(REDIS_URL, { lazyConnect: true });
		await redis.connect();
	});
	afterAll(async () => {
		await b?.stop();
		await a?.stop();
		await redis?.quit();
	});

	it("runs two separate brokers, each with its own gateway", () => {
		expect(a.broker.nodeID).not.toBe(b.broker.nodeID);
		expect(a.baseUrl).not.toBe(b.baseUrl);
	});

	it("logout on one gateway is refused on the other (revocation lives in Redis)", async () => {
		const user = await a.createUser("PATRON");
		expect((await b.request("GET", "/api/v1/auth/me", { token: user.token })).status).toBe(200);
		expect((await a.request("POST", "/api/v1/auth/logout", { token: user.token })).status).toBe(204);
		const jti = String(jwtPayload(user.token).jti);
		expect(await redis.exists(`eislager:revoked:${jti}`)).toBe(1);
		expect(await redis.ttl(`eislager:revoked:${jti}`)).toBeGreaterThan(0);
		const refused = await b.request("GET", "/api/v1/auth/me", { token: user.token });
		expect(refused.status).toBe(401);
		expect(refused.body.error.code).toBe("TOKEN_REVOKED");
	});

	it("a role change on one gateway invalidates the older token on the other", async () => {
		const admin = await a.createUser("ADMIN");
		const user = await a.createUser("PATRON");
		expect((await b.request("PUT", `/api/v1/auth/users/${user.id}/role`, { token: admin.token, body: { role: "CLERK" } })).status).toBe(
			200,
		);
		expect(await redis.exists(`eislager:valid-after:${user.id}`)).toBe(1);
		expect((await a.request("GET", "/api/v1/auth/me", { token: user.token })).status).toBe(401);
	});

	it("spends one login rate limit across both gateways (429 with Retry-After on both)", async () => {
		const ip = randomIp();
		const login = (app: TestApp) =>
			app.request("POST", "/api/v1/auth/login", {
				body: { email: uniqueEmail("limit"), password: "whatever-1" },
				headers: { "x-forwarded-for": ip },
			});
		for (const app of [a, b, a, b]) expect((await login(app)).status).toBe(401);
		for (const app of [a, b]) {
			const res = await login(app);
			expect(res.status).toBe(429);
			expect(res.body.error.code).toBe("RATE_LIMITED");
			expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
		}
		expect(await redis.exists(`eislager-rl-auth:ip:${ip}`)).toBe(1);
		// Another client address has its own budget.
		expect(
			(
				await b.request("POST", "/api/v1/auth/login", {
					body: { email: uniqueEmail("limit"), password: "whatever-1" },
					headers: { "x-forwarded-for": randomIp() },
				})
			).status,
		).toBe(401);
	});
});

describe("auth with Redis unreachable", () => {
	let app: TestApp;
	beforeAll(async () => {
		app = await startTestApp({ services: ["auth"], env: { REDIS_URL: `redis://127.0.0.1:${await closedPort()}` } });
	});
	afterAll(async () => app?.stop());

	it("fails closed: an authenticated request answers 503, never 200 and never hangs", async () => {
		// Tokens are issued without Redis (broker call); checking them needs it.
		const user = await app.createUser("PATRON");
		const res = await app.request("GET", "/api/v1/auth/me", { token: user.token });
		expect(res.status).toBe(503);
		expect(res.body.error.code).toBe("SERVICE_UNAVAILABLE");
		expect(res.body.requestId).toBeTruthy();
		// The public verify action fails closed the same way.
		expect((await app.request("POST", "/api/v1/auth/verify", { body: { token: user.token } })).status).toBe(503);
	});
});
