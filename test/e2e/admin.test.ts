/**
 * Admin service over HTTP (docs/spec.md section 4): user management (delegated to auth:
 * deactivation blocks sign-in and kills tokens), cluster health and metrics, the
 * application log fed by the app-log middleware, the platform audit trail,
 * compliance report, configuration, maintenance windows and broadcasts (which
 * reach connected sockets). ADMIN only (EXECUTIVE may read /users/machines and
 * /compliance/report): 401 anonymous, 403 other roles, 422 bad input, 404 unknown ids.
 */
import { randomUUID } from "node:crypto";
import { startTestApp, type TestApp, type TestUser } from "../helpers/app";
import { connectSocket, sleep, type TestSocket } from "../helpers/sockets";

const A = "/api/v1/admin";

describe("admin over HTTP", () => {
	let app: TestApp;
	let admin: TestUser, exec: TestUser, clerk: TestUser, patron: TestUser;
	const sockets: TestSocket[] = [];

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "admin", "communications"] });
		[admin, exec, clerk, patron] = await Promise.all([
			app.createUser("ADMIN"),
			app.createUser("EXECUTIVE"),
			app.createUser("CLERK"),
			app.createUser("PATRON"),
		]);
	});
	afterAll(async () => {
		for (const s of sockets) s.close();
		await app?.stop();
	});

	const ROUTES: [string, string, unknown?][] = [
		["GET", "/users"],
		["PUT", `/users/${randomUUID()}/role`, { role: "CLERK" }],
		["PUT", `/users/${randomUUID()}/status`, { status: "INACTIVE" }],
		["DELETE", `/users/${randomUUID()}`],
		["GET", "/system/health"],
		["GET", "/system/metrics"],
		["GET", "/system/logs"],
		["POST", "/system/logs/clear", { before: new Date().toISOString() }],
		["GET", "/system/dead-letters"],
		["POST", "/system/dead-letters/communications/1/replay"],
		["GET", "/audit-logs"],
		["POST", "/audit-logs/search", {}],
		["GET", "/config"],
		["PUT", "/config", { siteName: "X" }],
		["GET", "/config/themes"],
		[
			"POST",
			"/config/maintenance",
			{ startsAt: new Date().toISOString(), endsAt: new Date(Date.now() + 3600_000).toISOString(), message: "m" },
		],
		["POST", "/broadcasts", { title: "t", message: "m" }],
		["GET", "/broadcasts"],
		["PUT", `/broadcasts/${randomUUID()}/status`, { status: "SENT" }],
	];

	it("every route: 401 anonymous, 403 for CLERK and PATRON, 403 for EXECUTIVE except the two reports", async () => {
		const routes: [string, string, unknown?][] = [...ROUTES, ["GET", "/users/machines"], ["GET", "/compliance/report"]];
		for (const [method, path, body] of routes) {
			expect([method, path, (await app.request(method, `${A}${path}`, { body })).status]).toEqual([method, path, 401]);
			for (const u of [clerk, patron])
				expect([method, path, u.role, (await app.request(method, `${A}${path}`, { body, token: u.token })).status]).toEqual([
					method,
					path,
					u.role,
					403,
				]);
		}
		for (const [method, path, body] of ROUTES)
			expect([method, path, (await app.request(method, `${A}${path}`, { body, token: exec.token })).status]).toEqual([
				method,
				path,
				403,
			]);
		expect((await app.request("GET", `${A}/users/machines`, { token: exec.token })).status).toBe(200);
		expect((await app.request("GET", `${A}/compliance/report`, { token: exec.token })).status).toBe(200);
	});

	it("is published in the OpenAPI document and under /api/admin", async () => {
		const doc = await app.request("GET", "/api/v1/openapi.json");
		for (const p of [
			"/users",
			"/users/{userId}/role",
			"/users/{userId}/status",
			"/users/machines",
			"/system/health",
			"/system/logs/clear",
			"/system/dead-letters",
			"/system/dead-letters/{schema}/{id}/replay",
			"/audit-logs/search",
			"/compliance/report",
			"/config/maintenance",
			"/broadcasts/{id}/status",
		]) {
			expect(Object.keys(doc.body.paths)).toContain(`/api/v1/admin${p}`);
		}
		expect((await app.request("GET", "/api/admin/config/themes", { token: admin.token })).status).toBe(200);
	});

	describe("users", () => {
		it("lists users paginated and filtered; 422 on a bad sort or page size", async () => {
			const res = await app.request("GET", `${A}/users?role=CLERK&pageSize=5`, { token: admin.token });
			expect(res.status).toBe(200);
			expect(res.body).toMatchObject({ page: 1, pageSize: 5 });
			expect(res.body.rows.map((u: { id: string }) => u.id)).toContain(clerk.id);
			expect(
				res.body.rows.every((u: { role: string; passwordHash?: string }) => u.role === "CLERK" && u.passwordHash === undefined),
			).toBe(true);
			expect((await app.request("GET", `${A}/users?sort=password`, { token: admin.token })).status).toBe(422);
			expect((await app.request("GET", `${A}/users?pageSize=1000`, { token: admin.token })).status).toBe(422);
		});

		it("changes a role (old token dies), 422 on a bad role, 404 on an unknown user", async () => {
			const u = await app.createUser("PATRON");
			const res = await app.request("PUT", `${A}/users/${u.id}/role`, { token: admin.token, body: { role: "CLERK" } });
			expect(res.status).toBe(200);
			expect(res.body).toMatchObject({ id: u.id, role: "CLERK" });
			expect((await app.request("GET", "/api/v1/auth/me", { token: u.token })).status).toBe(401);
			expect((await app.request("PUT", `${A}/users/${u.id}/role`, { token: admin.token, body: { role: "KING" } })).status).toBe(422);
			expect((await app.request("PUT", `${A}/users/not-a-uuid/role`, { token: admin.token, body: { role: "CLERK" } })).status).toBe(
				422,
			);
			expect(
				(await app.request("PUT", `${A}/users/${randomUUID()}/role`, { token: admin.token, body: { role: "CLERK" } })).status,
			).toBe(404);
		});

		it("deactivation blocks sign-in, the old access token and the refresh token; reactivation lets them sign in again", async () => {
			const u = await app.createUser("PATRON");
			expect((await app.request("GET", "/api/v1/auth/me", { token: u.token })).status).toBe(200);
			const off = await app.request("PUT", `${A}/users/${u.id}/status`, { token: admin.token, body: { status: "INACTIVE" } });
			expect(off.status).toBe(200);
			expect(off.body).toMatchObject({ id: u.id, status: "INACTIVE" });
			expect((await app.request("GET", "/api/v1/auth/me", { token: u.token })).status).toBe(401);
			expect((await app.request("POST", "/api/v1/auth/login", { body: { email: u.email, password: u.password } })).status).toBe(401);
			expect((await app.request("POST", "/api/v1/auth/refresh", { body: { refreshToken: u.refreshToken } })).status).toBe(401);
			const on = await app.request("PUT", `${A}/users/${u.id}/status`, { token: admin.token, body: { status: "ACTIVE" } });
			expect(on.body.status).toBe("ACTIVE");
			expect((await app.request("POST", "/api/v1/auth/login", { body: { email: u.email, password: u.password } })).status).toBe(200);
			expect((await app.request("PUT", `${A}/users/${u.id}/status`, { token: admin.token, body: { status: "GONE" } })).status).toBe(
				422,
			);
			expect(
				(await app.request("PUT", `${A}/users/${randomUUID()}/status`, { token: admin.token, body: { status: "INACTIVE" } }))
					.status,
			).toBe(404);
		});

		it("soft-deletes a user (204; gone from the list, can't sign in); 404 the second time", async () => {
			const u = await app.createUser("PATRON");
			expect((await app.request("DELETE", `${A}/users/${u.id}`, { token: admin.token })).status).toBe(204);
			expect((await app.request("POST", "/api/v1/auth/login", { body: { email: u.email, password: u.password } })).status).toBe(401);
			const list = await app.request("GET", `${A}/users?email=${encodeURIComponent(u.email)}`, { token: admin.token });
			expect(list.body.total).toBe(0);
			expect((await app.request("DELETE", `${A}/users/${u.id}`, { token: admin.token })).status).toBe(404);
		});

		it("an administrator can't demote, deactivate or delete themselves (409)", async () => {
			for (const [method, path, body] of [
				["PUT", `/users/${admin.id}/role`, { role: "PATRON" }],
				["PUT", `/users/${admin.id}/status`, { status: "INACTIVE" }],
				["DELETE", `/users/${admin.id}`, undefined],
			] as const) {
				const res = await app.request(method, `${A}${path}`, { token: admin.token, body });
				expect([path, res.status, res.body.error?.code]).toEqual([path, 409, "SELF_MODIFICATION"]);
			}
			expect((await app.request("GET", "/api/v1/auth/me", { token: admin.token })).body).toMatchObject({
				role: "ADMIN",
				status: "ACTIVE",
			});
		});

		it("the same 409 SELF_MODIFICATION through the auth service's own user routes (/api/v1/auth/users/...)", async () => {
			for (const [method, path, body] of [
				["PUT", `/api/v1/auth/users/${admin.id}/role`, { role: "PATRON" }],
				["DELETE", `/api/v1/auth/users/${admin.id}`, undefined],
				["DELETE", `/auth/users/${admin.id}`, undefined],
			] as const) {
				const res = await app.request(method, path, { token: admin.token, body });
				expect([path, res.status, res.body.error?.code]).toEqual([path, 409, "SELF_MODIFICATION"]);
			}
			// Deactivation has no /auth route; its one internal action refuses the caller's own id the same way.
			await expect(
				app.broker.call(
					"auth.setStatus",
					{ userId: admin.id, status: "INACTIVE" },
					{ meta: { user: { id: admin.id, role: "ADMIN" } } },
				),
			).rejects.toMatchObject({ code: 409, type: "SELF_MODIFICATION" });
			expect((await app.request("GET", "/api/v1/auth/me", { token: admin.token })).body).toMatchObject({
				role: "ADMIN",
				status: "ACTIVE",
			});
		});

		it("summarises users: by role and status, sign-ups per day, recently active", async () => {
			const res = await app.request("GET", `${A}/users/machines`, { token: admin.token });
			expect(res.status).toBe(200);
			expect(res.body.byRole).toMatchObject({ ADMIN: expect.any(Number), EXECUTIVE: expect.any(Number) });
			expect(res.body.byRole.ADMIN).toBeGreaterThanOrEqual(1);
			expect(res.body.byStatus.ACTIVE).toBeGreaterThanOrEqual(4);
			expect(res.body.deleted).toBeGreaterThanOrEqual(1);
			const today = new Date().toISOString().slice(0, 10);
			expect(res.body.signupsPerDay).toEqual(expect.arrayContaining([{ day: today, count: expect.any(Number) }]));
			expect(res.body.activeLast7Days).toBeGreaterThanOrEqual(1); // the re-activated user signed in
			expect(res.body.activeLast30Days).toBeGreaterThanOrEqual(res.body.activeLast7Days);
			expect((await app.request("GET", `${A}/users/machines?days=0`, { token: admin.token })).status).toBe(422);
		});
	});

	describe("system", () => {
		it("health lists the node and every service", async () => {
			const res = await app.request("GET", `${A}/system/health`, { token: admin.token });
			expect(res.status).toBe(200);
			expect(res.body.status).toBe("UP");
			expect(res.body.nodes).toEqual([
				expect.objectContaining({ nodeID: app.broker.nodeID, status: "UP", uptimeSec: expect.any(Number) }),
			]);
			const names = res.body.services.map((s: { name: string }) => s.name);
			expect(names).toEqual(
				expect.arrayContaining(["auth", "admin.users", "admin.broadcasts", "communications.notifications", "api"]),
			);
		});

		it("metrics gives each node's broker metrics", async () => {
			const res = await app.request("GET", `${A}/system/metrics`, { token: admin.token });
			expect(res.status).toBe(200);
			const node = res.body.nodes.find((n: { nodeID: string }) => n.nodeID === app.broker.nodeID);
			const names = node.metrics.map((m: { name: string }) => m.name);
			expect(names).toEqual(
				expect.arrayContaining(["moleculer.request.total", "moleculer.request.time", "moleculer.registry.nodes.total"]),
			);
			const requests = node.metrics.find((m: { name: string }) => m.name === "moleculer.request.total");
			expect(requests.values.length).toBeGreaterThan(0);
		});

		it("server-side action failures land in the application log; clear deletes entries older than `before`", async () => {
			await app.broker.createService({
				name: "boom",
				actions: {
					fail: { handler: () => Promise.reject(new Error("kaboom at the freezer")) },
					syncFail: {
						handler: () => {
							throw new Error("sync kaboom");
						},
					},
					fine: { handler: () => "ok" },
				},
			});
			await app.broker.waitForServices(["boom"]);
			expect(await app.broker.call("boom.fine")).toBe("ok");
			await expect(app.broker.call("boom.syncFail")).rejects.toThrow("sync kaboom");
			await expect(app.broker.call("boom.fail")).rejects.toThrow("kaboom");
			let rows: { message: string; level: string; action: string; nodeID: string }[] = [];
			for (let i = 0; i < 100 && !rows.length; i++) {
				rows = (await app.request("GET", `${A}/system/logs?level=error`, { token: admin.token })).body.rows;
				if (!rows.length) await sleep(20);
			}
			for (let i = 0; i < 100 && rows.length < 2; i++) {
				rows = (await app.request("GET", `${A}/system/logs?level=error`, { token: admin.token })).body.rows;
				if (rows.length < 2) await sleep(20);
			}
			expect(rows).toHaveLength(2);
			expect(rows.find((r) => r.action === "boom.fail")).toMatchObject({
				level: "error",
				message: "kaboom at the freezer",
				nodeID: app.broker.nodeID,
				code: 500,
			});
			expect(rows.find((r) => r.action === "boom.syncFail")).toMatchObject({ level: "error", message: "sync kaboom" });
			// 4xx answers (the many 401/403/422 of this file) are not application faults.
			expect((await app.request("GET", `${A}/system/logs`, { token: admin.token })).body.total).toBe(2);
			expect((await app.request("GET", `${A}/system/logs?level=debug`, { token: admin.token })).status).toBe(422);
			const old = await app.request("POST", `${A}/system/logs/clear`, {
				token: admin.token,
				body: { before: "2000-01-01T00:00:00Z" },
			});
			expect(old).toMatchObject({ status: 200, body: { deleted: 0 } });
			const now = await app.request("POST", `${A}/system/logs/clear`, {
				token: admin.token,
				body: { before: new Date(Date.now() + 1000).toISOString() },
			});
			expect(now.body.deleted).toBeGreaterThanOrEqual(1);
			expect((await app.request("GET", `${A}/system/logs`, { token: admin.token })).body.total).toBe(0);
			expect(
				(await app.request("POST", `${A}/system/logs/clear`, { token: admin.token, body: { before: "yesterday" } })).status,
			).toBe(422);
			// Retention (hourly, or now through the internal action): entries older than `logRetentionDays` go.
			const db = (app.broker.getLocalService("admin.system") as unknown as { db: { query(sql: string): Promise<unknown> } }).db;
			await db.query(
				`INSERT INTO admin.app_logs (level, node_id, message, created_at) VALUES ('warn', 'n', 'old', now() - interval '100 days'), ('warn', 'n', 'recent', now() - interval '10 days')`,
			);
			expect(await app.broker.call("admin.system.applyRetention")).toEqual({ deleted: 1 }); // default 90 days
			expect(
				(await app.request("GET", `${A}/system/logs`, { token: admin.token })).body.rows.map((r: { message: string }) => r.message),
			).toEqual(["recent"]);
			// Entries of one instant come newest id first, the ids compared as numbers (not as the text they are sent as).
			await db.query(
				`INSERT INTO admin.app_logs (id, level, node_id, message, created_at) VALUES (999999999, 'warn', 'n', 'tie 1', now() + interval '1 day'), (1000000000, 'warn', 'n', 'tie 2', now() + interval '1 day')`,
			);
			expect(
				(await app.request("GET", `${A}/system/logs?pageSize=2`, { token: admin.token })).body.rows.map(
					(r: { message: string }) => r.message,
				),
			).toEqual(["tie 2", "tie 1"]);
			await db.query(`DELETE FROM admin.app_logs`);
			expect((await app.request("POST", `${A}/system/logs/clear`, { token: admin.token, body: {} })).status).toBe(422);
		});
	});

	describe("audit and compliance", () => {
		it("aggregates the audit logs of every schema, filters and searches them", async () => {
			const all = await app.request("GET", `${A}/audit-logs?pageSize=100`, { token: admin.token });
			expect(all.status).toBe(200);
			const schemas = new Set(all.body.rows.map((r: { schema: string }) => r.schema));
			expect(schemas).toEqual(new Set(["admin", "auth"])); // admin.users.* in admin, auth.setRole etc. in auth
			const search = await app.request("POST", `${A}/audit-logs/search`, {
				token: admin.token,
				body: { action: "setStatus", actorId: admin.id, outcome: "FAILURE" },
			});
			expect(search.status).toBe(200);
			expect(search.body.total).toBeGreaterThanOrEqual(2); // the two 404s above, in admin and in auth
			expect(
				search.body.rows.every(
					(r: { action: string; outcome: string; actorId: string }) =>
						/setStatus/.test(r.action) && r.outcome === "FAILURE" && r.actorId === admin.id,
				),
			).toBe(true);
			const authOnly = await app.request("GET", `${A}/audit-logs?schema=auth&action=auth.setRole&outcome=SUCCESS`, {
				token: admin.token,
			});
			expect(authOnly.body.rows.length).toBeGreaterThanOrEqual(1);
			expect(authOnly.body.rows[0]).toMatchObject({ schema: "auth", action: "auth.setRole", actorRole: "ADMIN", outcome: "SUCCESS" });
			const future = await app.request("POST", `${A}/audit-logs/search`, {
				token: admin.token,
				body: { from: new Date(Date.now() + 3600_000).toISOString() },
			});
			expect(future.body.total).toBe(0);
			expect((await app.request("POST", `${A}/audit-logs/search`, { token: admin.token, body: { outcome: "MAYBE" } })).status).toBe(
				422,
			);
			expect((await app.request("POST", `${A}/audit-logs/search`, { token: admin.token, body: { actorId: "me" } })).status).toBe(422);
		});

		it("compliance report: audit coverage per schema, admin actions, sign-in security, retention", async () => {
			const res = await app.request("GET", `${A}/compliance/report`, { token: admin.token });
			expect(res.status).toBe(200);
			expect(res.body.audit.schemas.map((s: { schema: string }) => s.schema)).toEqual(
				expect.arrayContaining(["admin", "auth", "communications"]),
			);
			expect(res.body.audit.adminActions).toBeGreaterThanOrEqual(4);
			expect(res.body.audit.failedActions).toBeGreaterThanOrEqual(2);
			expect(res.body.audit.topAdminActions.length).toBeGreaterThan(0);
			expect(res.body.signIn).toMatchObject({ softDeletedAccounts: expect.any(Number), inactiveAccounts: expect.any(Number) });
			expect(res.body.applicationLog).toMatchObject({ retainedEntries: expect.any(Number) });
			const past = await app.request("GET", `${A}/compliance/report?from=2001-01-01&to=2001-01-31`, { token: admin.token });
			expect(past.body.audit.totalEntries).toBe(0);
			expect((await app.request("GET", `${A}/compliance/report?from=2001-02-01&to=2001-01-01`, { token: admin.token })).status).toBe(
				422,
			);
			expect((await app.request("GET", `${A}/compliance/report?from=yesterday`, { token: admin.token })).status).toBe(422);
		});
	});

	describe("configuration", () => {
		it("answers defaults, updates validated keys (audited), lists themes", async () => {
			const initial = await app.request("GET", `${A}/config`, { token: admin.token });
			expect(initial.body.settings).toMatchObject({ siteName: "EisLager", theme: "classic", registrationOpen: true });
			const put = await app.request("PUT", `${A}/config`, {
				token: admin.token,
				body: { siteName: "  Gelato Nord ", theme: "pistachio", logRetentionDays: 30, registrationOpen: false },
			});
			expect(put.status).toBe(200);
			expect(put.body.settings).toMatchObject({
				siteName: "Gelato Nord",
				theme: "pistachio",
				logRetentionDays: 30,
				registrationOpen: false,
			});
			expect((await app.request("GET", `${A}/config`, { token: admin.token })).body.settings.theme).toBe("pistachio");
			const themes = await app.request("GET", `${A}/config/themes`, { token: admin.token });
			expect(themes.body.active).toBe("pistachio");
			expect(themes.body.themes.map((t: { id: string }) => t.id)).toContain("classic");
			for (const bad of [
				{ theme: "neon" },
				{ logRetentionDays: 0 },
				{ supportEmail: "nope" },
				{ registrationOpen: "yes" },
				{},
				{ unknownKey: 1 },
			]) {
				expect([bad, (await app.request("PUT", `${A}/config`, { token: admin.token, body: bad })).status]).toEqual([bad, 422]);
			}
			const audit = await app.request("GET", `${A}/audit-logs?action=admin.config.update&outcome=SUCCESS`, { token: admin.token });
			expect(audit.body.rows[0]).toMatchObject({ actorId: admin.id, target: "siteName,theme,logRetentionDays,registrationOpen" });
		});

		it("schedules a maintenance window and announces it to connected sockets; 422 on a bad window", async () => {
			const s = await connectSocket(app.baseUrl, { token: patron.token });
			sockets.push(s);
			const startsAt = new Date(Date.now() + 86_400_000).toISOString();
			const endsAt = new Date(Date.now() + 90_000_000).toISOString();
			const res = await app.request("POST", `${A}/config/maintenance`, {
				token: admin.token,
				body: { startsAt, endsAt, message: "Database upgrade" },
			});
			expect(res.status).toBe(201);
			expect(res.body).toMatchObject({ id: expect.any(String), message: "Database upgrade", announced: true });
			expect(await s.next<{ title: string; message: string }>("SYSTEM_ANNOUNCEMENT")).toMatchObject({
				title: "Scheduled maintenance",
				message: expect.stringContaining("Database upgrade"),
			});
			expect((await app.request("GET", `${A}/config`, { token: admin.token })).body.maintenance).toEqual([
				expect.objectContaining({ id: res.body.id }),
			]);
			for (const bad of [
				{ startsAt: endsAt, endsAt: startsAt, message: "x" },
				{ startsAt: "2001-01-01T00:00:00Z", endsAt: "2001-01-02T00:00:00Z", message: "x" },
				{ startsAt, endsAt, message: "" },
				{ startsAt: "soon", endsAt, message: "x" },
			]) {
				expect([bad, (await app.request("POST", `${A}/config/maintenance`, { token: admin.token, body: bad })).status]).toEqual([
					bad,
					422,
				]);
			}
		});
	});

	describe("broadcasts", () => {
		it("DRAFT → SENT (reaches connected sockets as SYSTEM_ANNOUNCEMENT) → ARCHIVED; 409 on other transitions, 404, 422", async () => {
			const s = await connectSocket(app.baseUrl, { token: clerk.token });
			sockets.push(s);
			const created = await app.request("POST", `${A}/broadcasts`, {
				token: admin.token,
				body: { title: "New flavour", message: "Try Pistachio Royale" },
			});
			expect(created.status).toBe(201);
			expect(created.headers.get("location")).toBe(`/api/v1/admin/broadcasts/${created.body.id}`);
			expect(created.body).toMatchObject({ status: "DRAFT", sentAt: null, createdBy: admin.id });
			const id = created.body.id as string;
			const sent = await app.request("PUT", `${A}/broadcasts/${id}/status`, { token: admin.token, body: { status: "SENT" } });
			expect(sent.status).toBe(200);
			expect(sent.body).toMatchObject({ status: "SENT", sentAt: expect.any(String) });
			expect(await s.next<{ broadcastId: string }>("SYSTEM_ANNOUNCEMENT", (d) => d.broadcastId === id)).toMatchObject({
				title: "New flavour",
				message: "Try Pistachio Royale",
			});
			const again = await app.request("PUT", `${A}/broadcasts/${id}/status`, { token: admin.token, body: { status: "SENT" } });
			expect(again.status).toBe(409);
			expect(again.body.error.code).toBe("INVALID_STATUS_TRANSITION");
			expect(
				(await app.request("PUT", `${A}/broadcasts/${id}/status`, { token: admin.token, body: { status: "ARCHIVED" } })).body
					.status,
			).toBe("ARCHIVED");
			expect(
				(await app.request("PUT", `${A}/broadcasts/${id}/status`, { token: admin.token, body: { status: "DRAFT" } })).status,
			).toBe(409);
			expect((await app.request("GET", `${A}/broadcasts/${id}`, { token: admin.token })).body.archivedAt).toEqual(expect.any(String));
			await sleep(50);
			expect(s.received("SYSTEM_ANNOUNCEMENT").filter((d) => (d as { broadcastId?: string }).broadcastId === id)).toHaveLength(1);

			const draft = await app.request("POST", `${A}/broadcasts`, { token: admin.token, body: { title: "Draft", message: "later" } });
			const list = await app.request("GET", `${A}/broadcasts?status=DRAFT`, { token: admin.token });
			expect(list.body.rows.map((b: { id: string }) => b.id)).toEqual([draft.body.id]);
			expect((await app.request("GET", `${A}/broadcasts?pageSize=1`, { token: admin.token })).body).toMatchObject({
				total: 2,
				totalPages: 2,
			});

			expect(
				(await app.request("PUT", `${A}/broadcasts/${randomUUID()}/status`, { token: admin.token, body: { status: "SENT" } }))
					.status,
			).toBe(404);
			expect((await app.request("GET", `${A}/broadcasts/${randomUUID()}`, { token: admin.token })).status).toBe(404);
			expect(
				(await app.request("PUT", `${A}/broadcasts/${id}/status`, { token: admin.token, body: { status: "LOUD" } })).status,
			).toBe(422);
			expect((await app.request("POST", `${A}/broadcasts`, { token: admin.token, body: { title: "", message: "m" } })).status).toBe(
				422,
			);
			expect((await app.request("GET", `${A}/broadcasts?status=NOPE`, { token: admin.token })).status).toBe(422);
		});
	});
});
