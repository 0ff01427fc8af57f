/**
 * Token attacks and the token lifecycle through the gateway: forged, expired,
 * mis-addressed and mis-typed tokens are 401 in the one error shape; refresh
 * rotates, a replayed refresh token kills its family; logout kills the access token.
 */
import jwt from "jsonwebtoken";
import { Client } from "pg";
import { startTestApp, uniqueEmail, type TestApp, type TestUser } from "../helpers/app";
import { b64url, jwtPayload, sqlQuery } from "../integration/auth/helpers";

describe("auth tokens", () => {
	let app: TestApp;
	let user: TestUser;
	let secret: string;

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth"] });
		secret = app.config.jwt.secret;
		user = await app.createUser("PATRON");
	});
	afterAll(async () => app?.stop());

	const me = (token: string) => app.request("GET", "/api/v1/auth/me", { token });
	const claims = () => jwtPayload(user.token);
	const sign = (payload: object, key = secret, options: jwt.SignOptions = {}) =>
		jwt.sign(payload, key, { algorithm: "HS256", ...options });

	it("accepts the genuine token (control)", async () => {
		expect((await me(user.token)).status).toBe(200);
		// Re-signing the very same claims with the real secret is accepted: the checks below fail for their own reason.
		expect((await me(sign(claims()))).status).toBe(200);
	});

	it.each([
		["alg: none", () => `${b64url({ alg: "none", typ: "JWT" })}.${b64url(claims())}.`],
		["alg: none with a signature part", () => `${b64url({ alg: "none", typ: "JWT" })}.${b64url(claims())}.${user.token.split(".")[2]}`],
		["wrong signature", () => sign(claims(), "x".repeat(48))],
		["tampered payload", () => `${user.token.split(".")[0]}.${b64url({ ...claims(), role: "ADMIN" })}.${user.token.split(".")[2]}`],
		["expired", () => sign({ ...claims(), iat: Math.floor(Date.now() / 1000) - 3600, exp: Math.floor(Date.now() / 1000) - 60 })],
		["wrong aud", () => sign({ ...claims(), aud: "someone-else" })],
		["wrong iss", () => sign({ ...claims(), iss: "evil" })],
		["no typ (e.g. another JWT of ours)", () => sign({ ...claims(), typ: undefined })],
		["refresh-typed JWT", () => sign({ ...claims(), typ: "refresh" })],
		["unknown role", () => sign({ ...claims(), role: "GOD" })],
		["HS512", () => jwt.sign(claims(), secret, { algorithm: "HS512" })],
		["garbage", () => "garbage"],
		["three garbage parts", () => "aaa.bbb.ccc"],
	])("rejects %s with 401 in the one error shape", async (_name, make) => {
		const res = await me(make());
		expect(res.status).toBe(401);
		expect(Object.keys(res.body).sort()).toEqual(["error", "requestId"]);
		expect(res.body.error.code).toMatch(/^(INVALID_TOKEN|TOKEN_EXPIRED)$/);
		expect(typeof res.body.error.message).toBe("string");
		expect(res.body.requestId).toBe(res.headers.get("x-request-id"));
	});

	it("rejects the refresh token presented as an access token, and a malformed Authorization header", async () => {
		const res = await me(user.refreshToken);
		expect(res.status).toBe(401);
		expect(res.body.error.code).toBe("INVALID_TOKEN");
		const basic = await app.request("GET", "/api/v1/auth/me", { headers: { authorization: "Basic dXNlcjpwYXNz" } });
		expect(basic.status).toBe(401);
	});

	it("rejects an access token presented as a refresh token", async () => {
		const res = await app.request("POST", "/api/v1/auth/refresh", { body: { refreshToken: user.token } });
		expect(res.status).toBe(401);
		expect(res.body.error.code).toBe("INVALID_REFRESH_TOKEN");
	});

	it("rotates refresh tokens; replaying a spent one revokes the whole family", async () => {
		const email = uniqueEmail("rotate");
		const reg = await app.request("POST", "/api/v1/auth/register", { body: { email, password: "rotate-me-1", name: "R" } });
		const first = reg.body.refreshToken as string;
		const r1 = await app.request("POST", "/api/v1/auth/refresh", { body: { refreshToken: first } });
		expect(r1.status).toBe(200);
		expect(r1.body.refreshToken).not.toBe(first);
		expect(r1.body.user.email).toBe(email);
		const r2 = await app.request("POST", "/api/v1/auth/refresh", { body: { refreshToken: r1.body.refreshToken } });
		expect(r2.status).toBe(200);

		// Another login is another family: it must survive the replay below.
		const other = await app.request("POST", "/api/v1/auth/login", { body: { email, password: "rotate-me-1" } });

		const replay = await app.request("POST", "/api/v1/auth/refresh", { body: { refreshToken: first } });
		expect(replay.status).toBe(401);
		expect(replay.body.error.code).toBe("REFRESH_TOKEN_REUSED");
		// The newest token of the family stops working too.
		const newest = await app.request("POST", "/api/v1/auth/refresh", { body: { refreshToken: r2.body.refreshToken } });
		expect(newest.status).toBe(401);
		// So do the access tokens of that login (the thief's included).
		expect((await me(r2.body.accessToken)).status).toBe(401);
		expect((await me(reg.body.accessToken)).status).toBe(401);
		expect((await me(other.body.accessToken)).status).toBe(200);
		expect((await app.request("POST", "/api/v1/auth/refresh", { body: { refreshToken: other.body.refreshToken } })).status).toBe(200);

		// Stored hashed: the raw token is nowhere in the table.
		const rows = await sqlQuery<{ token_hash: string; revoked_at: Date | null; ip_address: string | null; user_agent: string | null }>(
			app.db.url,
			"SELECT s.token_hash, s.revoked_at, s.ip_address, s.user_agent FROM auth.user_sessions s JOIN auth.users u ON u.id = s.user_id WHERE u.email = $1",
			[email],
		);
		expect(rows.length).toBe(5);
		expect(rows.some((r) => r.token_hash === first)).toBe(false);
		expect(rows.filter((r) => r.revoked_at !== null)).toHaveLength(3);
		expect(rows.every((r) => r.ip_address && r.user_agent !== null)).toBe(true);
	});

	it("logout refuses the old access token and its refresh token; other sessions live on", async () => {
		const u = await app.createUser("PATRON");
		const second = await app.request("POST", "/api/v1/auth/login", { body: { email: u.email, password: u.password } });
		// An access token refreshed earlier in the same login dies with the logout too.
		const sibling = await app.request("POST", "/api/v1/auth/refresh", { body: { refreshToken: u.refreshToken } });
		expect(sibling.status).toBe(200);
		expect((await me(u.token)).status).toBe(200);
		expect((await app.request("POST", "/api/v1/auth/logout", { token: u.token })).status).toBe(204);
		const after = await me(u.token);
		expect(after.status).toBe(401);
		expect(after.body.error.code).toBe("TOKEN_REVOKED");
		expect((await app.request("POST", "/api/v1/auth/refresh", { body: { refreshToken: sibling.body.refreshToken } })).status).toBe(401);
		expect((await me(sibling.body.accessToken)).status).toBe(401);
		expect((await app.request("POST", "/api/v1/auth/verify", { body: { token: u.token } })).status).toBe(401);
		expect((await me(second.body.accessToken)).status).toBe(200);
		expect((await app.request("POST", "/api/v1/auth/logout")).status).toBe(401);
	});
	describe("a role change in flight while tokens are issued", () => {
		/** Changes the user's role in a transaction held open for a second, as a role change in progress holds the user's row. */
		async function roleChangeInFlight(userId: string, whileHeld: () => Promise<{ status: number; body: { accessToken?: string } }>) {
			const pg = new Client({ connectionString: app.db.url });
			await pg.connect();
			try {
				await pg.query("BEGIN");
				await pg.query("UPDATE auth.users SET role = 'PATRON' WHERE id = $1", [userId]);
				const answer = whileHeld();
				await new Promise((r) => setTimeout(r, 1000));
				await pg.query("COMMIT");
				return await answer;
			} finally {
				await pg.end();
			}
		}

		it("sign-in signs the role as it is once the change commits, not the one read before the password check", async () => {
			const u = await app.createUser("MANUFACTURER");
			const res = await roleChangeInFlight(u.id, () =>
				app.request("POST", "/api/v1/auth/login", { body: { email: u.email, password: u.password } }),
			);
			expect(res.status).toBe(200);
			expect(jwtPayload(res.body.accessToken!).role).toBe("PATRON");
		});

		it("refresh does too", async () => {
			const u = await app.createUser("MANUFACTURER");
			const res = await roleChangeInFlight(u.id, () =>
				app.request("POST", "/api/v1/auth/refresh", { body: { refreshToken: u.refreshToken } }),
			);
			expect(res.status).toBe(200);
			expect(jwtPayload(res.body.accessToken!).role).toBe("PATRON");
		});
	});
});
