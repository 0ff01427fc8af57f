/**
 * The auth routes end to end through the gateway: every route under the three
 * path families, registration/login rules, lockout, the ADMIN user routes,
 * profile, change-password, verify, and each bad input's answer.
 */
import type { Context } from "moleculer";
import { startTestApp, uniqueEmail, type TestApp, type TestUser } from "../helpers/app";
import { sqlQuery } from "../integration/auth/helpers";
import type { EventEnvelope, EventName } from "../../lib/events";

const ROLE_CHANGED: EventName = "USER_ROLE_CHANGED";
const PASSWORD = "s3cret-pass!";

describe("auth routes through the gateway", () => {
	let app: TestApp;
	let admin: TestUser;
	const roleEvents: EventEnvelope<"USER_ROLE_CHANGED">[] = [];

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth"] });
		admin = await app.createUser("ADMIN");
		await app.broker.createService({
			name: "role-listener",
			events: {
				[ROLE_CHANGED](ctx: Context<EventEnvelope<"USER_ROLE_CHANGED">>) {
					roleEvents.push(ctx.params);
				},
			},
		});
		await app.broker.waitForServices(["role-listener"]);
	});
	afterAll(async () => app?.stop());

	const register = (body: Record<string, unknown>, prefix = "/api/v1/auth") => app.request("POST", `${prefix}/register`, { body });

	describe.each(["/api/v1/auth", "/api/auth", "/auth"])("all 14 routes under %s", (prefix) => {
		it("each route reaches its action and answers as documented", async () => {
			const email = uniqueEmail("family");
			const reg = await register({ email, password: PASSWORD, name: "Fam" }, prefix);
			expect(reg.status).toBe(201);
			expect(reg.headers.get("location")).toBe("/api/v1/auth/me");
			expect(reg.body).toMatchObject({ tokenType: "Bearer", expiresIn: expect.any(Number), user: { email, role: "PATRON" } });

			const login = await app.request("POST", `${prefix}/login`, { body: { email, password: PASSWORD } });
			expect(login.status).toBe(200);
			const token = login.body.accessToken as string;

			expect((await app.request("GET", `${prefix}/me`, { token })).body.email).toBe(email);
			const verify = await app.request("POST", `${prefix}/verify`, { body: { token } });
			expect(verify.status).toBe(200);
			expect(verify.body).toMatchObject({ valid: true, userId: reg.body.user.id, role: "PATRON" });

			const profile = await app.request("PUT", `${prefix}/profile`, { token, body: { name: "Renamed" } });
			expect(profile.status).toBe(200);
			expect(profile.body.name).toBe("Renamed");

			const refreshed = await app.request("POST", `${prefix}/refresh`, { body: { refreshToken: login.body.refreshToken } });
			expect(refreshed.status).toBe(200);

			const changed = await app.request("PUT", `${prefix}/change-password`, {
				token: refreshed.body.accessToken,
				body: { currentPassword: PASSWORD, newPassword: "an0ther-pass" },
			});
			expect(changed.status).toBe(200);

			const forgot = await app.request("POST", `${prefix}/forgot-password`, { body: { email } });
			expect(forgot.status).toBe(202);
			const reset = await app.request("POST", `${prefix}/reset-password`, {
				body: { token: "x".repeat(43), password: "whatever-123" },
			});
			expect(reset.status).toBe(401);
			expect(reset.body.error.code).toBe("INVALID_RESET_TOKEN");
			// GOOGLE_CLIENT_ID is not set in this app: the action answers that sign-in is disabled.
			const google = await app.request("POST", `${prefix}/google`, { body: { idToken: "x".repeat(40) } });
			expect(google.status).toBe(503);

			const users = await app.request("GET", `${prefix}/users?email=${encodeURIComponent(email)}`, { token: admin.token });
			expect(users.status).toBe(200);
			expect(users.body.rows.map((u: { id: string }) => u.id)).toEqual([reg.body.user.id]);
			const role = await app.request("PUT", `${prefix}/users/${reg.body.user.id}/role`, {
				token: admin.token,
				body: { role: "CLERK" },
			});
			expect(role.status).toBe(200);
			expect(role.body.role).toBe("CLERK");

			const fresh = await app.request("POST", `${prefix}/login`, { body: { email, password: "an0ther-pass" } });
			expect(fresh.status).toBe(200);
			const logout = await app.request("POST", `${prefix}/logout`, { token: fresh.body.accessToken });
			expect(logout.status).toBe(204);

			const del = await app.request("DELETE", `${prefix}/users/${reg.body.user.id}`, { token: admin.token });
			expect(del.status).toBe(204);
		});
	});

	describe("register and login", () => {
		it("always creates a PATRON: a role in the body is ignored", async () => {
			const email = uniqueEmail("sneaky");
			const res = await register({ email, password: PASSWORD, name: "Sneaky", role: "ADMIN" });
			expect(res.status).toBe(201);
			expect(res.body.user.role).toBe("PATRON");
			const [row] = await sqlQuery<{ role: string }>(app.db.url, "SELECT role FROM auth.users WHERE email = $1", [email]);
			expect(row.role).toBe("PATRON");
			expect(res.body.user.passwordHash).toBeUndefined();
		});

		it("stores an Argon2id hash, never the password", async () => {
			const email = uniqueEmail("hash");
			await register({ email, password: PASSWORD, name: "H" });
			const [row] = await sqlQuery<{ password_hash: string }>(app.db.url, "SELECT password_hash FROM auth.users WHERE email = $1", [
				email,
			]);
			expect(row.password_hash).toMatch(/^\$argon2id\$/);
		});

		it("answers the same for an unknown email and a wrong password", async () => {
			const user = await app.createUser("PATRON");
			const wrong = await app.request("POST", "/api/v1/auth/login", { body: { email: user.email, password: "wrong-password" } });
			const unknown = await app.request("POST", "/api/v1/auth/login", {
				body: { email: uniqueEmail("nobody"), password: "wrong-password" },
			});
			expect(wrong.status).toBe(401);
			expect(unknown.status).toBe(401);
			expect(unknown.body.error).toEqual(wrong.body.error);
		});

		it("locks an account after repeated failures (429 with Retry-After, even with the right password)", async () => {
			const user = await app.createUser("PATRON");
			for (let i = 0; i < 5; i++) {
				const res = await app.request("POST", "/api/v1/auth/login", {
					body: { email: user.email, password: `wrong-${i}-password` },
				});
				expect(res.status).toBe(401);
			}
			const locked = await app.request("POST", "/api/v1/auth/login", { body: { email: user.email, password: user.password } });
			expect(locked.status).toBe(429);
			expect(locked.body.error.code).toBe("ACCOUNT_LOCKED");
			expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
			const [row] = await sqlQuery<{ failed_logins: number; locked_until: Date | null }>(
				app.db.url,
				"SELECT failed_logins, locked_until FROM auth.users WHERE id = $1",
				[user.id],
			);
			expect(row.failed_logins).toBe(5);
			expect(row.locked_until!.getTime()).toBeGreaterThan(Date.now());
			// Once the lock has passed, the right password works again and resets the counter.
			await sqlQuery(app.db.url, "UPDATE auth.users SET locked_until = now() - interval '1 second' WHERE id = $1", [user.id]);
			const ok = await app.request("POST", "/api/v1/auth/login", { body: { email: user.email, password: user.password } });
			expect(ok.status).toBe(200);
			const [after] = await sqlQuery<{ failed_logins: number }>(app.db.url, "SELECT failed_logins FROM auth.users WHERE id = $1", [
				user.id,
			]);
			expect(after.failed_logins).toBe(0);
		});
	});

	describe("lockout does not tell accounts apart and holds under concurrency", () => {
		it("an unknown email goes through the very same lockout as a known one", async () => {
			const user = await app.createUser("PATRON");
			const ghost = uniqueEmail("ghost");
			const attempt = async (email: string) => {
				const res = await app.request("POST", "/api/v1/auth/login", { body: { email, password: "wrong-password" } });
				return `${res.status} ${res.body.error.code} ${res.headers.get("retry-after") ? "retry" : "-"}`;
			};
			const known: string[] = [];
			const unknown: string[] = [];
			for (let i = 0; i < 7; i++) {
				known.push(await attempt(user.email));
				unknown.push(await attempt(ghost));
			}
			expect(known.slice(5)).toEqual(["429 ACCOUNT_LOCKED retry", "429 ACCOUNT_LOCKED retry"]);
			expect(unknown).toEqual(known);
		});

		it("counts every failure of a burst of parallel guesses", async () => {
			const user = await app.createUser("PATRON");
			const burst = await Promise.all(
				Array.from({ length: 8 }, (_, i) =>
					app.request("POST", "/api/v1/auth/login", { body: { email: user.email, password: `parallel-guess-${i}` } }),
				),
			);
			expect(burst.every((r) => r.status === 401 || r.status === 429)).toBe(true);
			const [row] = await sqlQuery<{ failed_logins: number; locked_until: Date | null }>(
				app.db.url,
				"SELECT failed_logins, locked_until FROM auth.users WHERE id = $1",
				[user.id],
			);
			expect(row.failed_logins).toBe(burst.filter((r) => r.status === 401).length);
			expect(row.failed_logins).toBeGreaterThanOrEqual(5);
			expect(row.locked_until!.getTime()).toBeGreaterThan(Date.now());
			expect((await app.request("POST", "/api/v1/auth/login", { body: { email: user.email, password: user.password } })).status).toBe(
				429,
			);
		});
	});

	describe("bad input", () => {
		it("missing field, bad email, short password, password equal to the email: 422 naming the field", async () => {
			const cases: [Record<string, unknown>, string][] = [
				[{ password: PASSWORD, name: "N" }, "email"],
				[{ email: "not-an-email", password: PASSWORD, name: "N" }, "email"],
				[{ email: uniqueEmail(), password: "short", name: "N" }, "password"],
				[{ email: uniqueEmail(), password: PASSWORD }, "name"],
			];
			for (const [body, field] of cases) {
				const res = await register(body);
				expect({ status: res.status, code: res.body.error.code }).toEqual({ status: 422, code: "VALIDATION_ERROR" });
				expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
				expect(res.body.requestId).toBeTruthy();
			}
			const email = uniqueEmail("same");
			const same = await register({ email, password: email, name: "N" });
			expect(same.status).toBe(422);
			expect(same.body.error.details[0]).toMatchObject({ field: "password", type: "passwordPolicy" });
		});

		it("duplicate email: 409 (case-insensitively)", async () => {
			const email = uniqueEmail("dup");
			expect((await register({ email, password: PASSWORD, name: "A" })).status).toBe(201);
			const again = await register({ email: email.toUpperCase(), password: PASSWORD, name: "B" });
			expect(again.status).toBe(409);
			expect(again.body.error.code).toBe("EMAIL_TAKEN");
		});

		it("no token 401, garbage token 401, wrong role 403", async () => {
			const none = await app.request("GET", "/api/v1/auth/me");
			expect(none.status).toBe(401);
			expect(none.body.error.code).toBe("UNAUTHORIZED");
			const patron = await app.createUser("PATRON");
			const forbidden = await app.request("GET", "/api/v1/auth/users", { token: patron.token });
			expect(forbidden.status).toBe(403);
			expect(forbidden.body.error.code).toBe("FORBIDDEN");
		});

		it("oversized body (> 1 MB JSON): 413", async () => {
			const res = await register({ email: uniqueEmail(), password: PASSWORD, name: "x".repeat(1024 * 1024 + 10) });
			expect(res.status).toBe(413);
			expect(res.body.error.code).toBe("PAYLOAD_TOO_LARGE");
			expect(res.body.requestId).toBeTruthy();
		});

		it("malformed JSON: 400", async () => {
			const res = await app.request("POST", "/api/v1/auth/login", { body: '{"email": "a@b.c", "password": ' });
			expect(res.status).toBe(400);
			expect(res.body.error.code).toBe("INVALID_JSON");
			expect(res.body.requestId).toBeTruthy();
		});
	});

	describe("ADMIN user management", () => {
		it("lists users paginated, filtered by role and email; unknown sort is 422; others get 403", async () => {
			const clerks = [await app.createUser("CLERK"), await app.createUser("CLERK"), await app.createUser("CLERK")];
			const page1 = await app.request("GET", "/api/v1/auth/users?role=CLERK&pageSize=2&sort=email", { token: admin.token });
			expect(page1.status).toBe(200);
			expect(page1.body).toMatchObject({ page: 1, pageSize: 2 });
			expect(page1.body.total).toBeGreaterThanOrEqual(3);
			expect(page1.body.totalPages).toBe(Math.ceil(page1.body.total / 2));
			expect(page1.body.rows).toHaveLength(2);
			expect(page1.body.rows.every((u: { role: string }) => u.role === "CLERK")).toBe(true);
			const page2 = await app.request("GET", "/api/v1/auth/users?role=CLERK&pageSize=2&page=2&sort=email", { token: admin.token });
			expect(page2.body.rows[0].email > page1.body.rows[1].email).toBe(true);
			for (const u of page1.body.rows) expect(u.passwordHash).toBeUndefined();

			const byEmail = await app.request("GET", `/api/v1/auth/users?email=${encodeURIComponent(clerks[1].email.split("@")[0])}`, {
				token: admin.token,
			});
			expect(byEmail.body.rows.map((u: { id: string }) => u.id)).toEqual([clerks[1].id]);
			// LIKE wildcards in the filter are literal.
			const wildcard = await app.request("GET", "/api/v1/auth/users?email=%25", { token: admin.token });
			expect(wildcard.body.total).toBe(0);

			const badSort = await app.request("GET", "/api/v1/auth/users?sort=passwordHash", { token: admin.token });
			expect(badSort.status).toBe(422);
			expect(badSort.body.error.details[0].field).toBe("sort");
			expect((await app.request("GET", "/api/v1/auth/users?pageSize=1000", { token: admin.token })).status).toBe(422);
			expect((await app.request("GET", "/api/v1/auth/users", { token: clerks[0].token })).status).toBe(403);
		});

		it("changes a role: 403 for non-admins, 404 for an unknown user, 422 for a bad role; emits USER_ROLE_CHANGED with an outbox row", async () => {
			const target = await app.createUser("PATRON");
			const exec = await app.createUser("EXECUTIVE");
			expect(
				(await app.request("PUT", `/api/v1/auth/users/${target.id}/role`, { token: exec.token, body: { role: "ADMIN" } })).status,
			).toBe(403);
			const unknown = await app.request("PUT", "/api/v1/auth/users/00000000-0000-4000-8000-000000000000/role", {
				token: admin.token,
				body: { role: "CLERK" },
			});
			expect(unknown.status).toBe(404);
			expect(unknown.body.error.code).toBe("NOT_FOUND");
			expect(
				(await app.request("PUT", `/api/v1/auth/users/${target.id}/role`, { token: admin.token, body: { role: "KING" } })).status,
			).toBe(422);
			expect(
				(await app.request("PUT", "/api/v1/auth/users/not-a-uuid/role", { token: admin.token, body: { role: "CLERK" } })).status,
			).toBe(422);

			const res = await app.request("PUT", `/api/v1/auth/users/${target.id}/role`, {
				token: admin.token,
				body: { role: "MANUFACTURER" },
				headers: { "x-request-id": "role-change-req-1" },
			});
			expect(res.status).toBe(200);
			expect(res.body.role).toBe("MANUFACTURER");

			const deadline = Date.now() + 3000;
			while (!roleEvents.some((e) => e.data.userId === target.id) && Date.now() < deadline)
				await new Promise((r) => setTimeout(r, 20));
			const event = roleEvents.find((e) => e.data.userId === target.id);
			expect(event).toMatchObject({
				id: expect.stringMatching(/^[0-9a-f-]{36}$/),
				type: ROLE_CHANGED,
				source: "auth",
				requestId: "role-change-req-1",
				occurredAt: expect.any(String),
				data: { userId: target.id, previousRole: "PATRON", role: "MANUFACTURER", changedBy: admin.id },
			});
			const rows = await sqlQuery<{ id: string; type: string; topic: string; envelope: unknown }>(
				app.db.url,
				"SELECT id, type, topic, envelope FROM auth.outbox WHERE aggregate_id = $1 AND type = $2",
				[target.id, ROLE_CHANGED],
			);
			expect(rows).toHaveLength(1);
			expect(rows[0]).toMatchObject({ id: event!.id, topic: "user-role-changed", envelope: event });

			// The target's older token carries the old role: refused; a fresh login carries the new one.
			expect((await app.request("GET", "/api/v1/auth/me", { token: target.token })).status).toBe(401);
			expect((await app.request("POST", "/api/v1/auth/refresh", { body: { refreshToken: target.refreshToken } })).status).toBe(401);
			const login = await app.request("POST", "/api/v1/auth/login", { body: { email: target.email, password: target.password } });
			expect(login.body.user.role).toBe("MANUFACTURER");
			expect((await app.request("GET", "/api/v1/auth/me", { token: login.body.accessToken })).status).toBe(200);
		});

		it("soft-deletes a user: 403 for others, they can't log in, the row stays", async () => {
			const target = await app.createUser("PATRON");
			expect((await app.request("DELETE", `/api/v1/auth/users/${target.id}`, { token: target.token })).status).toBe(403);
			expect((await app.request("DELETE", `/api/v1/auth/users/${target.id}`, { token: admin.token })).status).toBe(204);
			const login = await app.request("POST", "/api/v1/auth/login", { body: { email: target.email, password: target.password } });
			expect(login.status).toBe(401);
			expect(login.body.error.code).toBe("INVALID_CREDENTIALS");
			expect((await app.request("GET", "/api/v1/auth/me", { token: target.token })).status).toBe(401);
			expect((await app.request("POST", "/api/v1/auth/refresh", { body: { refreshToken: target.refreshToken } })).status).toBe(401);
			const rows = await sqlQuery<{ deleted_at: Date | null; email: string }>(
				app.db.url,
				"SELECT deleted_at, email FROM auth.users WHERE id = $1",
				[target.id],
			);
			expect(rows).toHaveLength(1);
			expect(rows[0].deleted_at).toBeInstanceOf(Date);
			expect((await app.request("DELETE", `/api/v1/auth/users/${target.id}`, { token: admin.token })).status).toBe(404);
			const list = await app.request("GET", `/api/v1/auth/users?email=${encodeURIComponent(target.email)}`, { token: admin.token });
			expect(list.body.total).toBe(0);
		});
	});

	describe("own account", () => {
		it("updates the profile (name, phone, preferences); role and email in the body are ignored", async () => {
			const user = await app.createUser("PATRON");
			const res = await app.request("PUT", "/api/v1/auth/profile", {
				token: user.token,
				body: {
					name: "New Name",
					phone: "+49 30 1234567",
					preferences: { flavors: ["pistachio"] },
					role: "ADMIN",
					email: "x@y.zz",
				},
			});
			expect(res.status).toBe(200);
			expect(res.body).toMatchObject({
				name: "New Name",
				phone: "+49 30 1234567",
				preferences: { flavors: ["pistachio"] },
				role: "PATRON",
				email: user.email,
			});
			const me = await app.request("GET", "/api/v1/auth/me", { token: user.token });
			expect(me.body).toMatchObject({ name: "New Name", preferences: { flavors: ["pistachio"] } });
			expect((await app.request("PUT", "/api/v1/auth/profile", { token: user.token, body: { phone: "call me" } })).status).toBe(422);
			expect((await app.request("PUT", "/api/v1/auth/profile", { body: { name: "x" } })).status).toBe(401);
		});

		it("changes the password: wrong current 422, policy 422, then older tokens die and new ones work", async () => {
			const user = await app.createUser("PATRON");
			const wrong = await app.request("PUT", "/api/v1/auth/change-password", {
				token: user.token,
				body: { currentPassword: "nope-nope", newPassword: "brand-new-pass" },
			});
			expect(wrong.status).toBe(422);
			expect(wrong.body.error.details[0].field).toBe("currentPassword");
			const policy = await app.request("PUT", "/api/v1/auth/change-password", {
				token: user.token,
				body: { currentPassword: user.password, newPassword: user.email },
			});
			expect(policy.status).toBe(422);
			expect(
				(
					await app.request("PUT", "/api/v1/auth/change-password", {
						token: user.token,
						body: { currentPassword: user.password, newPassword: "short" },
					})
				).status,
			).toBe(422);

			const ok = await app.request("PUT", "/api/v1/auth/change-password", {
				token: user.token,
				body: { currentPassword: user.password, newPassword: "brand-new-pass" },
			});
			expect(ok.status).toBe(200);
			expect(ok.body.accessToken).toBeTruthy();
			expect((await app.request("GET", "/api/v1/auth/me", { token: user.token })).status).toBe(401);
			expect((await app.request("POST", "/api/v1/auth/refresh", { body: { refreshToken: user.refreshToken } })).status).toBe(401);
			expect((await app.request("GET", "/api/v1/auth/me", { token: ok.body.accessToken })).status).toBe(200);
			const refreshed = await app.request("POST", "/api/v1/auth/refresh", { body: { refreshToken: ok.body.refreshToken } });
			expect(refreshed.status).toBe(200);
			expect((await app.request("POST", "/api/v1/auth/login", { body: { email: user.email, password: user.password } })).status).toBe(
				401,
			);
			expect(
				(await app.request("POST", "/api/v1/auth/login", { body: { email: user.email, password: "brand-new-pass" } })).status,
			).toBe(200);
		});

		it("verify answers 200 for a valid token and 401 for a bad one", async () => {
			const user = await app.createUser("CLERK");
			const ok = await app.request("POST", "/api/v1/auth/verify", { body: { token: user.token } });
			expect(ok.body).toMatchObject({ valid: true, userId: user.id, role: "CLERK", expiresAt: expect.any(String) });
			const bad = await app.request("POST", "/api/v1/auth/verify", { body: { token: "not.a.valid-token" } });
			expect(bad.status).toBe(401);
			expect(bad.body.error.code).toBe("INVALID_TOKEN");
		});
	});
});
