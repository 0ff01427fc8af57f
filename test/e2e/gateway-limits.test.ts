/**
 * Rate limits and the client address: the strict credential limit per client IP
 * (429 + Retry-After), the general limit per user when signed in, and
 * X-Forwarded-For honoured only when TRUST_PROXY says a proxy sets it.
 */
import { startTestApp, uniqueEmail, type TestApp } from "../helpers/app";
import { randomIp, sqlQuery } from "../integration/auth/helpers";

const badLogin = (app: TestApp, xff?: string) =>
	app.request("POST", "/api/v1/auth/login", {
		body: { email: uniqueEmail("limit"), password: "wrong-password" },
		headers: xff ? { "x-forwarded-for": xff } : {},
	});

describe("rate limits with TRUST_PROXY=0 (X-Forwarded-For ignored)", () => {
	let app: TestApp;
	beforeAll(async () => {
		app = await startTestApp({
			services: ["auth"],
			env: { RATE_LIMIT_AUTH_PER_MIN: "3", RATE_LIMIT_PER_MIN: "1000", TRUST_PROXY: "0" },
		});
	});
	afterAll(async () => app?.stop());

	it("spends the credential limit per socket address whatever X-Forwarded-For says; 429 with Retry-After", async () => {
		for (let i = 0; i < 3; i++) expect((await badLogin(app, randomIp())).status).toBe(401);
		const limited = await badLogin(app, randomIp());
		expect(limited.status).toBe(429);
		expect(limited.body.error.code).toBe("RATE_LIMITED");
		expect(limited.body.error.details.retryAfter).toBeGreaterThan(0);
		const retryAfter = Number(limited.headers.get("retry-after"));
		expect(retryAfter).toBeGreaterThan(0);
		expect(retryAfter).toBeLessThanOrEqual(60);
		expect(limited.body.requestId).toBeTruthy();
		// Register and forgot-password share the strict budget; other routes don't.
		expect(
			(await app.request("POST", "/api/v1/auth/register", { body: { email: uniqueEmail(), password: "long-enough-1", name: "R" } }))
				.status,
		).toBe(429);
		expect((await app.request("POST", "/api/v1/auth/forgot-password", { body: { email: uniqueEmail() } })).status).toBe(429);
		const user = await app.createUser("PATRON");
		expect((await app.request("GET", "/api/v1/auth/me", { token: user.token })).status).toBe(200);
	});

	it("records the socket address, not the forwarded one, on the session", async () => {
		const user = await app.createUser("PATRON");
		const res = await app.request("POST", "/api/v1/auth/refresh", {
			body: { refreshToken: user.refreshToken },
			headers: { "x-forwarded-for": "203.0.113.9" },
		});
		expect(res.status).toBe(200);
		const rows = await sqlQuery<{ ip_address: string }>(
			app.db.url,
			"SELECT ip_address FROM auth.user_sessions WHERE user_id = $1 AND ip_address IS NOT NULL",
			[user.id],
		);
		expect(rows.map((r) => r.ip_address)).toEqual([expect.stringMatching(/127\.0\.0\.1$/)]);
	});
});

describe("rate limits with TRUST_PROXY=1 (one proxy sets X-Forwarded-For)", () => {
	let app: TestApp;
	beforeAll(async () => {
		app = await startTestApp({ services: ["auth"], env: { RATE_LIMIT_AUTH_PER_MIN: "3", RATE_LIMIT_PER_MIN: "5", TRUST_PROXY: "1" } });
	});
	afterAll(async () => app?.stop());

	it("keys the credential limit by the forwarded client address", async () => {
		const ip = randomIp();
		for (let i = 0; i < 3; i++) expect((await badLogin(app, ip)).status).toBe(401);
		expect((await badLogin(app, ip)).status).toBe(429);
		// Another client behind the same proxy has its own budget...
		expect((await badLogin(app, randomIp())).status).toBe(401);
		// ...and a client can't dodge the limit by prepending a spoofed address: only the proxy's entry counts.
		expect((await badLogin(app, `198.51.100.77, ${ip}`)).status).toBe(429);
	});

	it("records the forwarded address on the session", async () => {
		const user = await app.createUser("PATRON");
		const ip = randomIp();
		expect(
			(
				await app.request("POST", "/api/v1/auth/refresh", {
					body: { refreshToken: user.refreshToken },
					headers: { "x-forwarded-for": ip },
				})
			).status,
		).toBe(200);
		const rows = await sqlQuery<{ ip_address: string }>(
			app.db.url,
			"SELECT ip_address FROM auth.user_sessions WHERE user_id = $1 AND ip_address IS NOT NULL",
			[user.id],
		);
		expect(rows.map((r) => r.ip_address)).toEqual([ip]);
	});

	it("keys the general limit per user when signed in (two users behind one address don't share it)", async () => {
		const ip = randomIp();
		const [alice, bob] = [await app.createUser("PATRON"), await app.createUser("PATRON")];
		const me = (token: string) => app.request("GET", "/api/v1/auth/me", { token, headers: { "x-forwarded-for": ip } });
		for (let i = 0; i < 5; i++) expect((await me(alice.token)).status).toBe(200);
		const limited = await me(alice.token);
		expect(limited.status).toBe(429);
		expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
		expect((await me(bob.token)).status).toBe(200);
	});
});
