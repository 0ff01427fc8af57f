/** Inventory over HTTP: stock batches, movements, write-offs, the expiry scan and factory analytics. */
import { startTestApp, type TestApp, type TestUser } from "../helpers/app";
import { UNKNOWN_ID, createFactory, createFlavor, day, registerBatch, sqlRows } from "../integration/inventory/helpers";

const V1 = "/api/v1/inventory";
const V0 = "/api/inventory";

describe("inventory: stock, expiry and analytics", () => {
	let app: TestApp;
	let maker: TestUser;
	let otherMaker: TestUser;
	let exec: TestUser;
	let clerk: TestUser;
	let factoryId: string;
	let otherFactoryId: string;
	let vanilla: string;
	let mango: string;

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "inventory"], env: { EXPIRY_WARNING_DAYS: "3", EXPIRY_SCAN_INTERVAL_SEC: "3600" } });
		[maker, otherMaker, exec, clerk] = await Promise.all([
			app.createUser("MANUFACTURER"),
			app.createUser("MANUFACTURER"),
			app.createUser("EXECUTIVE"),
			app.createUser("CLERK"),
		]);
		factoryId = await createFactory(app, exec.token, maker.id, { budgetAllocated: 1_000_000 });
		otherFactoryId = await createFactory(app, exec.token, otherMaker.id);
		vanilla = await createFlavor(app, maker.token, { name: "Vanilla", price: 300, allergens: ["milk"] });
		mango = await createFlavor(app, maker.token, { name: "Mango", category: "SORBET", price: 280 });
	});
	afterAll(async () => app?.stop());

	const count = async (sql: string, params: unknown[] = []) =>
		(await sqlRows<{ n: number }>(app, `SELECT count(*)::int AS n FROM ${sql}`, params))[0].n;

	describe("registering batches", () => {
		it("registers a batch (factory's MANUFACTURER, EXECUTIVE) under both path families and publishes STOCK_REGISTERED", async () => {
			const body = { flavorId: vanilla, batchId: "V-001", quantity: 100, cost: 120, productionDate: day(-5), expiryDate: day(20) };
			const res = await app.request("POST", `${V1}/factories/${factoryId}/stock-items`, { token: maker.token, body });
			expect(res.status).toBe(201);
			expect(res.headers.get("location")).toBe(`/api/v1/inventory/stock-items/${res.body.id}`);
			expect(res.body).toMatchObject({
				factoryId,
				flavorId: vanilla,
				batchId: "V-001",
				quantity: 100,
				initialQuantity: 100,
				cost: 120,
				value: 12_000,
				status: "IN_STOCK",
				warningDays: 3,
			});
			const viaExec = await app.request("POST", `${V0}/factories/${factoryId}/stock-items`, {
				token: exec.token,
				body: { ...body, batchId: "V-002", quantity: 50 },
			});
			expect(viaExec.status).toBe(201);
			const events = await sqlRows<{ envelope: { data: { batchId: string; quantity: number } } }>(
				app,
				`SELECT envelope FROM inventory.outbox WHERE type = 'STOCK_REGISTERED' ORDER BY seq`,
			);
			expect(events.map((e) => [e.envelope.data.batchId, e.envelope.data.quantity])).toEqual([
				["V-001", 100],
				["V-002", 50],
			]);
		});

		it("refuses other manufacturers, clerks and unknown factories", async () => {
			const body = { flavorId: vanilla, batchId: "X-1", quantity: 1, cost: 1, productionDate: day(-1), expiryDate: day(5) };
			for (const base of [V1, V0]) {
				expect(
					(await app.request("POST", `${base}/factories/${factoryId}/stock-items`, { token: otherMaker.token, body })).status,
				).toBe(403);
				expect((await app.request("POST", `${base}/factories/${factoryId}/stock-items`, { token: clerk.token, body })).status).toBe(
					403,
				);
				expect((await app.request("POST", `${base}/factories/${factoryId}/stock-items`, { body })).status).toBe(401);
				expect((await app.request("POST", `${base}/factories/${UNKNOWN_ID}/stock-items`, { token: exec.token, body })).status).toBe(
					404,
				);
			}
		});

		it("rejects bad input naming the field and writes nothing", async () => {
			const before = [
				await count("inventory.stock_items"),
				await count("inventory.stock_movements"),
				await count("inventory.outbox"),
			];
			const ok = { flavorId: vanilla, batchId: "BAD-1", quantity: 10, cost: 10, productionDate: day(-1), expiryDate: day(5) };
			const cases: [Record<string, unknown>, number, string][] = [
				[{ expiryDate: day(-2) }, 422, "expiryDate"],
				[{ expiryDate: day(-1) }, 422, "expiryDate"],
				[{ quantity: -5 }, 422, "quantity"],
				[{ quantity: 0 }, 422, "quantity"],
				[{ cost: -1 }, 422, "cost"],
				[{ productionDate: "2026-02-31" }, 422, "productionDate"],
				[{ productionDate: "yesterday" }, 422, "productionDate"],
				[{ flavorId: UNKNOWN_ID }, 422, "flavorId"],
				[{ batchId: "V-001" }, 409, "batchId"],
			];
			for (const [change, status, field] of cases) {
				const res = await app.request("POST", `${V1}/factories/${factoryId}/stock-items`, {
					token: maker.token,
					body: { ...ok, ...change },
				});
				expect([JSON.stringify(change), res.status]).toEqual([JSON.stringify(change), status]);
				const named = status === 422 ? res.body.error.details[0].field : res.body.error.details.field;
				expect(named).toBe(field);
			}
			expect([
				await count("inventory.stock_items"),
				await count("inventory.stock_movements"),
				await count("inventory.outbox"),
			]).toEqual(before);
			// The same batch label is fine at another factory.
			expect(
				(
					await app.request("POST", `${V1}/factories/${otherFactoryId}/stock-items`, {
						token: otherMaker.token,
						body: { ...ok, batchId: "V-001" },
					})
				).status,
			).toBe(201);
		});
	});

	describe("reading, changing and removing batches", () => {
		let itemId: string;
		beforeAll(async () => {
			itemId = await registerBatch(app, maker.token, factoryId, {
				flavorId: mango,
				batchId: "M-001",
				quantity: 40,
				cost: 90,
				productionDate: day(-3),
				expiryDate: day(30),
			});
		});

		it("lists with filters for the manager and executives only", async () => {
			for (const base of [V1, V0]) {
				const all = await app.request("GET", `${base}/factories/${factoryId}/stock-items`, { token: maker.token });
				expect(all.status).toBe(200);
				expect(all.body.rows.map((r: { batchId: string }) => r.batchId)).toEqual(["V-001", "V-002", "M-001"]);
				const byFlavor = await app.request("GET", `${base}/factories/${factoryId}/stock-items?flavorId=${mango}`, {
					token: exec.token,
				});
				expect(byFlavor.body.rows.map((r: { batchId: string }) => r.batchId)).toEqual(["M-001"]);
				const byBatch = await app.request("GET", `${base}/factories/${factoryId}/stock-items?batchId=V-002`, { token: exec.token });
				expect(byBatch.body.total).toBe(1);
				const expiring = await app.request(
					"GET",
					`${base}/factories/${factoryId}/stock-items?expiringBefore=${day(25)}&sort=-quantity`,
					{ token: maker.token },
				);
				expect(expiring.body.rows.map((r: { batchId: string }) => r.batchId)).toEqual(["V-001", "V-002"]);
				expect(
					(await app.request("GET", `${base}/factories/${factoryId}/stock-items?sort=cost`, { token: maker.token })).status,
				).toBe(422);
				expect((await app.request("GET", `${base}/factories/${factoryId}/stock-items`, { token: otherMaker.token })).status).toBe(
					403,
				);
				expect((await app.request("GET", `${base}/factories/${factoryId}/stock-items`, { token: clerk.token })).status).toBe(403);
				expect((await app.request("GET", `${base}/factories/${UNKNOWN_ID}/stock-items`, { token: exec.token })).status).toBe(404);
			}
		});

		it("records quantity changes as movements with a reason", async () => {
			const noReason = await app.request("PUT", `${V1}/stock-items/${itemId}`, { token: maker.token, body: { quantity: 35 } });
			expect(noReason.status).toBe(422);
			expect(noReason.body.error.details[0].field).toBe("reason");
			const negative = await app.request("PUT", `${V1}/stock-items/${itemId}`, {
				token: maker.token,
				body: { quantity: -1, reason: "oops" },
			});
			expect(negative.body.error.details[0].field).toBe("quantity");
			const early = await app.request("PUT", `${V1}/stock-items/${itemId}`, { token: maker.token, body: { expiryDate: day(-3) } });
			expect(early.body.error.details[0].field).toBe("expiryDate");
			expect(
				(await app.request("PUT", `${V0}/stock-items/${itemId}`, { token: otherMaker.token, body: { quantity: 1, reason: "x" } }))
					.status,
			).toBe(403);
			expect(
				(await app.request("PUT", `${V0}/stock-items/${UNKNOWN_ID}`, { token: exec.token, body: { quantity: 1, reason: "x" } }))
					.status,
			).toBe(404);
			const ok = await app.request("PUT", `${V0}/stock-items/${itemId}`, {
				token: maker.token,
				body: { quantity: 36, reason: "Recount", cost: 95 },
			});
			expect(ok.status).toBe(200);
			expect(ok.body).toMatchObject({ quantity: 36, cost: 95, initialQuantity: 40 });
			const details = await app.request("GET", `${V1}/stock-items/${itemId}`, { token: exec.token });
			expect(details.body.movements.map((m: { kind: string; delta: number; reason: string }) => [m.kind, m.delta, m.reason])).toEqual(
				[
					["ADJUSTMENT", -4, "Recount"],
					["PRODUCTION", 40, "Batch registered"],
				],
			);
			expect((await app.request("GET", `${V0}/stock-items/${itemId}`, { token: maker.token })).body.movements).toHaveLength(2);
			expect((await app.request("GET", `${V1}/stock-items/${itemId}`, { token: otherMaker.token })).status).toBe(403);
			expect((await app.request("GET", `${V0}/stock-items/${UNKNOWN_ID}`, { token: exec.token })).status).toBe(404);
		});

		it("writes units off as waste and sets the warning window", async () => {
			const none = await app.request("POST", `${V1}/stock-items/${itemId}/expiry`, { token: maker.token, body: {} });
			expect(none.status).toBe(422);
			const noReason = await app.request("POST", `${V1}/stock-items/${itemId}/expiry`, {
				token: maker.token,
				body: { writeOff: true },
			});
			expect(noReason.body.error.details[0].field).toBe("reason");
			const tooMany = await app.request("POST", `${V1}/stock-items/${itemId}/expiry`, {
				token: maker.token,
				body: { writeOff: true, quantity: 999, reason: "melted" },
			});
			expect(tooMany.body.error.details[0].field).toBe("quantity");
			expect(
				(await app.request("POST", `${V0}/stock-items/${itemId}/expiry`, { token: otherMaker.token, body: { warningDays: 5 } }))
					.status,
			).toBe(403);
			const res = await app.request("POST", `${V0}/stock-items/${itemId}/expiry`, {
				token: maker.token,
				body: { writeOff: true, quantity: 6, reason: "Freezer failure", warningDays: 7 },
			});
			expect(res.status).toBe(200);
			expect(res.body).toMatchObject({ quantity: 30, warningDays: 7, status: "IN_STOCK" });
		});

		it("removes softly (204), after which the batch is gone from reads", async () => {
			const gone = await registerBatch(app, maker.token, factoryId, {
				flavorId: mango,
				batchId: "M-GONE",
				quantity: 5,
				cost: 10,
				productionDate: day(-1),
				expiryDate: day(2),
			});
			expect((await app.request("DELETE", `${V1}/stock-items/${gone}`, { token: otherMaker.token })).status).toBe(403);
			const del = await app.request("DELETE", `${V0}/stock-items/${gone}?reason=Dropped`, { token: maker.token });
			expect(del.status).toBe(204);
			expect((await app.request("GET", `${V1}/stock-items/${gone}`, { token: maker.token })).status).toBe(404);
			expect((await app.request("DELETE", `${V1}/stock-items/${gone}`, { token: maker.token })).status).toBe(404);
			const [row] = await sqlRows<{ deleted: boolean; quantity: number }>(
				app,
				`SELECT deleted_at IS NOT NULL AS deleted, quantity FROM inventory.stock_items WHERE id = $1`,
				[gone],
			);
			expect(row).toEqual({ deleted: true, quantity: 0 });
			expect(
				await count(
					`inventory.stock_movements WHERE stock_item_id = $1 AND kind = 'REMOVAL' AND delta = -5 AND reason = 'Dropped'`,
					[gone],
				),
			).toBe(1);
			const again = await app.request("POST", `${V1}/factories/${factoryId}/stock-items`, {
				token: maker.token,
				body: { flavorId: mango, batchId: "M-GONE", quantity: 1, cost: 1, productionDate: day(-1), expiryDate: day(2) },
			});
			expect(again.status).toBe(409);
		});
	});

	describe("expiry scan", () => {
		it("emits one EXPIRY_WARNING per batch and window across repeated scans", async () => {
			const f = await createFactory(app, exec.token, maker.id);
			const soon = await registerBatch(app, maker.token, f, {
				flavorId: vanilla,
				batchId: "E-SOON",
				quantity: 10,
				cost: 10,
				productionDate: day(-10),
				expiryDate: day(2),
			});
			const later = await registerBatch(app, maker.token, f, {
				flavorId: vanilla,
				batchId: "E-LATER",
				quantity: 10,
				cost: 10,
				productionDate: day(-10),
				expiryDate: day(10),
			});
			const wide = await registerBatch(app, maker.token, f, {
				flavorId: mango,
				batchId: "E-WIDE",
				quantity: 10,
				cost: 10,
				productionDate: day(-10),
				expiryDate: day(10),
			});
			const empty = await registerBatch(app, maker.token, f, {
				flavorId: mango,
				batchId: "E-EMPTY",
				quantity: 10,
				cost: 10,
				productionDate: day(-10),
				expiryDate: day(1),
			});
			await app.request("POST", `${V1}/stock-items/${wide}/expiry`, { token: maker.token, body: { warningDays: 15 } });
			await app.request("PUT", `${V1}/stock-items/${empty}`, { token: maker.token, body: { quantity: 0, reason: "Sold out" } });

			const warnings = async () =>
				(
					await sqlRows<{
						envelope: { data: { stockItemId: string; warningDays: number; managerId: string; factoryId: string } };
					}>(
						app,
						`SELECT envelope FROM inventory.outbox WHERE type = 'EXPIRY_WARNING' AND envelope->'data'->>'factoryId' = $1 ORDER BY seq`,
						[f],
					)
				).map((r) => r.envelope.data);

			// The scan covers every factory; count this factory's warnings.
			const scan = async (asOf?: string) => {
				const before = (await warnings()).length;
				await app.broker.call("inventory.expiry.scan", asOf ? { asOf } : {});
				return (await warnings()).length - before;
			};
			expect(await scan()).toBe(2);
			for (let i = 0; i < 3; i++) expect(await scan()).toBe(0);
			let sent = await warnings();
			expect(sent.map((w) => [w.stockItemId, w.warningDays]).sort()).toEqual(
				[
					[soon, 3],
					[wide, 15],
				].sort(),
			);
			expect(sent.every((w) => w.managerId === maker.id)).toBe(true);
			const [claimed] = await sqlRows<{ n: number }>(
				app,
				`SELECT count(*)::int AS n FROM inventory.expiry_warnings WHERE stock_item_id = ANY($1::uuid[])`,
				[[soon, later, wide, empty]],
			);
			expect(claimed.n).toBe(2);

			// Later, the 10-day batch enters its 3-day window: one more warning, once.
			expect(await scan(day(8))).toBe(1);
			expect(await scan(day(9))).toBe(0);
			// A new window for a batch is a new warning.
			await app.request("POST", `${V1}/stock-items/${soon}/expiry`, { token: maker.token, body: { warningDays: 5 } });
			expect(await scan()).toBe(1);
			expect(await scan()).toBe(0);
			sent = await warnings();
			expect(sent.map((w) => [w.stockItemId, w.warningDays]).sort()).toEqual(
				[
					[soon, 3],
					[wide, 15],
					[later, 3],
					[soon, 5],
				].sort(),
			);
		});
	});

	describe("analytics", () => {
		it("shows production, stock value, expiring soon, waste and budget spent vs allocated", async () => {
			const f = await createFactory(app, exec.token, maker.id, { budgetAllocated: 100_000 });
			await registerBatch(app, maker.token, f, {
				flavorId: vanilla,
				batchId: "A-1",
				quantity: 100,
				cost: 200,
				productionDate: day(-2),
				expiryDate: day(2),
			});
			await registerBatch(app, maker.token, f, {
				flavorId: vanilla,
				batchId: "A-2",
				quantity: 50,
				cost: 200,
				productionDate: day(-1),
				expiryDate: day(40),
			});
			const m = await registerBatch(app, maker.token, f, {
				flavorId: mango,
				batchId: "A-3",
				quantity: 20,
				cost: 150,
				productionDate: day(-1),
				expiryDate: day(40),
			});
			await app.request("POST", `${V1}/stock-items/${m}/expiry`, {
				token: maker.token,
				body: { writeOff: true, quantity: 4, reason: "Damaged" },
			});
			const budget = await app.request("PUT", `${V1}/factories/${f}/budget`, {
				token: exec.token,
				body: { budgetAllocated: 40_000, reason: "Cut" },
			});
			expect(budget.status).toBe(200);

			const res = await app.request("GET", `${V1}/factories/${f}/analytics?period=month`, { token: maker.token });
			expect(res.status).toBe(200);
			const a = res.body;
			// spent = 100*200 + 50*200 + 20*150 = 33,000 of 40,000 allocated
			expect(a.budget).toEqual({
				allocated: 40_000,
				spent: 33_000,
				spentInPeriod: 33_000,
				remaining: 7_000,
				utilizationPercent: 82.5,
			});
			expect(a.production.reduce((sum: number, p: { units: number }) => sum + p.units, 0)).toBe(170);
			const byFlavor = Object.fromEntries(
				[vanilla, mango].map((id) => [
					id,
					a.production
						.filter((p: { flavorId: string }) => p.flavorId === id)
						.reduce((sum: number, p: { units: number; cost: number }) => sum + p.cost, 0),
				]),
			);
			expect(byFlavor).toEqual({ [vanilla]: 30_000, [mango]: 3_000 });
			expect(a.stock).toMatchObject({ batches: 3, units: 166, value: 100 * 200 + 50 * 200 + 16 * 150 });
			expect(a.expiringSoon).toMatchObject({ batches: 1, units: 100, value: 20_000 });
			expect(a.expiringSoon.items[0].batchId).toBe("A-1");
			expect(a.waste).toEqual({ units: 4, value: 600 });

			const hist = await app.request("GET", `${V0}/factories/${f}/budget-history`, { token: exec.token });
			expect(hist.body.rows.map((r: { budgetAllocated: number; reason: string }) => [r.budgetAllocated, r.reason])).toEqual([
				[40_000, "Cut"],
				[100_000, "Initial allocation"],
			]);
			for (const base of [V1, V0]) {
				expect((await app.request("GET", `${base}/factories/${f}/analytics`, { token: exec.token })).status).toBe(200);
				expect((await app.request("GET", `${base}/factories/${f}/analytics`, { token: otherMaker.token })).status).toBe(403);
				expect((await app.request("GET", `${base}/factories/${f}/analytics`, { token: clerk.token })).status).toBe(403);
				expect((await app.request("GET", `${base}/factories/${UNKNOWN_ID}/analytics`, { token: exec.token })).status).toBe(404);
				const bad = await app.request("GET", `${base}/factories/${f}/analytics?from=${day(1)}&to=${day(0)}`, { token: exec.token });
				expect(bad.body.error.details[0].field).toBe("from");
			}
		});
	});
});
