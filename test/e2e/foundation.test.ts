import { startTestApp, uniqueEmail, type TestApp } from "../helpers/app";

describe("foundation: gateway + auth over HTTP", () => {
	let app: TestApp;
	beforeAll(async () => {
		app = await startTestApp({ services: ["auth"] });
	});
	afterAll(async () => app?.stop());

	it("serves /health publicly with a request id", async () => {
		const res = await app.request("GET", "/health");
		expect(res.status).toBe(200);
		expect(res.body.status).toBe("ok");
		expect(res.headers.get("x-request-id")).toBeTruthy();
	});

	it("registers, logs in and reads /me under all path families", async () => {
		const email = uniqueEmail();
		const reg = await app.request("POST", "/api/v1/auth/register", { body: { email, password: "s3cret-pass", name: "Pat" } });
		expect(reg.status).toBe(201);
		expect(reg.body.user.role).toBe("PATRON");
		expect(reg.body.user.passwordHash).toBeUndefined();
		for (const path of ["/api/v1/auth/me", "/api/auth/me", "/auth/me"]) {
			const me = await app.request("GET", path, { token: reg.body.accessToken });
			expect(me.status).toBe(200);
			expect(me.body.email).toBe(email);
		}
	});

	it("answers errors in one shape", async () => {
		const missing = await app.request("POST", "/api/v1/auth/register", { body: { email: "nope" } });
		expect(missing.status).toBe(422);
		expect(missing.body.error.code).toBe("VALIDATION_ERROR");
		expect(missing.body.error.details.map((d: { field: string }) => d.field)).toEqual(
			expect.arrayContaining(["email", "password", "name"]),
		);
		expect(missing.body.requestId).toBeTruthy();
		const noToken = await app.request("GET", "/api/v1/auth/me");
		expect(noToken.status).toBe(401);
		expect(noToken.body.error.code).toBe("UNAUTHORIZED");
		const patron = await app.createUser("PATRON");
		const forbidden = await app.request("GET", "/api/v1/auth/users", { token: patron.token });
		expect(forbidden.status).toBe(403);
		const unknown = await app.request("GET", "/api/v1/nothing-here");
		expect(unknown.status).toBe(404);
		expect(unknown.body.error.code).toBe("NOT_FOUND");
	});

	it("audits sign-ins, failed ones included, with the user as target", async () => {
		const user = await app.createUser("CLERK");
		const bad = await app.request("POST", "/api/v1/auth/login", { body: { email: user.email, password: "wrong-password" } });
		expect(bad.status).toBe(401);
		const good = await app.request("POST", "/api/v1/auth/login", { body: { email: user.email, password: user.password } });
		expect(good.status).toBe(200);
		const [rows] = await app.broker
			.getLocalService("auth")!
			.db.query(
				"SELECT outcome, error_code, request_id FROM auth.audit_log WHERE action = 'auth.login' AND target = :id ORDER BY id",
				{ replacements: { id: user.id } },
			);
		// createUser's own login (a broker call) is audited too; the two over HTTP carry their request ids.
		expect(rows.slice(-2)).toEqual([
			{ outcome: "FAILURE", error_code: "INVALID_CREDENTIALS", request_id: bad.headers.get("x-request-id") },
			{ outcome: "SUCCESS", error_code: null, request_id: good.headers.get("x-request-id") },
		]);
	});

	it("serves an OpenAPI document covering the auth routes", async () => {
		const res = await app.request("GET", "/api/v1/openapi.json");
		expect(res.status).toBe(200);
		expect(res.body.paths["/api/v1/auth/login"].post).toBeDefined();
		expect(res.body.paths["/api/v1/auth/users/{userId}/role"].put.security).toBeDefined();
	});
});
