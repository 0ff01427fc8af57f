/**
 * Cross-service, one broker: a purchase order created in the sales service produces
 * exactly one invoice in inventory (FEFO-allocated), and the sales order shows it;
 * a POS sale in sales is recorded as consumption in inventory.
 */
import { startTestApp, type TestApp } from "../helpers/app";
import { buildWorld, ok, setStock, type SalesWorld } from "../helpers/sales-world";
import { day, registerBatch, sqlRows } from "../integration/inventory/helpers";
import { closeDelivery, deliverDurably } from "../helpers/events";
import type { EventEnvelope } from "../../lib/events";
import { eventually as until } from "../helpers/eventually";

describe("inventory <-> sales", () => {
	let app: TestApp;
	let w: SalesWorld;

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "inventory", "sales"] });
		w = await buildWorld(app);
	});
	afterAll(async () => {
		await closeDelivery();
		await app?.stop();
	});

	it("a purchase order created in sales produces exactly one invoice, and the sales order shows it", async () => {
		const [vanilla, hazelnut] = w.flavors;
		await registerBatch(app, w.maker.token, w.factoryId, {
			flavorId: vanilla.id,
			batchId: "X-LATE",
			quantity: 10,
			cost: 50,
			productionDate: day(-3),
			expiryDate: day(30),
		});
		await registerBatch(app, w.maker.token, w.factoryId, {
			flavorId: vanilla.id,
			batchId: "X-EARLY",
			quantity: 4,
			cost: 50,
			productionDate: day(-3),
			expiryDate: day(6),
		});
		const order = await ok<{ id: string }>(
			app.request("POST", `/api/v1/sales/shops/${w.shopId}/purchase-orders`, {
				token: w.clerk.token,
				body: {
					factoryId: w.factoryId,
					items: [
						{ flavorId: vanilla.id, quantity: 6 },
						{ flavorId: hazelnut.id, quantity: 2 },
					],
				},
			}),
			201,
		);
		const shown = await until(async () => {
			const list = await ok<{ rows: { id: string; invoiceId: string | null }[] }>(
				app.request("GET", `/api/v1/sales/shops/${w.shopId}/orders`, { token: w.clerk.token }),
			);
			return list.rows.find((o) => o.id === order.id && o.invoiceId);
		}, "the order's invoice link");

		const invoices = await sqlRows<{ id: string; shop_id: string; factory_id: string }>(
			app,
			`SELECT id, shop_id, factory_id FROM inventory.invoices WHERE order_id = $1`,
			[order.id],
		);
		expect(invoices).toEqual([{ id: shown.invoiceId, shop_id: w.shopId, factory_id: w.factoryId }]);
		const invoice = await ok<{
			totalAmount: number;
			hasBackorders: boolean;
			items: { allocations: { batchId: string; quantity: number }[]; quantityBackordered: number }[];
		}>(app.request("GET", `/api/inventory/invoices/${shown.invoiceId}`, { token: w.maker.token }));
		expect(invoice.totalAmount).toBe(6 * vanilla.price);
		expect(invoice.hasBackorders).toBe(true);
		expect(invoice.items[0].allocations.map((a) => [a.batchId, a.quantity])).toEqual([
			["X-EARLY", 4],
			["X-LATE", 2],
		]);
		expect(invoice.items[1].quantityBackordered).toBe(2);
		// The event may be delivered again (e.g. a Kafka re-import): still one invoice.
		const [row] = await sqlRows<{ envelope: EventEnvelope }>(
			app,
			`SELECT envelope FROM sales.outbox WHERE type = 'PURCHASE_ORDER_CREATED' AND envelope->'data'->>'orderId' = $1`,
			[order.id],
		);
		await deliverDurably(app.db.url, row.envelope);
		await new Promise((r) => setTimeout(r, 300));
		expect(
			(await sqlRows<{ n: number }>(app, `SELECT count(*)::int AS n FROM inventory.invoices WHERE order_id = $1`, [order.id]))[0].n,
		).toBe(1);

		// Once the goods have left the factory, voiding the invoice would hand its units back to the batches too.
		for (const status of ["CONFIRMED", "SHIPPED"])
			await ok(app.request("PUT", `/api/v1/sales/orders/${order.id}/status`, { token: w.maker.token, body: { status } }));
		const held = await sqlRows<{ quantity: number }>(app, `SELECT quantity FROM inventory.stock_items WHERE batch_id = 'X-EARLY'`);
		const voided = await app.request("PUT", `/api/v1/inventory/invoices/${shown.invoiceId}/status`, {
			token: w.maker.token,
			body: { status: "VOID" },
		});
		expect([voided.status, voided.body.error?.code, voided.body.error?.details]).toEqual([
			409,
			"ORDER_SHIPPED",
			{ orderStatus: "SHIPPED" },
		]);
		expect(await sqlRows(app, `SELECT quantity FROM inventory.stock_items WHERE batch_id = 'X-EARLY'`)).toEqual(held);
	});

	it("a POS sale in sales is recorded as consumption in inventory", async () => {
		const [vanilla] = w.flavors;
		await setStock(app, w.exec, w.shopId, [{ flavorId: vanilla.id, quantity: 50 }]);
		await ok(
			app.request("POST", `/api/v1/sales/shops/${w.shopId}/pos-transactions`, {
				token: w.clerk.token,
				body: { items: [{ flavorId: vanilla.id, quantity: 3 }], paymentMethod: "CASH" },
			}),
			201,
		);
		const rows = await until(async () => {
			const res = await ok<{ rows: { flavorId: string; quantity: number; revenue: number }[] }>(
				app.request("GET", `/api/v1/inventory/consumption?shopId=${w.shopId}`, { token: w.exec.token }),
			);
			return res.rows.length ? res.rows : null;
		}, "consumption");
		expect(rows).toEqual([expect.objectContaining({ flavorId: vanilla.id, quantity: 3, revenue: 3 * vanilla.price, day: day(0) })]);
	});
});
