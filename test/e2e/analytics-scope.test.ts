/**
 * The analytics staff scope follows staff changes at once: a clerk removed from a shop, or a
 * manufacturer replaced as a factory's manager, is refused on the very next request, though
 * analytics caches each user's shops and factories for 30 s. Checked in one process and across
 * two nodes over NATS (analytics on its own node).
 */
import { randomBytes } from "node:crypto";
import { clusterEnv, startTestApp, type TestApp, type TestUser } from "../helpers/app";
import { NATS_URL } from "../helpers/cluster";

import { sqlQuery } from "../integration/auth/helpers";
import { assignClerk, createShop, ok } from "../helpers/sales-world";

const A = "/api/v1/analytics";

async function staffScenario(app: TestApp): Promise<void> {
	const exec = await app.createUser("EXECUTIVE");
	const clerk = await app.createUser("CLERK");
	const [maker, nextMaker] = [await app.createUser("MANUFACTURER"), await app.createUser("MANUFACTURER")];
	const get = (path: string, user: TestUser) => app.request("GET", `${A}${path}`, { token: user.token });

	const shopId = await createShop(app, exec, `Scope ${randomBytes(3).toString("hex")}`);
	await assignClerk(app, exec, shopId, clerk);
	// The clerk's scope is read (and cached) while assigned.
	expect((await get(`/analytics/sales?shopId=${shopId}`, clerk)).status).toBe(200);
	await ok(app.request("DELETE", `/api/v1/sales/shops/${shopId}/staff/${clerk.id}`, { token: exec.token }), 204);
	expect((await get(`/analytics/sales?shopId=${shopId}`, clerk)).status).toBe(403);
	// Assigned again: access comes back at once too.
	await assignClerk(app, exec, shopId, clerk);
	expect((await get(`/analytics/sales?shopId=${shopId}`, clerk)).status).toBe(200);

	const factory = await ok<{ id: string }>(
		app.request("POST", "/api/v1/inventory/factories", {
			token: exec.token,
			body: { name: `Scope ${randomBytes(3).toString("hex")}`, managerId: maker.id },
		}),
		201,
	);
	expect((await get(`/analytics/inventory?factoryId=${factory.id}`, maker)).status).toBe(200);
	expect((await get(`/analytics/inventory?factoryId=${factory.id}`, nextMaker)).status).toBe(403); // cached as "none of mine"
	await ok(app.request("PUT", `/api/v1/inventory/factories/${factory.id}`, { token: exec.token, body: { managerId: nextMaker.id } }));
	expect((await get(`/analytics/inventory?factoryId=${factory.id}`, maker)).status).toBe(403);
	expect((await get(`/analytics/inventory?factoryId=${factory.id}`, nextMaker)).status).toBe(200);
}

describe("analytics staff scope follows staff changes", () => {
	describe("one process", () => {
		let app: TestApp;
		beforeAll(async () => {
			app = await startTestApp({ services: ["auth", "inventory", "sales", "analytics"] });
		});
		afterAll(async () => app?.stop());

		it("a removed clerk and a replaced factory manager lose access on the next request", () => staffScenario(app));

		it("a role change (USER_ROLE_CHANGED) drops the user's cached scope", async () => {
			const [exec, admin, clerk] = [await app.createUser("EXECUTIVE"), await app.createUser("ADMIN"), await app.createUser("CLERK")];
			const shopId = await createShop(app, exec, `Role ${randomBytes(3).toString("hex")}`);
			await assignClerk(app, exec, shopId, clerk);
			const sales = (token: string) => app.request("GET", `${A}/analytics/sales?shopId=${shopId}`, { token });
			expect((await sales(clerk.token)).status).toBe(200);
			// Unassigned behind the services' back (no staff.changed): the cached scope still says yes.
			await sqlQuery(app.db.url, "DELETE FROM sales.shop_staff WHERE user_id = $1", [clerk.id]);
			expect((await sales(clerk.token)).status).toBe(200);
			// A role change and back: the cached scope is dropped, the next look-up sees the truth.
			for (const role of ["MANUFACTURER", "CLERK"])
				await ok(app.request("PUT", `/api/v1/auth/users/${clerk.id}/role`, { token: admin.token, body: { role } }));
			const { accessToken } = await ok<{ accessToken: string }>(
				app.request("POST", "/api/v1/auth/login", { body: { email: clerk.email, password: clerk.password } }),
			);
			let status = 0;
			for (
				const deadline = Date.now() + 10_000;
				Date.now() < deadline && status !== 403;
				await new Promise((r) => setTimeout(r, 100))
			)
				status = (await sales(accessToken)).status;
			expect(status).toBe(403);
		});
	});

	describe("analytics on another node (NATS)", () => {
		let nodeA: TestApp;
		let nodeB: TestApp;
		const env = { TRANSPORTER: NATS_URL, ...clusterEnv("scope") };

		beforeAll(async () => {
			nodeA = await startTestApp({ services: ["auth", "inventory", "sales"], env });
			nodeB = await startTestApp({ services: ["analytics"], env, db: nodeA.db, gateway: false });
			await nodeA.broker.waitForServices(["analytics.sales", "analytics.inventory"], 15_000);
			// The gateway on node A routes analytics once it has seen node B's services.
			const exec = await nodeA.createUser("EXECUTIVE");
			const deadline = Date.now() + 15_000;
			while ((await nodeA.request("GET", `${A}/analytics/sales`, { token: exec.token })).status !== 200) {
				if (Date.now() > deadline) throw new Error("analytics routes did not appear on node A's gateway");
				await new Promise((r) => setTimeout(r, 100));
			}
		}, 60_000);
		afterAll(async () => {
			await nodeB?.stop();
			await nodeA?.stop();
		});

		it("the staff change on node A reaches node B's scope cache before the next request", () => staffScenario(nodeA));
	});
});
