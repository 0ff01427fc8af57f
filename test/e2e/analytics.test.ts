/**
 * Analytics through the gateway with the real auth, inventory and sales services: real POS
 * sales feed the aggregates by events; figures, role scoping, date validation, replayed
 * envelopes and reports are checked against exactly what was sold.
 */
import { randomUUID } from "node:crypto";
import { Client } from "pg";
import type { Context } from "moleculer";
import { startTestApp, type TestApp, type TestUser } from "../helpers/app";
import type { EventEnvelope } from "../../lib/events";
import { buildWorld, ok, setStock, type SalesWorld } from "../helpers/sales-world";
import { firstRun, nextRun, periodBefore } from "../../services/analytics/reports";
import { closeDelivery, deliverDurably } from "../helpers/events";

const A = "/api/v1/analytics";
const today = new Date().toISOString().slice(0, 10);

interface Sales {
	revenue: number;
	transactionCount: number;
	itemsSold: number;
	averageBasket: number;
	byShop: { shopId: string; shopName: string | null; revenue: number; transactionCount: number }[];
}

describe("analytics through the gateway", () => {
	let app: TestApp;
	let w: SalesWorld;
	const saleEvents: EventEnvelope<"SALE_COMPLETED">[] = [];
	const get = <T>(path: string, user: TestUser, status = 200) => ok<T>(app.request("GET", `${A}${path}`, { token: user.token }), status);
	const waitFor = async <T>(fn: () => Promise<T>, done: (v: T) => boolean, what: string): Promise<T> => {
		const deadline = Date.now() + 5000;
		for (;;) {
			const v = await fn();
			if (done(v)) return v;
			if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: last ${JSON.stringify(v)}`);
			await new Promise((r) => setTimeout(r, 50));
		}
	};

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "inventory", "sales", "analytics"] });
		await app.broker.createService({
			name: "analytics-test-spy",
			events: { SALE_COMPLETED: (ctx: Context<EventEnvelope<"SALE_COMPLETED">>) => void saleEvents.push(ctx.params) },
		});
		w = await buildWorld(app);
		const [vanilla, hazelnut] = w.flavors;
		await setStock(app, w.clerk, w.shopId, [
			{ flavorId: vanilla.id, quantity: 50 },
			{ flavorId: hazelnut.id, quantity: 50 },
		]);
		await setStock(app, w.otherClerk, w.otherShopId, [{ flavorId: vanilla.id, quantity: 50 }]);
		const sale = (clerk: TestUser, shopId: string, items: { flavorId: string; quantity: number }[], patronId?: string) =>
			ok(
				app.request("POST", `/api/v1/sales/shops/${shopId}/pos-transactions`, {
					token: clerk.token,
					body: { items, paymentMethod: "CARD", ...(patronId ? { patronId } : {}) },
				}),
				201,
			);
		// Shop 1: 2×250 + 1×300 = 800 and 1×300 = 300; shop 2: 3×250 = 750 (patron's purchase). Chain: 1850, 3 transactions, 7 items.
		await sale(w.clerk, w.shopId, [
			{ flavorId: vanilla.id, quantity: 2 },
			{ flavorId: hazelnut.id, quantity: 1 },
		]);
		await sale(w.clerk, w.shopId, [{ flavorId: hazelnut.id, quantity: 1 }]);
		await sale(w.otherClerk, w.otherShopId, [{ flavorId: vanilla.id, quantity: 3 }], w.patron.id);
		await waitFor(
			() => get<Sales>("/analytics/sales", w.exec),
			(s) => s.transactionCount === 3,
			"3 sales in analytics",
		);
	}, 30_000);
	afterAll(async () => {
		await closeDelivery();
		await app?.stop();
	});

	it("sales, revenue, trends and product performance match the sales made", async () => {
		const s = await get<Sales>(`/analytics/sales?from=${today}&to=${today}`, w.exec);
		expect(s).toMatchObject({ revenue: 1850, transactionCount: 3, itemsSold: 7, averageBasket: 617 });
		expect(s.byShop.map((b) => [b.shopId, b.shopName, b.revenue, b.transactionCount])).toEqual([
			[w.shopId, "Gelato Centrale", 1100, 2],
			[w.otherShopId, "Gelato Porto", 750, 1],
		]);
		const p = await get<{ products: { flavorId: string; flavorName: string; salesVolume: number; revenue: number }[] }>(
			"/analytics/sales/products",
			w.exec,
		);
		expect(p.products.map((x) => [x.flavorName, x.salesVolume, x.revenue])).toEqual([
			["Vanilla", 5, 1250],
			["Hazelnut", 2, 600],
		]);
		const t = await get<{ points: { period: string; revenue: number; transactionCount: number }[] }>(
			`/analytics/sales/trends?to=${today}`,
			w.exec,
		);
		expect(t.points).toHaveLength(30);
		expect(t.points[29]).toEqual({ period: today, revenue: 1850, transactionCount: 3, itemsSold: 7 });
		expect(t.points.slice(0, 29).every((x) => x.revenue === 0)).toBe(true);
		const monday = new Date(Date.parse(today) - ((new Date(today).getUTCDay() + 6) % 7) * 86_400_000).toISOString().slice(0, 10);
		const wk = await get<{ points: { period: string; revenue: number }[] }>(
			`/analytics/sales/trends?interval=week&from=${today}&to=${today}`,
			w.exec,
		);
		expect(wk.points).toEqual([{ period: monday, revenue: 1850, transactionCount: 3, itemsSold: 7 }]);
		const r = await get<{ revenue: number; previousPeriodRevenue: number; growthPercent: null; byPaymentMethod: unknown[] }>(
			"/analytics/revenue",
			w.exec,
		);
		expect(r).toMatchObject({
			revenue: 1850,
			previousPeriodRevenue: 0,
			growthPercent: null,
			byPaymentMethod: [{ paymentMethod: "CARD", revenue: 1850, transactionCount: 3 }],
		});
		const k = await get<{ today: { revenue: number; transactionCount: number } }>("/dashboard/kpis", w.exec);
		expect(k.today).toMatchObject({ date: today, revenue: 1850, transactionCount: 3 });
		expect((await app.request("GET", "/api/analytics/dashboard/kpis", { token: w.exec.token })).status).toBe(200);
		const rt = await get<{ transactionCount: number; revenue: number; latest: unknown[] }>("/dashboard/real-time?minutes=60", w.exec);
		expect([rt.transactionCount, rt.revenue, rt.latest.length]).toEqual([3, 1850, 3]);
	});

	it("location views: per shop, map shares and a dense hour heatmap", async () => {
		await ok(
			app.request("POST", "/api/v1/sales/feedback", {
				token: w.patron.token,
				body: { shopId: w.otherShopId, rating: 4, comment: "Great" },
			}),
			201,
		);
		const l = await waitFor(
			() =>
				get<{
					shops: {
						shopName: string;
						address: string;
						revenue: number;
						averageBasket: number;
						averageRating: number | null;
						reviewCount: number;
					}[];
				}>("/analytics/locations", w.exec),
			(v) => v.shops.some((x) => x.reviewCount === 1),
			"the review",
		);
		expect(l.shops.map((s) => [s.averageRating, s.reviewCount])).toEqual([
			[null, 0],
			[4, 1],
		]);
		expect(l.shops.map((s) => [s.shopName, s.address, s.revenue, s.averageBasket])).toEqual([
			["Gelato Centrale", "Gelato Centrale street 1", 1100, 550],
			["Gelato Porto", "Gelato Porto street 1", 750, 750],
		]);
		// No shop has coordinates here: the map lists them apart (the GeoJSON map itself: analytics-honest.test.ts).
		const m = await get<{ type: string; totalRevenue: number; features: unknown[]; unlocated: { revenue: number }[] }>(
			"/analytics/locations/map",
			w.exec,
		);
		expect([m.type, m.totalRevenue, m.features, m.unlocated.map((p) => p.revenue)]).toEqual([
			"FeatureCollection",
			1850,
			[],
			[1100, 750],
		]);
		const h = await get<{ rows: { shopId: string; cells: { bucket: number; revenue: number }[] }[] }>(
			"/analytics/locations/hours?by=hour",
			w.exec,
		);
		expect(h.rows).toHaveLength(2);
		for (const row of h.rows) expect(row.cells.map((c) => c.bucket)).toEqual([...Array(24).keys()]);
		expect(h.rows.flatMap((r) => r.cells).reduce((n, c) => n + c.revenue, 0)).toBe(1850);
		const wd = await get<{ rows: { cells: unknown[] }[] }>("/analytics/locations/hours?by=weekday", w.exec);
		expect(wd.rows[0].cells).toHaveLength(7);
	});

	it("scopes by role: a clerk sees their shops only, dashboards are per own role (ADMIN any)", async () => {
		const s = await get<Sales>("/analytics/sales", w.clerk);
		expect([s.revenue, s.transactionCount, s.byShop.map((b) => b.shopId)]).toEqual([1100, 2, [w.shopId]]);
		await get(`/analytics/sales?shopId=${w.otherShopId}`, w.clerk, 403);
		await get("/analytics/sales", w.patron, 403);
		await get("/analytics/inventory", w.clerk, 403);
		await get("/dashboard/EXECUTIVE", w.clerk, 403);
		await get("/reports/scheduled", w.clerk, 403);
		const ck = await get<{ today: { revenue: number }; activeUsers24h: number | null }>("/dashboard/kpis", w.clerk);
		expect([ck.today.revenue, ck.activeUsers24h]).toEqual([1100, null]);
		const cd = await get<{ revenue: number; shopIds: string[] }>("/dashboard/CLERK", w.clerk);
		expect([cd.revenue, cd.shopIds]).toEqual([1100, [w.shopId]]);
		const ed = await get<{ revenue: number; topShops: { shopName: string }[] }>("/dashboard/EXECUTIVE", w.exec);
		expect([ed.revenue, ed.topShops.map((x) => x.shopName)]).toEqual([1850, ["Gelato Centrale", "Gelato Porto"]]);
		const pd = await waitFor(
			() => get<{ purchases: number; totalSpent: number; recent: { type: string }[] }>("/dashboard/PATRON", w.patron),
			(v) => v.recent.some((r) => r.type === "LOGIN"),
			"patron login activity",
		);
		expect([pd.purchases, pd.totalSpent]).toEqual([1, 750]);
		expect(pd.recent.map((r) => r.type)).toContain("PURCHASE");
		const admin = await app.createUser("ADMIN");
		const ac = await get<{ revenue: number }>("/dashboard/CLERK", admin);
		expect(ac.revenue).toBe(1850);
		await get("/dashboard/NOBODY", admin, 422);
		const md = await get<{ factoryIds: string[] }>("/dashboard/MANUFACTURER", w.maker);
		// The factory is known to analytics from its BUDGET_ALLOCATION_UPDATED event.
		expect(md.factoryIds).toEqual([w.factoryId]);
	});

	it("publishes every analytics route in the OpenAPI document", async () => {
		const doc = await ok<{ paths: Record<string, unknown> }>(app.request("GET", "/api/v1/openapi.json"));
		const paths = Object.keys(doc.paths).filter((p) => p.startsWith(`${A}/`));
		for (const p of [
			"/dashboard/kpis",
			"/dashboard/real-time",
			"/dashboard/{role}",
			"/analytics/sales/trends",
			"/analytics/locations/heatmap",
			"/reports/generate",
			"/reports/{reportId}",
			"/reports/scheduled",
		]) {
			expect(paths).toContain(`${A}${p}`);
		}
	});

	it("rejects bad date ranges with 422", async () => {
		await get("/analytics/sales?from=2026-03-10&to=2026-03-01", w.exec, 422);
		await get("/analytics/sales?from=2026-02-30&to=2026-03-01", w.exec, 422);
		await get("/analytics/sales?from=2024-01-01&to=2026-01-01", w.exec, 422);
		await get("/analytics/sales?from=yesterday", w.exec, 422);
		await get("/analytics/sales/trends?interval=month", w.exec, 422);
		const res = await app.request("POST", `${A}/reports/generate`, {
			token: w.exec.token,
			body: { type: "SALES", from: "2026-05-02", to: "2026-05-01" },
		});
		expect(res.status).toBe(422);
	});

	it("generates, stores, fetches and schedules reports", async () => {
		const created = await ok<{ id: string; type: string; result: { revenue: number; byShop: unknown[] } }>(
			app.request("POST", `${A}/reports/generate`, {
				token: w.exec.token,
				body: { type: "SALES", from: today, to: today, filters: { shopId: w.shopId } },
			}),
			201,
		);
		expect([created.type, created.result.revenue, created.result.byShop.length]).toEqual(["SALES", 1100, 1]);
		const fetched = await get<{ id: string; from: string; to: string; result: { revenue: number } }>(`/reports/${created.id}`, w.exec);
		expect([fetched.id, fetched.from, fetched.to, fetched.result.revenue]).toEqual([created.id, today, today, 1100]);
		await get(`/reports/${randomUUID()}`, w.exec, 404);
		expect(
			(await app.request("POST", `${A}/reports/generate`, { token: w.clerk.token, body: { type: "SALES", from: today, to: today } }))
				.status,
		).toBe(403);
		expect(
			(await app.request("POST", `${A}/reports/schedule`, { token: w.exec.token, body: { type: "SALES", interval: "HOURLY" } }))
				.status,
		).toBe(422);
		const sched = await ok<{ id: string; interval: string; nextRunAt: string }>(
			app.request("POST", `${A}/reports/schedule`, { token: w.exec.token, body: { type: "REVENUE", interval: "DAILY" } }),
			201,
		);
		const tomorrow = new Date(Date.parse(today) + 86_400_000).toISOString();
		expect(sched.nextRunAt).toBe(tomorrow);
		// Nothing is due now; at tomorrow 00:00 UTC the run covers today.
		expect(await app.broker.call("analytics.reports.runDue", {})).toEqual({ generated: [] });
		const run = await app.broker.call<{ generated: string[] }, { now: string }>("analytics.reports.runDue", { now: tomorrow });
		expect(run.generated).toHaveLength(1);
		const rep = await get<{ scheduleId: string; type: string; from: string; to: string; result: { revenue: number } }>(
			`/reports/${run.generated[0]}`,
			w.exec,
		);
		expect(rep).toMatchObject({ scheduleId: sched.id, type: "REVENUE", from: today, to: today, result: { revenue: 1850 } });
		const list = await get<{ rows: { id: string; lastRunAt: string; nextRunAt: string }[] }>("/reports/scheduled", w.exec);
		const row = list.rows.find((r) => r.id === sched.id);
		expect(row).toMatchObject({ lastRunAt: tomorrow, nextRunAt: new Date(Date.parse(tomorrow) + 86_400_000).toISOString() });
	});

	it("inventory analytics from STOCK_REGISTERED and STOCK_WRITTEN_OFF: production, turnover, waste; manufacturers scoped to their factories", async () => {
		const [vanilla, hazelnut] = w.flavors;
		const day = (offset: number) => new Date(Date.parse(today) + offset * 86_400_000).toISOString().slice(0, 10);
		const register = (body: Record<string, unknown>) =>
			ok(app.request("POST", `/api/v1/inventory/factories/${w.factoryId}/stock-items`, { token: w.maker.token, body }), 201);
		await register({ flavorId: vanilla.id, batchId: "AN-V1", quantity: 20, cost: 2000, productionDate: today, expiryDate: day(90) });
		const h1 = await register({
			flavorId: hazelnut.id,
			batchId: "AN-H1",
			quantity: 10,
			cost: 1500,
			productionDate: day(-10),
			expiryDate: day(-1),
		});
		await app.broker.call("inventory.expiry.scan", { asOf: today });
		await ok(
			app.request("POST", `/api/v1/inventory/stock-items/${(h1 as { id: string }).id}/expiry`, {
				token: w.maker.token,
				body: { writeOff: true, reason: "Expired in the freezer" },
			}),
		);
		const inv = await waitFor(
			() =>
				get<{ production: { batches: number; units: number; cost: number }; byFactory: { factoryId: string }[] }>(
					"/analytics/inventory",
					w.maker,
				),
			(v) => v.production.batches === 2,
			"2 registered batches",
		);
		expect(inv.production).toEqual({ batches: 2, units: 30, cost: 20 * 2000 + 10 * 1500 });
		expect(inv.byFactory.map((f) => f.factoryId)).toEqual([w.factoryId]);
		// The shops' sales were of stock no invoice from this factory brought them: nothing is credited to it.
		const t = await get<{ flavors: { flavorName: string; produced: number; sold: number; turnover: number }[] }>(
			"/analytics/inventory/turnover",
			w.maker,
		);
		expect(t.flavors.map((f) => [f.flavorName, f.produced, f.sold, f.turnover]).sort()).toEqual([
			["Hazelnut", 10, 0, 0],
			["Vanilla", 20, 0, 0],
		]);
		const waste = await waitFor(
			() =>
				get<{ expiredUnits: number; expiredValue: number; items: { flavorName: string }[] }>("/analytics/inventory/waste", w.maker),
			(v) => v.expiredUnits > 0,
			"the write-off",
		);
		expect([waste.expiredUnits, waste.expiredValue, waste.items.map((i) => i.flavorName)]).toEqual([10, 10 * 1500, ["Hazelnut"]]);
		await get(`/analytics/inventory?factoryId=${randomUUID()}`, w.maker, 403);
		const other = await app.createUser("MANUFACTURER");
		const empty = await get<{ production: { batches: number } }>("/analytics/inventory", other);
		expect(empty.production.batches).toBe(0);
		const ex = await get<{ production: { units: number } }>(`/analytics/inventory?factoryId=${w.factoryId}`, w.exec);
		expect(ex.production.units).toBe(30);
		const md = await get<{ production: { units: number }; waste: { expiredUnits: number } }>("/dashboard/MANUFACTURER", w.maker);
		expect([md.production.units, md.waste.expiredUnits]).toEqual([30, 10]);
	});

	it("a replayed SALE_COMPLETED envelope (same id) or the same transaction in a new envelope does not double count", async () => {
		expect(saleEvents).toHaveLength(3);
		const original = saleEvents[0];
		await deliverDurably(app.db.url, original);
		const reissued = { ...original, id: randomUUID() };
		await deliverDurably(app.db.url, reissued);
		// A genuinely new sale in the same way proves the emits above were handled (and by then).
		const extra: EventEnvelope<"SALE_COMPLETED"> = {
			...original,
			id: randomUUID(),
			data: { ...original.data, transactionId: randomUUID(), totalAmount: 100, items: [] },
		};
		await deliverDurably(app.db.url, extra);
		const s = await waitFor(
			() => get<Sales>(`/analytics/sales?shopId=${w.shopId}`, w.exec),
			(v) => v.transactionCount === 3,
			"the extra sale",
		);
		expect([s.revenue, s.transactionCount]).toEqual([1200, 3]);
		// The re-issued envelope was consumed (recorded) and still changed nothing.
		const pg = new Client({ connectionString: app.db.url });
		await pg.connect();
		try {
			const seen = await pg.query("SELECT event_id FROM analytics.processed_events WHERE event_id = ANY($1::uuid[])", [
				[original.id, reissued.id, extra.id],
			]);
			expect(seen.rowCount).toBe(3);
		} finally {
			await pg.end();
		}
		const again = await get<Sales>(`/analytics/sales?shopId=${w.shopId}`, w.exec);
		expect([again.revenue, again.transactionCount]).toEqual([1200, 3]);
	});
});

describe("report schedule arithmetic", () => {
	it("DAILY runs at the next UTC midnight for the day before; WEEKLY on Monday for the 7 days before; missed runs skip ahead", () => {
		expect(firstRun("DAILY", new Date("2026-06-03T15:00:00Z")).toISOString()).toBe("2026-06-04T00:00:00.000Z");
		expect(firstRun("WEEKLY", new Date("2026-06-03T15:00:00Z")).toISOString()).toBe("2026-06-08T00:00:00.000Z"); // Wednesday → Monday
		expect(firstRun("WEEKLY", new Date("2026-06-07T23:59:00Z")).toISOString()).toBe("2026-06-08T00:00:00.000Z");
		expect(firstRun("WEEKLY", new Date("2026-06-08T00:00:00Z")).toISOString()).toBe("2026-06-15T00:00:00.000Z");
		expect(periodBefore("DAILY", new Date("2026-06-04T00:00:00Z"))).toEqual({ from: "2026-06-03", to: "2026-06-03" });
		expect(periodBefore("WEEKLY", new Date("2026-06-08T00:00:00Z"))).toEqual({ from: "2026-06-01", to: "2026-06-07" });
		expect(nextRun("DAILY", new Date("2026-06-04T00:00:00Z"), new Date("2026-06-04T00:00:30Z")).toISOString()).toBe(
			"2026-06-05T00:00:00.000Z",
		);
		expect(nextRun("DAILY", new Date("2026-06-04T00:00:00Z"), new Date("2026-06-09T12:00:00Z")).toISOString()).toBe(
			"2026-06-10T00:00:00.000Z",
		);
		expect(nextRun("WEEKLY", new Date("2026-06-08T00:00:00Z"), new Date("2026-06-22T00:00:00Z")).toISOString()).toBe(
			"2026-06-29T00:00:00.000Z",
		);
	});
});
