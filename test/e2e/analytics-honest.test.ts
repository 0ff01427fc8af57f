/**
 * Honest analytics (issue #14 §5) and the business metrics (§6) through the real gateway,
 * inventory, sales and analytics: waste is what was written off (STOCK_WRITTEN_OFF from
 * inventory's outbox and from a shop), turnover credits a factory only with sales of units its
 * batches brought to a shop (by invoice allocation), supplier performance comes from recorded
 * deliveries over the range asked, shops with coordinates are a GeoJSON map and grid, and a real
 * /metrics scrape carries the business figures and passes `promtool check metrics`.
 */
import { spawnSync } from "node:child_process";
import { Client } from "pg";
import { startTestApp, type TestApp, type TestUser } from "../helpers/app";
import { envelope } from "../../lib/events";
import { startHealthServer, type HealthServer } from "../../lib/health";
import { buildWorld, createShop, ok, setStock, type SalesWorld } from "../helpers/sales-world";
import { closeDelivery, deliverDurably } from "../helpers/events";
import { promtool } from "../helpers/promtool";

const A = "/api/v1/analytics";
const today = new Date().toISOString().slice(0, 10);
const day = (offset: number) => new Date(Date.parse(today) + offset * 86_400_000).toISOString().slice(0, 10);

interface Waste {
	writtenOffUnits: number;
	writtenOffValue: number;
	expiredUnits: number;
	atRiskUnits: number;
	byReason: { reason: string; units: number; value: number }[];
	items: { factoryId: string | null; flavorId: string; reason: string; units: number; unitsAtShops: number; value: number }[];
}
interface Turnover {
	flavors: { flavorId: string; produced: number; shipped: number; sold: number; revenue: number; turnover: number | null }[];
	byFactory: { factoryId: string; produced: number; shipped: number; sold: number; revenue: number; turnover: number | null }[];
}
interface Feature {
	type: "Feature";
	id: string;
	geometry: { type: string; coordinates: unknown };
	properties: Record<string, unknown>;
}
interface Collection {
	type: "FeatureCollection";
	features: Feature[];
	unlocated: { shopId: string; name: string | null; revenue: number }[];
	totalRevenue: number;
}

