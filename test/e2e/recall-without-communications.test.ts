/**
 * A recall stops the batch at the counter even while nobody can be told: with
 * communications down (not running at all here), `sales.lots.recall` still marks
 * the lots RECALLED and the POS refuses them; the notifications are the separate
 * group `sales.lots.recall-notify`, which fails on its own and parks its event as
 * a dead letter to replay. The recall used to call communications inside its own
 * transaction: the failed call rolled the recall back, and after
 * STREAM_MAX_ATTEMPTS the batch stayed on sale for good.
 */
import { startTestApp, type TestApp } from "../helpers/app";
import { buildWorld, createFlavor, deliverOrder, ok, type SalesWorld } from "../helpers/sales-world";
import { day, registerBatch, sqlRows } from "../integration/inventory/helpers";
import { eventually } from "../helpers/eventually";

describe("a recall while communications is down", () => {
	let app: TestApp;
	let w: SalesWorld;

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "inventory", "sales"], env: { STREAM_MAX_ATTEMPTS: "2" } });
		w = await buildWorld(app);
	});
	afterAll(async () => app?.stop());

	it("marks the lots RECALLED and the POS refuses them; only the notification waits as a dead letter", async () => {
		const flavor = await createFlavor(app, w.maker, { name: "Quiet Recall Plum", price: 320 });
		const batchId = await registerBatch(app, w.maker.token, w.factoryId, {
			flavorId: flavor.id,
			batchId: "Q-1",
			quantity: 6,
			cost: 50,
			productionDate: day(-1),
			expiryDate: day(20),
		});
		await deliverOrder(app, w, w.shopId, w.clerk, [{ flavorId: flavor.id, quantity: 6 }]);

		await ok(
			app.request("POST", `/api/v1/inventory/batches/${batchId}/recall`, { token: w.exec.token, body: { reason: "Foreign body" } }),
			202,
		);
		await eventually(
			async () =>
				(await sqlRows<{ status: string }>(app, "SELECT status FROM sales.stock_lots WHERE stock_item_id = $1", [batchId])).every(
					(l) => l.status === "RECALLED",
				) && (await sqlRows(app, "SELECT 1 FROM sales.recalled_batches WHERE stock_item_id = $1", [batchId])).length === 1,
			"the lots to be RECALLED",
			20_000,
		);
		const sale = await app.request("POST", `/api/v1/sales/shops/${w.shopId}/pos-transactions`, {
			token: w.clerk.token,
			body: { items: [{ flavorId: flavor.id, quantity: 1 }], paymentMethod: "CASH" },
		});
		expect(sale.status).toBe(409);
		expect(sale.body.error.code).toBe("RECALLED_STOCK");

		const parked = await eventually(
			async () => {
				const rows = await sqlRows<{ group: string }>(app, `SELECT "group" FROM sales.dead_letters WHERE type = 'BATCH_RECALLED'`);
				return rows.length ? rows : null;
			},
			"the notification to be parked",
			20_000,
		);
		expect(parked.map((r) => r.group)).toEqual(["sales.lots.recall-notify"]);
	});
});
