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

	describe("a VOID and a shipment of the same order are ordered by the invoice's row lock", () => {
		/** A CONFIRMED order of one flavor and its invoice. */
		const confirmedOrder = async (): Promise<{ orderId: string; invoiceId: string }> => {
			const order = await ok<{ id: string }>(
				app.request("POST", `/api/v1/sales/shops/${w.shopId}/purchase-orders`, {
					token: w.clerk.token,
					body: { factoryId: w.factoryId, items: [{ flavorId: w.flavors[1].id, quantity: 1 }] },
				}),
				201,
			);
			const invoiceId = await until(async () => {
				const [row] = await sqlRows<{ id: string }>(app, `SELECT id FROM inventory.invoices WHERE order_id = $1`, [order.id]);
				return row?.id;
			}, "the order's invoice");
			await ok(
				app.request("PUT", `/api/v1/sales/orders/${order.id}/status`, { token: w.maker.token, body: { status: "CONFIRMED" } }),
			);
			return { orderId: order.id, invoiceId };
		};
		const move = (orderId: string, status: string, token = w.maker.token) =>
			app.request("PUT", `/api/v1/sales/orders/${orderId}/status`, { token, body: { status } });
		const voidInvoice = (invoiceId: string) =>
			app.request("PUT", `/api/v1/inventory/invoices/${invoiceId}/status`, { token: w.maker.token, body: { status: "VOID" } });
		const orderStatus = async (orderId: string) =>
			(await sqlRows<{ status: string }>(app, `SELECT status FROM sales.orders WHERE id = $1`, [orderId]))[0].status;

		it("an order whose invoice was voided cannot be shipped (409 INVOICE_VOID): its units went back to the batches", async () => {
			const { orderId, invoiceId } = await confirmedOrder();
			expect((await voidInvoice(invoiceId)).status).toBe(200);
			const shipped = await move(orderId, "SHIPPED");
			expect([shipped.status, shipped.body.error?.code]).toEqual([409, "INVOICE_VOID"]);
			expect(await orderStatus(orderId)).toBe("CONFIRMED");
		});

		it("a shipment being recorded (its invoice marked, the order not yet SHIPPED) makes a VOID 409; a mark taken back, or left by an order since cancelled, does not", async () => {
			const { orderId, invoiceId } = await confirmedOrder();
			await app.broker.call("inventory.invoices.markShipped", { orderId, shipped: true });
			const refused = await voidInvoice(invoiceId);
			expect([refused.status, refused.body.error?.code, refused.body.error?.details]).toEqual([
				409,
				"ORDER_SHIPPED",
				{ orderStatus: "CONFIRMED" },
			]);
			await app.broker.call("inventory.invoices.markShipped", { orderId, shipped: false });
			expect((await voidInvoice(invoiceId)).status).toBe(200);

			const stale = await confirmedOrder();
			await app.broker.call("inventory.invoices.markShipped", { orderId: stale.orderId, shipped: true });
			expect((await move(stale.orderId, "CANCELLED", w.exec.token)).status).toBe(200);
			expect((await voidInvoice(stale.invoiceId)).status).toBe(200);
		});

		it("sent together, never both: each order ends either SHIPPED with its invoice standing, or CONFIRMED with it VOID", async () => {
			const orders = await Promise.all(Array.from({ length: 6 }, () => confirmedOrder()));
			const outcomes = await Promise.all(
				orders.map(async ({ orderId, invoiceId }, i) => {
					const [shipped, voided] =
						i % 2
							? await Promise.all([move(orderId, "SHIPPED"), voidInvoice(invoiceId)])
							: await Promise.all([voidInvoice(invoiceId), move(orderId, "SHIPPED")]).then(([v, sh]) => [sh, v]);
					return { orderId, invoiceId, shipped: shipped.status, voided: voided.status };
				}),
			);
			for (const o of outcomes) {
				expect([o.shipped, o.voided].sort()).toEqual([200, 409]);
				const [invoice] = await sqlRows<{ status: string }>(app, `SELECT status FROM inventory.invoices WHERE id = $1`, [
					o.invoiceId,
				]);
				expect([await orderStatus(o.orderId), invoice.status]).toEqual(
					o.shipped === 200 ? ["SHIPPED", "ISSUED"] : ["CONFIRMED", "VOID"],
				);
			}
		});
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