describe("honest analytics and business metrics", () => {
	let app: TestApp;
	let w: SalesWorld;
	let pg: Client;
	let health: HealthServer;
	let maker2: TestUser;
	let factory2: string;
	let thirdShop: string;
	let batch1: string;
	const get = <T>(path: string, user: TestUser, status = 200) => ok<T>(app.request("GET", `${A}${path}`, { token: user.token }), status);
	const waitFor = async <T>(fn: () => Promise<T>, done: (v: T) => boolean, what: string): Promise<T> => {
		const deadline = Date.now() + 10_000;
		for (;;) {
			const v = await fn();
			if (done(v)) return v;
			if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: last ${JSON.stringify(v)}`);
			await new Promise((r) => setTimeout(r, 100));
		}
	};

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "inventory", "sales", "analytics"] });
		pg = new Client({ connectionString: app.db.url });
		await pg.connect();
		health = await startHealthServer(app.broker, 0, "127.0.0.1");
		w = await buildWorld(app);
		maker2 = await app.createUser("MANUFACTURER");
		factory2 = (
			await ok<{ id: string }>(
				app.request("POST", "/api/v1/inventory/factories", {
					token: w.exec.token,
					body: { name: "South Factory", managerId: maker2.id },
				}),
				201,
			)
		).id;
		thirdShop = await createShop(app, w.exec, "Gelato Spree");
		const [vanilla] = w.flavors;
		// Factory 1 makes 20 vanilla at 100 ¢/unit, factory 2 makes 40 at 120 ¢/unit; they ship 10 and 30 to the first shop.
		batch1 = (
			await ok<{ id: string }>(
				app.request("POST", `/api/v1/inventory/factories/${w.factoryId}/stock-items`, {
					token: w.maker.token,
					body: { flavorId: vanilla.id, batchId: "HON-V1", quantity: 20, cost: 100, productionDate: today, expiryDate: day(2) },
				}),
				201,
			)
		).id;
		await ok(
			app.request("POST", `/api/v1/inventory/factories/${factory2}/stock-items`, {
				token: maker2.token,
				body: { flavorId: vanilla.id, batchId: "HON-V2", quantity: 40, cost: 120, productionDate: today, expiryDate: day(60) },
			}),
			201,
		);
		await ok(
			app.request("POST", "/api/v1/inventory/invoices", {
				token: w.maker.token,
				body: { factoryId: w.factoryId, shopId: w.shopId, items: [{ flavorId: vanilla.id, quantity: 10 }] },
			}),
			201,
		);
		await ok(
			app.request("POST", "/api/v1/inventory/invoices", {
				token: maker2.token,
				body: { factoryId: factory2, shopId: w.shopId, items: [{ flavorId: vanilla.id, quantity: 30 }] },
			}),
			201,
		);
		// The shops' counters: the first shop got 40 by those invoices, the second 50 from elsewhere (no invoice).
		await setStock(app, w.clerk, w.shopId, [{ flavorId: vanilla.id, quantity: 40, reorderThreshold: 35 }]);
		await setStock(app, w.otherClerk, w.otherShopId, [{ flavorId: vanilla.id, quantity: 50 }]);
		const sale = (clerk: TestUser, shopId: string, quantity: number) =>
			ok(
				app.request("POST", `/api/v1/sales/shops/${shopId}/pos-transactions`, {
					token: clerk.token,
					body: { items: [{ flavorId: vanilla.id, quantity }], paymentMethod: "CASH" },
				}),
				201,
			);
		await sale(w.clerk, w.shopId, 5);
		await sale(w.clerk, w.shopId, 3);
		await sale(w.otherClerk, w.otherShopId, 7);
		await waitFor(
			() => get<{ transactionCount: number }>("/analytics/sales", w.exec),
			(s) => s.transactionCount === 3,
			"3 sales in analytics",
		);
	}, 60_000);

	afterAll(async () => {
		await closeDelivery();
		await health?.close();
		await pg?.end();
		await app?.stop();
	});

	it("turnover credits a factory only with units its batches brought to a shop, in proportion to the allocations", async () => {
		const [vanilla] = w.flavors;
		// Shop 1 sold 8 of the 40 that came 10 from factory 1 and 30 from factory 2: 2 and 6. Shop 2's 7 came from no invoice.
		const t = await waitFor(
			() => get<Turnover>("/analytics/inventory/turnover", w.exec),
			(v) => v.flavors[0]?.sold === 8,
			"sales credited through allocations",
		);
		const byFactory = Object.fromEntries(t.byFactory.map((f) => [f.factoryId, [f.produced, f.shipped, f.sold, f.revenue, f.turnover]]));
		expect(byFactory).toEqual({ [w.factoryId]: [20, 10, 2, 500, 0.1], [factory2]: [40, 30, 6, 1500, 0.15] });
		expect(t.flavors.map((f) => [f.flavorId, f.produced, f.sold])).toEqual([[vanilla.id, 60, 8]]);
		// A manufacturer sees only their own factory.
		const mine = await get<Turnover>("/analytics/inventory/turnover", maker2);
		expect(mine.byFactory.map((f) => [f.factoryId, f.sold])).toEqual([[factory2, 6]]);
		await get(`/analytics/inventory/turnover?factoryId=${w.factoryId}`, maker2, 403);
	});

	it("waste is what was written off, at cost: the factory's write-off (inventory outbox) and a shop's write-off of that factory's batch", async () => {
		const before = await get<Waste>("/analytics/inventory/waste", w.exec);
		// A warning is not waste.
		await app.broker.call("inventory.expiry.scan", { asOf: today });
		expect((await get<Waste>("/analytics/inventory/waste", w.exec)).writtenOffUnits).toBe(before.writtenOffUnits);

		await ok(
			app.request("POST", `/api/v1/inventory/stock-items/${batch1}/expiry`, {
				token: w.maker.token,
				body: { writeOff: true, quantity: 4, reason: "Dropped pallet", cause: "DAMAGE" },
			}),
		);
		const { rows } = await pg.query<{ envelope: { source: string; data: Record<string, unknown> } }>(
			`SELECT envelope FROM inventory.outbox WHERE type = 'STOCK_WRITTEN_OFF'`,
		);
		expect(
			rows.map((r) => [
				r.envelope.source,
				r.envelope.data.quantity,
				r.envelope.data.costCents,
				r.envelope.data.reason,
				r.envelope.data.factoryId,
			]),
		).toEqual([["inventory", 4, 400, "DAMAGE", w.factoryId]]);

		// The first shop throws away 2 units of factory 1's batch (as sales' outbox would tell it).
		const [vanilla] = w.flavors;
		await deliverDurably(
			app.db.url,
			envelope(
				"STOCK_WRITTEN_OFF",
				{
					batchId: batch1,
					shopId: w.shopId,
					factoryId: null,
					flavorId: vanilla.id,
					quantity: 2,
					reason: "EXPIRY",
					costCents: 200,
					at: new Date().toISOString(),
				},
				null,
				"sales",
			),
		);
		const waste = await waitFor(
			() => get<Waste>("/analytics/inventory/waste", w.maker),
			(v) => v.writtenOffUnits === 6,
			"both write-offs",
		);
		expect(waste).toMatchObject({ writtenOffUnits: 6, writtenOffValue: 600, expiredUnits: 2 });
		expect(waste.byReason).toEqual([
			{ reason: "DAMAGE", units: 4, value: 400 },
			{ reason: "EXPIRY", units: 2, value: 200 },
		]);
		expect(waste.items.map((i) => [i.factoryId, i.reason, i.units, i.unitsAtShops])).toEqual([
			[w.factoryId, "DAMAGE", 4, 0],
			[w.factoryId, "EXPIRY", 2, 2],
		]);
		// Batch 1 expires in 2 days: warned about, still at risk, not waste.
		expect(waste.atRiskUnits).toBeGreaterThan(0);
		// The other factory's manager sees none of it; a range before today none either.
		expect((await get<Waste>("/analytics/inventory/waste", maker2)).writtenOffUnits).toBe(0);
		expect((await get<Waste>(`/analytics/inventory/waste?from=${day(-30)}&to=${day(-1)}`, w.exec)).writtenOffUnits).toBe(0);
		const md = await get<{ waste: { writtenOffUnits: number; writtenOffValue: number } }>("/dashboard/MANUFACTURER", w.maker);
		expect(md.waste).toMatchObject({ writtenOffUnits: 6, writtenOffValue: 600 });
	});

	it("supplier performance from recorded deliveries over the range asked", async () => {
		const supplier = await ok<{ id: string }>(
			app.request("POST", "/api/v1/inventory/suppliers", {
				token: w.exec.token,
				body: {
					name: "Milk & Co",
					contact: { email: "milk@example.com", phone: "+49 30 1234567" },
					specialties: ["dairy"],
					rating: 5,
				},
			}),
			201,
		);
		const deliver = (user: TestUser, body: Record<string, unknown>, status = 201) =>
			ok<{ id: string; onTime: boolean; quantity: number; factoryId: string | null }>(
				app.request("POST", `/api/v1/inventory/suppliers/${supplier.id}/deliveries`, { token: user.token, body }),
				status,
			);
		const items = (quantity: number) => [{ name: "Whole milk (l)", quantity }];
		const ghost = await app.request("POST", `/api/v1/inventory/suppliers/${supplier.id}/deliveries`, {
			token: w.exec.token,
			body: {
				factoryId: "00000000-0000-4000-8000-000000000000",
				promisedDate: "2026-06-09",
				receivedDate: "2026-06-09",
				items: items(1),
			},
		});
		expect([ghost.status, ghost.body.error?.details]).toEqual([
			422,
			[expect.objectContaining({ field: "factoryId", type: "reference" })],
		]);
		// In June: on time with 5 of 100 rejected (ordered 8 days before), and 2 days late (ordered 10 days before); one in July.
		const first = await deliver(w.maker, {
			orderedDate: "2026-06-01",
			promisedDate: "2026-06-10",
			receivedDate: "2026-06-09",
			items: items(100),
			rejectedQuantity: 5,
		});
		expect([first.onTime, first.quantity, first.factoryId]).toEqual([true, 100, w.factoryId]);
		await deliver(w.maker, {
			orderedDate: "2026-06-02",
			promisedDate: "2026-06-10",
			receivedDate: "2026-06-12",
			items: [...items(30), { name: "Cream (l)", quantity: 20 }],
			rejectedQuantity: 0,
		});
		await deliver(maker2, { promisedDate: "2026-07-20", receivedDate: "2026-07-20", items: items(40), rejectedQuantity: 10 });
		// Facts are checked: more rejected than delivered, an order after the receipt, another's factory, a clerk.
		await deliver(w.maker, { promisedDate: "2026-06-10", receivedDate: "2026-06-09", items: items(10), rejectedQuantity: 11 }, 422);
		await deliver(
			w.maker,
			{ orderedDate: "2026-06-10", promisedDate: "2026-06-12", receivedDate: "2026-06-09", items: items(10) },
			422,
		);
		await deliver(maker2, { factoryId: w.factoryId, promisedDate: "2026-06-10", receivedDate: "2026-06-09", items: items(10) }, 403);
		await deliver(w.clerk, { promisedDate: "2026-06-10", receivedDate: "2026-06-09", items: items(10) }, 403);

		type Perf = {
			deliveries: number;
			onTimeRate: number;
			rejectionRate: number;
			suppliers: { name: string; deliveries: number; averageLeadTimeDays: number | null; averageDelayDays: number }[];
		};
		const june = await get<Perf>("/analytics/suppliers?from=2026-06-01&to=2026-06-30", w.exec);
		expect([june.deliveries, june.onTimeRate, june.rejectionRate]).toEqual([2, 0.5, 0.0333]);
		expect(june.suppliers.map((s) => [s.name, s.deliveries, s.averageLeadTimeDays, s.averageDelayDays])).toEqual([
			["Milk & Co", 2, 9, 1],
		]);
		const summer = await get<Perf>("/analytics/suppliers?from=2026-06-01&to=2026-07-31", w.exec);
		expect([summer.deliveries, summer.rejectionRate]).toEqual([3, 0.0789]);
		// A manufacturer sees deliveries to their factories only.
		expect((await get<Perf>("/analytics/suppliers?from=2026-06-01&to=2026-07-31", maker2)).deliveries).toBe(1);
		const listed = await ok<{ total: number }>(
			app.request("GET", `/api/v1/inventory/suppliers/${supplier.id}/deliveries`, { token: w.exec.token }),
		);
		expect(listed.total).toBe(3);
		// The list as well: a manufacturer sees the deliveries to their factories only.
		const own = await ok<{ total: number; rows: { factoryId: string }[] }>(
			app.request("GET", `/api/v1/inventory/suppliers/${supplier.id}/deliveries`, { token: maker2.token }),
		);
		expect([own.total, own.rows.map((r) => r.factoryId)]).toEqual([1, [factory2]]);
	});

	it("shops carry validated coordinates; the map is GeoJSON points, the heatmap a grid of cells; shops without coordinates are listed apart", async () => {
		const put = (shopId: string, body: Record<string, unknown>, status = 200) =>
			ok<{ latitude: number | null; longitude: number | null }>(
				app.request("PUT", `/api/v1/sales/shops/${shopId}`, { token: w.exec.token, body }),
				status,
			);
		const bad = await app.request<{ error: { details: { field: string }[] } }>("PUT", `/api/v1/sales/shops/${w.shopId}`, {
			token: w.exec.token,
			body: { latitude: 91, longitude: 13 },
		});
		expect([bad.status, bad.body.error.details.map((d) => d.field)]).toEqual([422, ["latitude"]]);
		expect(
			(
				await app.request("PUT", `/api/v1/sales/shops/${w.shopId}`, {
					token: w.exec.token,
					body: { latitude: 52.52, longitude: -181 },
				})
			).status,
		).toBe(422);
		const half = await app.request<{ error: { details: { field: string }[] } }>("PUT", `/api/v1/sales/shops/${w.shopId}`, {
			token: w.exec.token,
			body: { latitude: 52.52 },
		});
		expect([half.status, half.body.error.details.map((d) => d.field)]).toEqual([422, ["longitude"]]);
		expect(await put(w.shopId, { latitude: 52.52, longitude: 13.405 })).toMatchObject({ latitude: 52.52, longitude: 13.405 });
		await put(thirdShop, { latitude: 52.53, longitude: 13.41 });

		const map = await get<Collection>("/analytics/locations/map", w.exec);
		expect(map.type).toBe("FeatureCollection");
		expect(map.features.map((f) => [f.type, f.id, f.geometry, f.properties.revenue, f.properties.shareBasisPoints])).toEqual([
			["Feature", w.shopId, { type: "Point", coordinates: [13.405, 52.52] }, 2000, 5333],
			["Feature", thirdShop, { type: "Point", coordinates: [13.41, 52.53] }, 0, 0],
		]);
		expect(map.unlocated.map((u) => [u.shopId, u.name, u.revenue])).toEqual([[w.otherShopId, "Gelato Porto", 1750]]);
		expect(map.totalRevenue).toBe(3750);

		const coarse = await get<Collection & { cellSize: number }>("/analytics/locations/heatmap?cellSize=0.1", w.exec);
		expect(coarse.features).toHaveLength(1);
		expect(coarse.features[0].geometry).toEqual({
			type: "Polygon",
			coordinates: [
				[
					[13.4, 52.5],
					[13.5, 52.5],
					[13.5, 52.6],
					[13.4, 52.6],
					[13.4, 52.5],
				],
			],
		});
		expect(coarse.features[0].properties).toMatchObject({ revenue: 2000, transactionCount: 2, shopCount: 2, intensity: 1 });
		expect(coarse.unlocated.map((u) => u.shopId)).toEqual([w.otherShopId]);
		const fine = await get<Collection>("/analytics/locations/heatmap?cellSize=0.001", w.exec);
		expect(fine.features.map((f) => [f.properties.shopCount, f.properties.revenue, f.properties.intensity])).toEqual([
			[1, 2000, 1],
			[1, 0, 0],
		]);
		// A shop on a cell edge (13.405 = 13405 × 0.001) lies in the cell that starts there.
		expect(fine.features[0].geometry.coordinates).toEqual([
			[
				[13.405, 52.52],
				[13.406, 52.52],
				[13.406, 52.521],
				[13.405, 52.521],
				[13.405, 52.52],
			],
		]);
		expect((await app.request("GET", `${A}/analytics/locations/heatmap?cellSize=0`, { token: w.exec.token })).status).toBe(422);
		// A clerk's map holds their shop only.
		const clerkMap = await get<Collection>("/analytics/locations/map", w.otherClerk);
		expect([clerkMap.features, clerkMap.unlocated.map((u) => u.shopId)]).toEqual([[], [w.otherShopId]]);
	});

	it("a real /metrics scrape carries the business figures with bounded labels and passes promtool check metrics", async () => {
		// A lot at the first shop expiring tomorrow: 3 of its counted (UNTRACKED) units, so the flavor's total stays the sum of its lots.
		const [vanilla] = w.flavors;
		await pg.query(
			`WITH moved AS (UPDATE sales.stock_lots SET quantity = quantity - 3 WHERE shop_id = $1 AND flavor_id = $2 AND stock_item_id IS NULL RETURNING shop_id)
			 INSERT INTO sales.stock_lots (shop_id, flavor_id, stock_item_id, batch_label, factory_id, expiry_date, unit_cost, quantity)
			 SELECT shop_id, $2, $3, 'HON-V1', $4, $5, 100, 3 FROM moved`,
			[w.shopId, vanilla.id, batch1, w.factoryId, day(1)],
		);
		const res = await fetch(`http://127.0.0.1:${health.port}/metrics`);
		expect(res.status).toBe(200);
		const text = await res.text();
		const samples = [...text.matchAll(/^(\w+)(?:\{([^}]*)\})? (\S+)$/gm)].map((m) => ({
			name: m[1],
			labels: Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]])),
			value: Number(m[3]),
		}));
		const value = (name: string, labels: Record<string, string> = {}) =>
			samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;
		expect(value("eislager_sales_total", { shop: w.shopId })).toBe(2);
		expect(value("eislager_revenue_cents_total", { shop: w.shopId })).toBe(2000);
		expect(value("eislager_sales_total", { shop: w.otherShopId })).toBe(1);
		// Shop 1 has 32 vanilla under its threshold of 35: one low item; the third shop none.
		expect(value("eislager_stock_low_items", { shop: w.shopId })).toBe(1);
		expect(value("eislager_stock_low_items", { shop: thirdShop })).toBe(0);
		expect(value("eislager_shop_open", { shop: w.shopId })).toBe(0);
		expect(value("eislager_expiring_lots", { site: "shop", days_left: "1" })).toBe(1);
		expect(value("eislager_expiring_stock_value_cents", { site: "shop", days_left: "1" })).toBe(300);
		// Factory batch 1 (16 − 4 written off − 10 allocated… = 6 left at 100 ¢) expires in 2 days.
		expect(value("eislager_expiring_lots", { site: "factory", days_left: "2-3" })).toBe(1);
		expect(value("eislager_expiring_stock_value_cents", { site: "factory", days_left: "2-3" })).toBe(600);
		expect(value("eislager_http_responses_total", { method: "GET", code: "2xx" })).toBeGreaterThan(0);
		expect(value("eislager_socket_connections")).toBe(0);
		// Bounded labels: no user, transaction or batch ids among the business series.
		const labels = new Set(samples.filter((x) => x.name.startsWith("eislager_")).flatMap((x) => Object.keys(x.labels)));
		for (const l of labels)
			expect([
				"shop",
				"site",
				"days_left",
				"method",
				"code",
				"le",
				"topic",
				"service",
				"schema",
				"state",
				"group",
				"reason",
				"namespace",
				"node_id",
			]).toContain(l);

		// The whole scrape parses (Moleculer's own families carry lint remarks we do not control: camelCase
		// labels, gauges named *_total); our families pass the lint with nothing to say.
		const all = spawnSync(promtool(), ["check", "metrics"], { input: text, encoding: "utf8" });
		expect(`${all.stdout}${all.stderr}`).not.toMatch(/error while linting|parse error|text format parsing error/i);
		const ours =
			text
				.split("\n")
				.filter((l) => /^(# (HELP|TYPE) )?eislager_/.test(l))
				.join("\n") + "\n";
		const lint = spawnSync(promtool(), ["check", "metrics"], { input: ours, encoding: "utf8" });
		expect([lint.status, `${lint.stdout}${lint.stderr}`.trim()]).toEqual([0, ""]);
	});
});
