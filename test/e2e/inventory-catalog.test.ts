/** Inventory over HTTP: the flavor catalog, its internal reads, and factories with budgets. */
import { startTestApp, type TestApp, type TestUser } from "../helpers/app";
import { createFactory, day, registerBatch, sqlRows } from "../integration/inventory/helpers";

const FAMILIES = ["/api/v1/inventory", "/api/inventory"];

describe("inventory: flavors and factories", () => {
	let app: TestApp;
	let maker: TestUser;
	let otherMaker: TestUser;
	let exec: TestUser;
	let clerk: TestUser;
	let patron: TestUser;
	let admin: TestUser;

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "inventory"] });
		[maker, otherMaker, exec, clerk, patron, admin] = await Promise.all([
			app.createUser("MANUFACTURER"),
			app.createUser("MANUFACTURER"),
			app.createUser("EXECUTIVE"),
			app.createUser("CLERK"),
			app.createUser("PATRON"),
			app.createUser("ADMIN"),
		]);
	});
	afterAll(async () => app?.stop());

	const vanilla = {
		name: "Vanilla",
		description: "Bourbon vanilla",
		category: "cream",
		price: 250,
		ingredients: ["milk", "sugar", "vanilla"],
		allergens: ["milk"],
		images: [],
	};

	describe("flavors", () => {
		let vanillaId: string;
		let sorbetId: string;

		it("creates flavors (MANUFACTURER, EXECUTIVE) under both path families; others are refused", async () => {
			const res = await app.request("POST", `${FAMILIES[0]}/flavors`, { token: maker.token, body: vanilla });
			expect(res.status).toBe(201);
			expect(res.headers.get("location")).toBe(`/api/v1/inventory/flavors/${res.body.id}`);
			expect(res.body).toMatchObject({ name: "Vanilla", category: "CREAM", price: 250, allergens: ["milk"], archived: false });
			vanillaId = res.body.id;
			const sorbet = await app.request("POST", `${FAMILIES[1]}/flavors`, {
				token: exec.token,
				body: { name: "Lemon sorbet", category: "SORBET", price: 220 },
			});
			expect(sorbet.status).toBe(201);
			expect(sorbet.body).toMatchObject({ allergens: [], ingredients: [], images: [], description: "" });
			sorbetId = sorbet.body.id;
			for (const user of [clerk, patron, admin]) {
				expect(
					(await app.request("POST", `${FAMILIES[0]}/flavors`, { token: user.token, body: { ...vanilla, name: "X" } })).status,
				).toBe(403);
			}
			expect((await app.request("POST", `${FAMILIES[0]}/flavors`, { body: { ...vanilla, name: "Y" } })).status).toBe(401);
		});

		it("rejects bad input naming the field, and writes nothing", async () => {
			const bad = await app.request("POST", `${FAMILIES[0]}/flavors`, {
				token: maker.token,
				body: { ...vanilla, name: "Bad", allergens: ["milk", "glitter"], price: -5 },
			});
			expect(bad.status).toBe(422);
			const fields = bad.body.error.details.map((d: { field: string }) => d.field);
			expect(fields).toEqual(expect.arrayContaining(["allergens[1]", "price"]));
			const dup = await app.request("POST", `${FAMILIES[0]}/flavors`, { token: maker.token, body: { ...vanilla, name: "vanilla" } });
			expect(dup.status).toBe(409);
			const list = await app.request("GET", `${FAMILIES[0]}/flavors?search=bad`);
			expect(list.body.total).toBe(0);
			expect((await app.request("GET", `${FAMILIES[0]}/flavors?sort=secret`)).status).toBe(422);
			expect((await app.request("GET", `${FAMILIES[0]}/flavors?allergenFree=glitter`)).body.error.details[0].field).toBe(
				"allergenFree",
			);
		});

		it("lists publicly with filters and shows details; unknown ids are 404", async () => {
			for (const base of FAMILIES) {
				const all = await app.request("GET", `${base}/flavors`);
				expect(all.status).toBe(200);
				expect(all.body).toMatchObject({ total: 2, page: 1, totalPages: 1 });
				const free = await app.request("GET", `${base}/flavors?allergenFree=milk,nuts`);
				expect(free.body.rows.map((f: { id: string }) => f.id)).toEqual([sorbetId]);
				const cat = await app.request("GET", `${base}/flavors?category=cream&sort=-price`);
				expect(cat.body.rows.map((f: { id: string }) => f.id)).toEqual([vanillaId]);
				const search = await app.request("GET", `${base}/flavors?search=LEMON`);
				expect(search.body.rows.map((f: { id: string }) => f.id)).toEqual([sorbetId]);
				const one = await app.request("GET", `${base}/flavors/${vanillaId}`);
				expect(one.body.name).toBe("Vanilla");
				expect((await app.request("GET", `${base}/flavors/00000000-0000-4000-8000-000000000000`)).status).toBe(404);
			}
		});

		it("updates (editors only), drops cached reads, archives softly", async () => {
			const before = await app.broker.call<Array<{ price: number }>, object>("inventory.flavors.getMany", { ids: [vanillaId] });
			expect(before[0].price).toBe(250);
			expect(
				(await app.request("PUT", `${FAMILIES[1]}/flavors/${vanillaId}`, { token: clerk.token, body: { price: 1 } })).status,
			).toBe(403);
			const upd = await app.request("PUT", `${FAMILIES[1]}/flavors/${vanillaId}`, {
				token: maker.token,
				body: { price: 275, allergens: ["milk", "eggs"], id: "00000000-0000-4000-8000-000000000000" },
			});
			expect(upd.status).toBe(200);
			expect(upd.body).toMatchObject({ id: vanillaId, price: 275, allergens: ["milk", "eggs"], name: "Vanilla" });
			const after = await app.broker.call<Array<{ price: number }>, object>("inventory.flavors.getMany", { ids: [vanillaId] });
			expect(after[0].price).toBe(275);
			expect(
				(await app.request("PUT", `${FAMILIES[0]}/flavors/${vanillaId}`, { token: maker.token, body: { allergens: ["plastic"] } }))
					.status,
			).toBe(422);
			expect(
				(
					await app.request("PUT", `${FAMILIES[0]}/flavors/00000000-0000-4000-8000-000000000000`, {
						token: maker.token,
						body: { price: 1 },
					})
				).status,
			).toBe(404);

			expect((await app.request("DELETE", `${FAMILIES[0]}/flavors/${sorbetId}`, { token: patron.token })).status).toBe(403);
			const arch = await app.request("DELETE", `${FAMILIES[0]}/flavors/${sorbetId}`, { token: exec.token });
			expect(arch.status).toBe(200);
			expect(arch.body.archived).toBe(true);
			const menu = await app.request("GET", `${FAMILIES[0]}/flavors`);
			expect(menu.body.rows.map((f: { id: string }) => f.id)).toEqual([vanillaId]);
			const staff = await app.request("GET", `${FAMILIES[0]}/flavors?includeArchived=true`, { token: exec.token });
			expect(staff.body.total).toBe(2);
			const publicAll = await app.request("GET", `${FAMILIES[0]}/flavors?includeArchived=true`);
			expect(publicAll.body.total).toBe(1);
			expect((await app.request("PUT", `${FAMILIES[0]}/flavors/${sorbetId}`, { token: exec.token, body: { price: 1 } })).status).toBe(
				409,
			);
			const many = await app.broker.call<Array<{ id: string; archived: boolean }>, object>("inventory.flavors.getMany", {
				ids: [vanillaId, sorbetId, "00000000-0000-4000-8000-000000000000"],
			});
			expect(many.map((f) => [f.id, f.archived]).sort()).toEqual(
				[
					[vanillaId, false],
					[sorbetId, true],
				].sort(),
			);
		});
	});

	describe("factories and budgets", () => {
		let factoryId: string;

		it("creates a factory (EXECUTIVE) whose manager must be a MANUFACTURER", async () => {
			const body = { name: "Nordwerk", location: "Hamburg", managerId: maker.id, budgetAllocated: 500_000 };
			expect((await app.request("POST", `${FAMILIES[0]}/factories`, { token: maker.token, body })).status).toBe(403);
			const notMaker = await app.request("POST", `${FAMILIES[0]}/factories`, {
				token: exec.token,
				body: { ...body, managerId: clerk.id },
			});
			expect(notMaker.status).toBe(422);
			expect(notMaker.body.error.details[0].field).toBe("managerId");
			const unknown = await app.request("POST", `${FAMILIES[0]}/factories`, {
				token: exec.token,
				body: { ...body, managerId: "00000000-0000-4000-8000-000000000000" },
			});
			expect(unknown.status).toBe(422);
			const res = await app.request("POST", `${FAMILIES[1]}/factories`, { token: exec.token, body });
			expect(res.status).toBe(201);
			expect(res.body).toMatchObject({ name: "Nordwerk", managerId: maker.id, budgetAllocated: 500_000, status: "ACTIVE" });
			factoryId = res.body.id;
			const resolved = await app.broker.call("inventory.factories.resolve", { id: factoryId });
			expect(resolved).toEqual({ id: factoryId, name: "Nordwerk", managerId: maker.id, status: "ACTIVE" });
			expect(await app.broker.call("inventory.factories.resolve", { id: "00000000-0000-4000-8000-000000000000" })).toBeNull();
		});

		it("shows internals only to executives, admins and the factory's manufacturer", async () => {
			for (const base of FAMILIES) {
				for (const [user, internals] of [
					[maker, true],
					[exec, true],
					[admin, true],
					[otherMaker, false],
					[clerk, false],
				] as const) {
					const one = await app.request("GET", `${base}/factories/${factoryId}`, { token: user.token });
					expect(one.status).toBe(200);
					expect("budgetAllocated" in one.body).toBe(internals);
					const list = await app.request("GET", `${base}/factories`, { token: user.token });
					expect(list.body.total).toBe(1);
					expect("budgetAllocated" in list.body.rows[0]).toBe(internals);
				}
				expect((await app.request("GET", `${base}/factories`, { token: patron.token })).status).toBe(403);
				expect(
					(await app.request("GET", `${base}/factories/00000000-0000-4000-8000-000000000000`, { token: exec.token })).status,
				).toBe(404);
			}
		});

		it("updates the budget (EXECUTIVE only), keeps its history and publishes the event", async () => {
			expect(
				(
					await app.request("PUT", `${FAMILIES[0]}/factories/${factoryId}/budget`, {
						token: maker.token,
						body: { budgetAllocated: 1, reason: "x" },
					})
				).status,
			).toBe(403);
			const neg = await app.request("PUT", `${FAMILIES[0]}/factories/${factoryId}/budget`, {
				token: exec.token,
				body: { budgetAllocated: -1, reason: "x" },
			});
			expect(neg.status).toBe(422);
			expect(neg.body.error.details[0].field).toBe("budgetAllocated");
			expect(
				(
					await app.request("PUT", `${FAMILIES[0]}/factories/00000000-0000-4000-8000-000000000000/budget`, {
						token: exec.token,
						body: { budgetAllocated: 1, reason: "x" },
					})
				).status,
			).toBe(404);
			const up = await app.request("PUT", `${FAMILIES[1]}/factories/${factoryId}/budget`, {
				token: exec.token,
				body: { budgetAllocated: 750_000, reason: "Summer season" },
			});
			expect(up.status).toBe(200);
			expect(up.body.budgetAllocated).toBe(750_000);
			const hist = await app.request("GET", `${FAMILIES[0]}/factories/${factoryId}/budget-history`, { token: maker.token });
			expect(hist.status).toBe(200);
			expect(
				hist.body.rows.map((r: { previousAmount: number; budgetAllocated: number }) => [r.previousAmount, r.budgetAllocated]),
			).toEqual([
				[500_000, 750_000],
				[0, 500_000],
			]);
			expect(
				(await app.request("GET", `${FAMILIES[1]}/factories/${factoryId}/budget-history`, { token: otherMaker.token })).status,
			).toBe(403);
			const [outbox] = await sqlRows<{ n: number }>(
				app,
				`SELECT count(*)::int AS n FROM inventory.outbox WHERE type = 'BUDGET_ALLOCATION_UPDATED' AND aggregate_id = $1`,
				[factoryId],
			);
			expect(outbox.n).toBe(2);
		});

		it("updates a factory (EXECUTIVE): manager must be a MANUFACTURER; resolve follows", async () => {
			expect(
				(await app.request("PUT", `${FAMILIES[0]}/factories/${factoryId}`, { token: maker.token, body: { name: "Mine" } })).status,
			).toBe(403);
			const bad = await app.request("PUT", `${FAMILIES[0]}/factories/${factoryId}`, {
				token: exec.token,
				body: { managerId: clerk.id },
			});
			expect(bad.body.error.details[0].field).toBe("managerId");
			expect(
				(
					await app.request("PUT", `${FAMILIES[1]}/factories/00000000-0000-4000-8000-000000000000`, {
						token: exec.token,
						body: { name: "X" },
					})
				).status,
			).toBe(404);
			expect(await app.broker.call("inventory.factories.resolve", { id: factoryId })).toMatchObject({
				managerId: maker.id,
				status: "ACTIVE",
			});
			const res = await app.request("PUT", `${FAMILIES[1]}/factories/${factoryId}`, {
				token: exec.token,
				body: { managerId: otherMaker.id, status: "INACTIVE", budgetAllocated: 1 },
			});
			expect(res.status).toBe(200);
			expect(res.body).toMatchObject({ managerId: otherMaker.id, status: "INACTIVE", budgetAllocated: 750_000 });
			expect(await app.broker.call("inventory.factories.resolve", { id: factoryId })).toMatchObject({
				managerId: otherMaker.id,
				status: "INACTIVE",
			});
			// The former manager now sees the public card only.
			expect(
				"budgetAllocated" in (await app.request("GET", `${FAMILIES[0]}/factories/${factoryId}`, { token: maker.token })).body,
			).toBe(false);
		});

		it("documents the added factory routes in the OpenAPI document", async () => {
			const doc = await app.request("GET", "/api/v1/openapi.json");
			expect(doc.body.paths["/api/v1/inventory/factories"].post.summary).toMatch(/not in the spec/);
			expect(doc.body.paths["/api/v1/inventory/factories/{factoryId}"].put.summary).toMatch(/not in the spec/);
		});
	});

	describe("flavor ownership and restore", () => {
		const path = (id: string, suffix = "") => `${FAMILIES[0]}/flavors/${id}${suffix}`;

		it("a MANUFACTURER changes only flavors they created or their factory produces; EXECUTIVE and ADMIN any", async () => {
			const mine = (
				await app.request("POST", `${FAMILIES[0]}/flavors`, {
					token: maker.token,
					body: { name: "Maker's Hazelnut", category: "CREAM", price: 300 },
				})
			).body.id as string;
			const execs = (
				await app.request("POST", `${FAMILIES[0]}/flavors`, {
					token: exec.token,
					body: { name: "Exec's Mango", category: "SORBET", price: 280 },
				})
			).body.id as string;
			// Another manufacturer may neither edit nor archive the maker's flavor; the flavor is untouched.
			expect((await app.request("PUT", path(mine), { token: otherMaker.token, body: { price: 1 } })).status).toBe(403);
			expect((await app.request("DELETE", path(mine), { token: otherMaker.token })).status).toBe(403);
			expect((await app.request("GET", path(mine))).body).toMatchObject({ price: 300, archived: false });
			expect((await app.request("PUT", path(execs), { token: maker.token, body: { price: 1 } })).status).toBe(403);
			// EXECUTIVE and ADMIN edit any flavor; the creator edits their own.
			expect((await app.request("PUT", path(mine), { token: exec.token, body: { price: 310 } })).status).toBe(200);
			expect((await app.request("PUT", path(mine), { token: admin.token, body: { price: 320 } })).status).toBe(200);
			expect((await app.request("PUT", path(mine), { token: maker.token, body: { price: 330 } })).status).toBe(200);
			// Producing a flavor (a batch registered at a factory they manage) lets a manufacturer edit it too.
			const factory = await createFactory(app, exec.token, otherMaker.id, { name: "Ownership works" });
			await registerBatch(app, otherMaker.token, factory, {
				flavorId: execs,
				batchId: "OWN-1",
				quantity: 5,
				cost: 100,
				productionDate: day(-1),
				expiryDate: day(30),
			});
			expect((await app.request("PUT", path(execs), { token: otherMaker.token, body: { price: 290 } })).status).toBe(200);
			expect((await app.request("PUT", path(execs), { token: maker.token, body: { price: 1 } })).status).toBe(403);
			expect((await app.request("DELETE", path(execs), { token: otherMaker.token })).status).toBe(200);
			expect((await app.request("DELETE", path(mine), { token: admin.token })).status).toBe(200);
		});

		it("restores an archived flavor (roles as for archive, audited); 409 while a live flavor has its name", async () => {
			const id = (
				await app.request("POST", `${FAMILIES[0]}/flavors`, {
					token: maker.token,
					body: { name: "Rum Raisin", category: "CREAM", price: 300 },
				})
			).body.id as string;
			expect((await app.request("DELETE", path(id), { token: maker.token })).status).toBe(200);
			expect(
				(await app.broker.call<Array<{ archived: boolean }>, object>("inventory.flavors.getMany", { ids: [id] }))[0].archived,
			).toBe(true);
			for (const user of [patron, clerk, otherMaker])
				expect((await app.request("POST", path(id, "/restore"), { token: user.token })).status).toBe(403);
			expect((await app.request("POST", path(id, "/restore"))).status).toBe(401);
			expect(
				(await app.request("POST", path("00000000-0000-4000-8000-000000000000", "/restore"), { token: exec.token })).status,
			).toBe(404);
			const back = await app.request("POST", `${FAMILIES[1]}/flavors/${id}/restore`, { token: maker.token });
			expect(back.status).toBe(200);
			expect(back.body).toMatchObject({ id, archived: false });
			// Every cached read follows: the internal read, the public menu.
			expect(
				(await app.broker.call<Array<{ archived: boolean }>, object>("inventory.flavors.getMany", { ids: [id] }))[0].archived,
			).toBe(false);
			expect((await app.request("GET", `${FAMILIES[0]}/flavors?search=Rum`)).body.rows.map((f: { id: string }) => f.id)).toEqual([
				id,
			]);
			expect((await app.request("POST", path(id, "/restore"), { token: maker.token })).status).toBe(200); // already live: unchanged
			const audit = await sqlRows<{ actor_id: string; outcome: string }>(
				app,
				"SELECT actor_id, outcome FROM inventory.audit_log WHERE action = 'inventory.flavors.restore' AND target = $1 ORDER BY id",
				[id],
			);
			expect(audit.some((r) => r.actor_id === maker.id && r.outcome === "SUCCESS")).toBe(true);

			// Archived, then the name is taken by a new live flavor: restoring would make two live flavors of one name.
			expect((await app.request("DELETE", path(id), { token: exec.token })).status).toBe(200);
			expect(
				(
					await app.request("POST", `${FAMILIES[0]}/flavors`, {
						token: exec.token,
						body: { name: "rum raisin", category: "CREAM", price: 310 },
					})
				).status,
			).toBe(201);
			const clash = await app.request("POST", path(id, "/restore"), { token: exec.token });
			expect([clash.status, clash.body.error.code]).toEqual([409, "ALREADY_EXISTS"]);
		});
	});
});
