/**
 * Concurrent stock writes to a flavor a shop has never stocked (services/sales/stock.ts):
 * there is no row to lock yet, so each writer used to plan from "nothing there" and the
 * later upsert overwrote the earlier one's quantity; the lots kept both, and the
 * deferred lots-total check refused the later commit as a 422 for a valid request.
 * Writers now serialise on the (shop, flavor) pair before reading it.
 */
import { startTestApp, type TestApp } from "../helpers/app";
import { buildWorld, createFlavor, type SalesWorld } from "../helpers/sales-world";
import { sqlRows } from "../integration/inventory/helpers";

describe("stock writes racing on a flavor new to the shop", () => {
	let app: TestApp;
	let w: SalesWorld;

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "inventory", "sales"] });
		w = await buildWorld(app);
	});
	afterAll(async () => app?.stop());

	it.each([1, 2, 3])("8 concurrent counts of a new flavor (round %i): all succeed, and stock equals its lots", async (round) => {
		const flavor = await createFlavor(app, w.maker, { name: `Racing Raspberry ${round}`, price: 300 });
		const counts = [3, 9, 4, 12, 7, 1, 10, 6];
		const results = await Promise.all(
			counts.map((quantity) =>
				app.request("PUT", `/api/v1/sales/shops/${w.shopId}/inventory`, {
					token: w.clerk.token,
					body: { items: [{ flavorId: flavor.id, quantity }], reason: "RESTOCK" },
				}),
			),
		);
		expect(results.map((r) => r.status)).toEqual(counts.map(() => 200));
		const [row] = await sqlRows<{ quantity: number; lots: number }>(
			app,
			`SELECT i.quantity, (SELECT sum(quantity)::int FROM sales.stock_lots l WHERE l.shop_id = i.shop_id AND l.flavor_id = i.flavor_id) AS lots
			   FROM sales.shop_inventory i WHERE i.shop_id = $1 AND i.flavor_id = $2`,
			[w.shopId, flavor.id],
		);
		expect(counts).toContain(row.quantity);
		expect(row.lots).toBe(row.quantity);
	});
});
