/**
 * Waste forecast and reorder suggestions (issue #15, acceptance 5). History is generated
 * with SQL (sales with past timestamps and a weekday pattern plus noise), the last 7 days
 * are held out, and the forecast made as of the start of the hold-out is compared with what
 * was really sold. Lots are inserted with SQL (the delivery flow that creates them is
 * another branch's work). The reorder suggestion is checked against a hand-computed case.
 */
import { randomUUID } from "node:crypto";
import { Client } from "pg";
import { startTestApp, type TestApp } from "../helpers/app";
import { buildWorld, createFlavor, createShop, assignClerk, ok, type SalesWorld } from "../helpers/sales-world";

const DAY_MS = 86_400_000;
const day = (offset: number) => new Date(Date.now() + offset * DAY_MS).toISOString().slice(0, 10);
/** Mon..Sun demand shape. */
const PATTERN = [0.7, 0.8, 0.9, 1.0, 1.3, 1.7, 1.5];
const weekday = (d: string) => (new Date(`${d}T00:00:00Z`).getUTCDay() + 6) % 7;

/** Deterministic noise: the same history every run. */
function prng(seed: number) {
	return () => {
		seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
		return seed / 2_147_483_648;
	};
}

describe("waste forecast and reorder suggestions", () => {
	let app: TestApp;
	let w: SalesWorld;
	let pg: Client;

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "inventory", "sales", "analytics"] });
		w = await buildWorld(app);
		pg = new Client({ connectionString: app.db.url });
		await pg.connect();
	}, 60_000);
	afterAll(async () => {
		await pg?.end();
		await app?.stop();
	});

	/** One sale per (shop, flavor, day) at noon UTC with that day's units. */
	const insertSales = async (shopId: string, rows: { flavorId: string; day: string; units: number }[]) => {
		const sales = rows.filter((r) => r.units > 0);
		await pg.query(
			`WITH v AS MATERIALIZED (SELECT gen_random_uuid() AS id, * FROM unnest($2::uuid[], $3::date[], $4::int[]) AS v(flavor_id, day, units)),
			 t AS (INSERT INTO sales.transactions (id, shop_id, clerk_id, total_amount, payment_method, occurred_at, created_at)
			       SELECT v.id, $1, $5, v.units * 300, 'CARD', v.day + time '12:00' AT TIME ZONE 'UTC', v.day + time '12:00' AT TIME ZONE 'UTC' FROM v
			       RETURNING id)
			 INSERT INTO sales.transaction_items (transaction_id, line_no, flavor_id, flavor_name, quantity, unit_price, line_total)
			 SELECT v.id, 1, v.flavor_id, 'generated', v.units, 300, v.units * 300 FROM t JOIN v ON v.id = t.id`,
			[shopId, sales.map((r) => r.flavorId), sales.map((r) => r.day), sales.map((r) => r.units), w.clerk.id],
		);
	};
	const insertLots = async (
		shopId: string,
		rows: { flavorId: string; expiryDate: string | null; quantity: number; status?: string; unitCost?: number }[],
	) => {
		await pg.query("BEGIN");
		const ids: string[] = [];
		for (const r of rows) {
			const tracked = r.expiryDate !== null;
			const res = await pg.query<{ id: string }>(
				`INSERT INTO sales.stock_lots (shop_id, flavor_id, stock_item_id, batch_label, factory_id, expiry_date, unit_cost, quantity, status)
				 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
				[
					shopId,
					r.flavorId,
					tracked ? randomUUID() : null,
					tracked ? `B-${ids.length}` : null,
					tracked ? w.factoryId : null,
					r.expiryDate,
					r.unitCost ?? 100,
					r.quantity,
					r.status ?? "SELLABLE",
				],
			);
			ids.push(res.rows[0].id);
		}
		const totals = new Map<string, number>();
		for (const r of rows) totals.set(r.flavorId, (totals.get(r.flavorId) ?? 0) + r.quantity);
		for (const [flavorId, quantity] of totals) {
			await pg.query(
				`INSERT INTO sales.shop_inventory (shop_id, flavor_id, quantity, reorder_threshold) VALUES ($1, $2, $3, 0)
				 ON CONFLICT (shop_id, flavor_id) DO UPDATE SET quantity = sales.shop_inventory.quantity + EXCLUDED.quantity`,
				[shopId, flavorId, quantity],
			);
		}
		await pg.query("COMMIT");
		return ids;
	};

	it("backtest: expected sales until expiry, forecast 7 days back, are within 15 % of what sold (weighted absolute error)", async () => {
		const rand = prng(15);
		const bases = new Map(w.flavors.map((f, i) => [f.id, [10, 6, 14][i]]));
		const history: { flavorId: string; day: string; units: number }[] = [];
		for (let offset = -35; offset <= -1; offset++) {
			for (const [flavorId, base] of bases) {
				const d = day(offset);
				history.push({ flavorId, day: d, units: Math.max(0, Math.round(base * PATTERN[weekday(d)] * (0.75 + 0.5 * rand()))) });
			}
		}
		await insertSales(w.shopId, history);
		const asOf = day(-7);
		// Per flavor: a lot expiring after 3 held-out days and one at the end of the hold-out.
		const lots = w.flavors.flatMap((f) => [
			{ flavorId: f.id, expiryDate: day(-5), quantity: 40 },
			{ flavorId: f.id, expiryDate: day(-1), quantity: 120 },
		]);
		const lotIds = await insertLots(w.shopId, lots);

		const res = await app.request("GET", `/api/v1/analytics/inventory/waste-forecast?shopId=${w.shopId}&days=7&asOf=${asOf}`, {
			token: w.clerk.token,
		});
		expect(res.status).toBe(200);
		const forecast = res.body as {
			asOf: string;
			lots: {
				lotId: string;
				flavorId: string;
				flavorName: string;
				expiryDate: string;
				onHand: number;
				expectedSales: number;
				projectedUnsold: number;
				valueAtCost: number;
				action: string;
			}[];
		};
		expect(forecast.asOf).toBe(asOf);
		expect(forecast.lots.map((l) => l.lotId).sort()).toEqual([...lotIds].sort());

		let absError = 0;
		let actualTotal = 0;
		let flatError = 0;
		for (const lot of forecast.lots) {
			const actual = history
				.filter((h) => h.flavorId === lot.flavorId && h.day >= asOf && h.day <= lot.expiryDate)
				.reduce((s, h) => s + h.units, 0);
			const window = history.filter((h) => h.flavorId === lot.flavorId && h.day >= day(-35) && h.day < asOf);
			const flat = (window.reduce((s, h) => s + h.units, 0) / 28) * ((Date.parse(lot.expiryDate) - Date.parse(asOf)) / DAY_MS + 1);
			console.log(
				`${lot.flavorName} lot expiring ${lot.expiryDate}: expected ${lot.expectedSales}, sold ${actual} (flat average would say ${flat.toFixed(1)})`,
			);
			absError += Math.abs(lot.expectedSales - actual);
			flatError += Math.abs(flat - actual);
			actualTotal += actual;
			expect(lot.flavorName).toBe(w.flavors.find((f) => f.id === lot.flavorId)!.name);
		}
		const wape = absError / actualTotal;
		console.log(
			`backtest over ${forecast.lots.length} lots: weighted absolute error ${(wape * 100).toFixed(1)} % (weekday-weighted), ${((flatError / actualTotal) * 100).toFixed(1)} % (flat average)`,
		);
		expect(wape).toBeLessThan(0.15);

		// The projection follows from the expected sales: FEFO, the earlier lot first, then the later one.
		for (const f of w.flavors) {
			const [early, late] = forecast.lots.filter((l) => l.flavorId === f.id).sort((a, b) => a.expiryDate.localeCompare(b.expiryDate));
			const earlySold = Math.min(40, early.expectedSales);
			expect(early.projectedUnsold).toBeCloseTo(40 - earlySold, 1);
			expect(late.projectedUnsold).toBeCloseTo(120 - Math.min(120, Math.max(0, late.expectedSales - earlySold)), 1);
			expect(late.valueAtCost).toBe(Math.round(late.projectedUnsold * 100));
			for (const l of [early, late])
				expect(l.action).toBe(l.projectedUnsold === 0 ? "NONE" : l.projectedUnsold * 2 <= l.onHand ? "MARKDOWN" : "ORDER_LESS");
		}
	});

	it("suggests moving leftovers to a shop that sells the flavor faster", async () => {
		const flavor = await createFlavor(app, w.maker, { name: "Mango", price: 300 });
		const slow = Array.from({ length: 28 }, (_, i) => ({ flavorId: flavor.id, day: day(-28 + i), units: 1 }));
		const fast = Array.from({ length: 28 }, (_, i) => ({ flavorId: flavor.id, day: day(-28 + i), units: 10 }));
		await insertSales(w.shopId, slow);
		await insertSales(w.otherShopId, fast);
		const [lotId] = await insertLots(w.shopId, [{ flavorId: flavor.id, expiryDate: day(2), quantity: 20 }]);
		const res = await ok<{
			lots: { lotId: string; expectedSales: number; projectedUnsold: number; action: string; transferToShopId: string | null }[];
		}>(app.request("GET", `/api/v1/analytics/inventory/waste-forecast?shopId=${w.shopId}&days=3`, { token: w.exec.token }));
		const lot = res.lots.find((l) => l.lotId === lotId)!;
		// 1 a day for today and the next two days: 3 sell, 17 are left; the other shop expects 30 and holds none.
		expect(lot).toMatchObject({ expectedSales: 3, projectedUnsold: 17, action: "TRANSFER", transferToShopId: w.otherShopId });
	});

	it("reorder suggestion: the hand-computed case", async () => {
		const clerk = await app.createUser("CLERK");
		const shopId = await createShop(app, w.exec, "Gelato Nuovo");
		await assignClerk(app, w.exec, shopId, clerk);
		const [pistachio, melon] = [
			await createFlavor(app, w.maker, { name: "Pistachio", price: 320 }),
			await createFlavor(app, w.maker, { name: "Melon", price: 280 }),
		];
		// 3 a day for the 28 days before today: 3 a day on every weekday, 21 in the next 7 days.
		await insertSales(
			shopId,
			Array.from({ length: 28 }, (_, i) => ({ flavorId: pistachio.id, day: day(-28 + i), units: 3 })),
		);
		// A sale 29 days ago is outside the window and must not count.
		await insertSales(shopId, [{ flavorId: pistachio.id, day: day(-29), units: 50 }]);
		await insertLots(shopId, [
			{ flavorId: pistachio.id, expiryDate: day(1), quantity: 4 }, // today + tomorrow: 6 expected, sells all 4
			{ flavorId: pistachio.id, expiryDate: day(2), quantity: 10 }, // 9 expected through day 2, 4 taken: sells 5
			{ flavorId: pistachio.id, expiryDate: null, quantity: 3 }, // UNTRACKED: sells all 3 before the week ends
			{ flavorId: pistachio.id, expiryDate: day(5), quantity: 50, status: "QUARANTINED" }, // not sellable
			{ flavorId: pistachio.id, expiryDate: day(-1), quantity: 7 }, // expired
			{ flavorId: melon.id, expiryDate: day(10), quantity: 5 }, // no sales: nothing to order
		]);
		const res = await app.request("GET", `/api/v1/sales/shops/${shopId}/reorder-suggestions?days=7`, { token: clerk.token });
		expect(res.status).toBe(200);
		expect(res.body.items).toEqual([
			{ flavorId: pistachio.id, velocityPerDay: 3, expectedSales: 21, usableStock: 12, suggestedQuantity: 21 - 12 },
			{ flavorId: melon.id, velocityPerDay: 0, expectedSales: 0, usableStock: 0, suggestedQuantity: 0 },
		]);
		const twoDays = await ok<{ items: { flavorId: string; suggestedQuantity: number }[] }>(
			app.request("GET", `/api/v1/sales/shops/${shopId}/reorder-suggestions?days=2`, { token: clerk.token }),
		);
		// 6 expected in 2 days; the first lot sells 4 and the second 2 of its 10: nothing to order.
		expect(twoDays.items.find((i) => i.flavorId === pistachio.id)!.suggestedQuantity).toBe(0);
	});

	it("is for the shop's staff, executives and admins only", async () => {
		const forecast = (token: string) => app.request("GET", `/api/v1/analytics/inventory/waste-forecast?shopId=${w.shopId}`, { token });
		const reorder = (token: string) => app.request("GET", `/api/v1/sales/shops/${w.shopId}/reorder-suggestions`, { token });
		expect((await forecast(w.otherClerk.token)).status).toBe(403);
		expect((await forecast(w.patron.token)).status).toBe(403);
		expect((await forecast(w.maker.token)).status).toBe(403);
		expect((await reorder(w.otherClerk.token)).status).toBe(403);
		expect((await reorder(w.patron.token)).status).toBe(403);
		expect((await forecast(w.exec.token)).status).toBe(200);
		expect((await reorder(w.clerk.token)).status).toBe(200);
		expect(
			(
				await app.request("GET", `/api/v1/analytics/inventory/waste-forecast?shopId=${w.shopId}&asOf=${day(3)}`, {
					token: w.exec.token,
				})
			).status,
		).toBe(422);
		expect(
			(await app.request("GET", `/api/v1/analytics/inventory/waste-forecast?shopId=${w.shopId}&days=61`, { token: w.exec.token }))
				.status,
		).toBe(422);
	});
});
