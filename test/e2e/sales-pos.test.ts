/**
 * POS guarantees through the gateway with the real auth and inventory services:
 * no oversell under concurrency, Idempotency-Key replays, offline sync, and
 * every sales event emitted once with the catalog envelope and kept in the outbox.
 */
import { Client } from "pg";
import type { Context } from "moleculer";
import { startTestApp, type TestApp } from "../helpers/app";
import { EVENT_CATALOG, type EventEnvelope, type EventName } from "../../lib/events";
import { buildWorld, createFlavor, ok, setStock, type SalesWorld } from "../helpers/sales-world";

const SALES_EVENTS: EventName[] = ["SALE_COMPLETED", "INVENTORY_LOW", "PURCHASE_ORDER_CREATED", "REVIEW_SUBMITTED"];

describe("POS through the gateway", () => {
	let app: TestApp;
	let w: SalesWorld;
	let pg: Client;
	const seen: EventEnvelope[] = [];

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "inventory", "sales"] });
		const events: Record<string, (ctx: Context<EventEnvelope>) => void> = {};
		for (const name of SALES_EVENTS) events[name] = (ctx) => void seen.push(ctx.params);
		await app.broker.createService({ name: "sales-event-spy", events });
		w = await buildWorld(app);
		pg = new Client({ connectionString: app.db.url });
		await pg.connect();
	});
	afterAll(async () => {
		await pg?.end();
		await app?.stop();
	});

	const sale = (shopId: string, token: string, items: { flavorId: string; quantity: number }[], headers: Record<string, string> = {}) =>
		app.request("POST", `/api/v1/sales/shops/${shopId}/pos-transactions`, { token, body: { items, paymentMethod: "CARD" }, headers });
	const stockOf = async (flavorId: string, shopId = w.shopId) =>
		Number(
			(await pg.query("SELECT quantity FROM sales.shop_inventory WHERE shop_id = $1 AND flavor_id = $2", [shopId, flavorId])).rows[0]
				?.quantity,
		);
	const soldOf = async (flavorId: string, shopId = w.shopId) =>
		Number(
			(
				await pg.query(
					"SELECT COALESCE(sum(i.quantity), 0) AS n FROM sales.transaction_items i JOIN sales.transactions t ON t.id = i.transaction_id WHERE t.shop_id = $1 AND i.flavor_id = $2",
					[shopId, flavorId],
				)
			).rows[0].n,
		);
	const waitFor = async <T>(fn: () => T | undefined, what: string, ms = 3000): Promise<T> => {
		const deadline = Date.now() + ms;
		for (;;) {
			const v = fn();
			if (v !== undefined) return v;
			if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
			await new Promise((r) => setTimeout(r, 20));
		}
	};

	it("never oversells: N parallel 2-item sales against stock for fewer succeed exactly as far as stock allows", async () => {
		const a = await createFlavor(app, w.maker, { name: "Stracciatella", price: 280 });
		const b = await createFlavor(app, w.maker, { name: "Pistachio", price: 320 });
		await setStock(app, w.clerk, w.shopId, [
			{ flavorId: a.id, quantity: 10 },
			{ flavorId: b.id, quantity: 10 },
		]);
		// Opposite item orders in the same basket shape: rows must be locked in a fixed order (no deadlock).
		const results = await Promise.all(
			Array.from({ length: 24 }, (_, i) =>
				sale(
					w.shopId,
					w.clerk.token,
					i % 2
						? [
								{ flavorId: a.id, quantity: 1 },
								{ flavorId: b.id, quantity: 1 },
							]
						: [
								{ flavorId: b.id, quantity: 1 },
								{ flavorId: a.id, quantity: 1 },
							],
				),
			),
		);
		const statuses = results.map((r) => r.status);
		expect(statuses.filter((s) => s === 201)).toHaveLength(10);
		expect(statuses.filter((s) => s === 409)).toHaveLength(14);
		expect(await stockOf(a.id)).toBe(0);
		expect(await stockOf(b.id)).toBe(0);
		expect(await soldOf(a.id)).toBe(10);
		expect(await soldOf(b.id)).toBe(10);
	});

	it("keeps stock >= 0 and sold == decrease with uneven quantities", async () => {
		const c = await createFlavor(app, w.maker, { name: "Tiramisu", price: 310 });
		await setStock(app, w.clerk, w.shopId, [{ flavorId: c.id, quantity: 17 }]);
		const wanted = Array.from({ length: 20 }, (_, i) => (i % 3) + 1);
		const results = await Promise.all(wanted.map((q) => sale(w.shopId, w.clerk.token, [{ flavorId: c.id, quantity: q }])));
		const sold = results.reduce((sum, r, i) => sum + (r.status === 201 ? wanted[i] : 0), 0);
		expect(results.every((r) => r.status === 201 || r.status === 409)).toBe(true);
		const left = await stockOf(c.id);
		expect(left).toBeGreaterThanOrEqual(0);
		expect(sold).toBe(17 - left);
		expect(await soldOf(c.id)).toBe(sold);
		// Every refused sale asked for more than was left at the end (stock only goes down here).
		results.forEach((r, i) => r.status === 409 && expect(wanted[i]).toBeGreaterThan(left));
		const movements = await pg.query(
			"SELECT sum(quantity_before - quantity_after) AS n FROM sales.stock_movements WHERE shop_id = $1 AND flavor_id = $2 AND reason = 'SALE'",
			[w.shopId, c.id],
		);
		expect(Number(movements.rows[0].n)).toBe(sold);
	});

	it("replays the same response for the same Idempotency-Key, also under concurrent duplicates", async () => {
		const d = await createFlavor(app, w.maker, { name: "Fior di Latte", price: 240 });
		await setStock(app, w.clerk, w.shopId, [{ flavorId: d.id, quantity: 50 }]);
		const items = [{ flavorId: d.id, quantity: 2 }];
		const key = crypto.randomUUID();
		const first = await sale(w.shopId, w.clerk.token, items, { "Idempotency-Key": key });
		const second = await sale(w.shopId, w.clerk.token, items, { "Idempotency-Key": key });
		expect(first.status).toBe(201);
		expect(second.status).toBe(201);
		expect(second.body).toEqual(first.body);
		expect(second.headers.get("idempotent-replayed")).toBe("true");
		expect(await stockOf(d.id)).toBe(48);

		const key2 = crypto.randomUUID();
		const burst = await Promise.all(Array.from({ length: 8 }, () => sale(w.shopId, w.clerk.token, items, { "Idempotency-Key": key2 })));
		expect(burst.map((r) => r.status)).toEqual(Array(8).fill(201));
		expect(new Set(burst.map((r) => JSON.stringify(r.body))).size).toBe(1);
		expect(await stockOf(d.id)).toBe(46);
		const rows = await pg.query("SELECT count(*) AS n FROM sales.transactions WHERE idempotency_key = ANY($1)", [[key, key2]]);
		expect(Number(rows.rows[0].n)).toBe(2);

		const reused = await sale(w.shopId, w.clerk.token, [{ flavorId: d.id, quantity: 3 }], { "Idempotency-Key": key });
		expect([reused.status, reused.body.error.code]).toEqual([409, "IDEMPOTENCY_KEY_REUSED"]);
		expect(await stockOf(d.id)).toBe(46);
		// A failed attempt stores nothing: the same key may be retried once stock allows.
		const key3 = crypto.randomUUID();
		expect((await sale(w.shopId, w.clerk.token, [{ flavorId: d.id, quantity: 47 }], { "Idempotency-Key": key3 })).status).toBe(409);
		expect((await sale(w.shopId, w.clerk.token, [{ flavorId: d.id, quantity: 46 }], { "Idempotency-Key": key3 })).status).toBe(201);
	});

	it("syncs offline sales with per-item results; replaying the batch changes nothing", async () => {
		const e = await createFlavor(app, w.maker, { name: "Banana", price: 200 });
		const archived = await createFlavor(app, w.maker, { name: "Old Licorice", price: 200 });
		await setStock(app, w.clerk, w.shopId, [
			{ flavorId: e.id, quantity: 5 },
			{ flavorId: archived.id, quantity: 5 },
		]);
		await ok(app.request("DELETE", `/api/v1/inventory/flavors/${archived.id}`, { token: w.maker.token }));
		const at = (m: number) => new Date(Date.now() - m * 60_000).toISOString();
		const batch = [
			{ clientId: crypto.randomUUID(), occurredAt: at(30), items: [{ flavorId: e.id, quantity: 2 }], paymentMethod: "CASH" },
			{ clientId: crypto.randomUUID(), occurredAt: at(20), items: [{ flavorId: e.id, quantity: 4 }], paymentMethod: "CARD" },
			{ clientId: crypto.randomUUID(), occurredAt: at(15), items: [{ flavorId: archived.id, quantity: 1 }], paymentMethod: "CARD" },
			{ clientId: crypto.randomUUID(), occurredAt: at(10), items: [{ flavorId: e.id, quantity: 3 }], paymentMethod: "MOBILE" },
		];
		const sync = () =>
			ok<{ results: { clientId: string; status: string; transactionId?: string; reason?: string }[] }>(
				app.request("POST", `/api/v1/sales/shops/${w.shopId}/pos-transactions/sync`, {
					token: w.clerk.token,
					body: { transactions: batch },
				}),
			);
		const first = await sync();
		expect(first.results.map((r) => [r.clientId, r.status, r.reason])).toEqual([
			[batch[0].clientId, "accepted", undefined],
			[batch[1].clientId, "rejected", "INSUFFICIENT_STOCK"],
			[batch[2].clientId, "rejected", "INVALID_ITEM"],
			[batch[3].clientId, "accepted", undefined],
		]);
		expect(await stockOf(e.id)).toBe(0);
		const count = async () =>
			Number((await pg.query("SELECT count(*) AS n FROM sales.transactions WHERE shop_id = $1", [w.shopId])).rows[0].n);
		const before = await count();
		const replay = await sync();
		expect(replay.results.map((r) => r.status)).toEqual(["duplicate", "rejected", "rejected", "duplicate"]);
		expect(replay.results[0].transactionId).toBe(first.results[0].transactionId);
		expect(replay.results[3].transactionId).toBe(first.results[3].transactionId);
		expect(await count()).toBe(before);
		expect(await stockOf(e.id)).toBe(0);
		const stored = await pg.query("SELECT occurred_at FROM sales.transactions WHERE id = $1", [first.results[0].transactionId]);
		expect(new Date(stored.rows[0].occurred_at).toISOString()).toBe(batch[0].occurredAt);
	});

	it("an archived flavor sells again at the POS once restored (the cached catalog follows)", async () => {
		const g = await createFlavor(app, w.maker, { name: "Seasonal Plum", price: 250 });
		await setStock(app, w.clerk, w.shopId, [{ flavorId: g.id, quantity: 5 }]);
		await ok(sale(w.shopId, w.clerk.token, [{ flavorId: g.id, quantity: 1 }]), 201); // the catalog read is cached now
		await ok(app.request("DELETE", `/api/v1/inventory/flavors/${g.id}`, { token: w.maker.token }));
		const refused = await sale(w.shopId, w.clerk.token, [{ flavorId: g.id, quantity: 1 }]);
		expect(refused.status).toBe(422);
		const restored = await ok<{ archived: boolean }>(
			app.request("POST", `/api/v1/inventory/flavors/${g.id}/restore`, { token: w.maker.token }),
		);
		expect(restored.archived).toBe(false);
		await ok(sale(w.shopId, w.clerk.token, [{ flavorId: g.id, quantity: 2 }]), 201);
		expect(await stockOf(g.id)).toBe(2);
	});

	it("emits each event once with the catalog envelope, and keeps it in sales.outbox", async () => {
		const f = await createFlavor(app, w.maker, { name: "Coffee", price: 260 });
		await setStock(app, w.clerk, w.shopId, [{ flavorId: f.id, quantity: 7, reorderThreshold: 5 }]);
		seen.length = 0;
		const s1 = await ok<{ id: string }>(sale(w.shopId, w.clerk.token, [{ flavorId: f.id, quantity: 1 }]), 201); // 6: above
		const s2 = await ok<{ id: string }>(sale(w.shopId, w.clerk.token, [{ flavorId: f.id, quantity: 2 }]), 201); // 4: crosses
		await ok(sale(w.shopId, w.clerk.token, [{ flavorId: f.id, quantity: 1 }]), 201); // 3: still below, no new alert
		await setStock(app, w.clerk, w.shopId, [{ flavorId: f.id, quantity: 10 }]); // back above: re-arms
		await ok(sale(w.shopId, w.clerk.token, [{ flavorId: f.id, quantity: 6 }]), 201); // 4: crosses again
		const order = await ok<{ id: string }>(
			app.request("POST", `/api/v1/sales/shops/${w.shopId}/purchase-orders`, {
				token: w.clerk.token,
				body: { factoryId: w.factoryId, items: [{ flavorId: f.id, quantity: 3 }] },
			}),
			201,
		);
		const patron = await app.createUser("PATRON");
		// A shop that does not exist, named in the body: 422 naming the field (a path's unknown id is the 404).
		const nowhere = await app.request("POST", "/api/v1/sales/feedback", {
			token: patron.token,
			body: { shopId: "00000000-0000-4000-8000-000000000000", rating: 5 },
		});
		expect([nowhere.status, nowhere.body.error.details]).toEqual([
			422,
			[expect.objectContaining({ field: "shopId", type: "reference" })],
		]);
		const review = await ok<{ id: string }>(
			app.request("POST", "/api/v1/sales/feedback", { token: patron.token, body: { shopId: w.shopId, rating: 5, comment: "Yum" } }),
			201,
		);

		const of = (type: EventName) => seen.filter((e) => e.type === type);
		await waitFor(() => (of("REVIEW_SUBMITTED").length ? true : undefined), "REVIEW_SUBMITTED");
		await new Promise((r) => setTimeout(r, 100)); // let any duplicate arrive
		expect(of("SALE_COMPLETED")).toHaveLength(4);
		const low = of("INVENTORY_LOW");
		expect(low.map((e) => e.data)).toEqual([
			{ shopId: w.shopId, flavorId: f.id, quantity: 4, reorderThreshold: 5 },
			{ shopId: w.shopId, flavorId: f.id, quantity: 4, reorderThreshold: 5 },
		]);
		expect(of("PURCHASE_ORDER_CREATED").map((e) => (e.data as { orderId: string }).orderId)).toEqual([order.id]);
		expect(of("REVIEW_SUBMITTED").map((e) => (e.data as { reviewId: string }).reviewId)).toEqual([review.id]);
		const saleEvent = of("SALE_COMPLETED").find((e) => (e.data as { transactionId: string }).transactionId === s2.id)!;
		expect(saleEvent).toEqual({
			id: expect.any(String),
			type: "SALE_COMPLETED",
			occurredAt: expect.any(String),
			source: "sales",
			requestId: expect.any(String),
			data: expect.objectContaining({
				transactionId: s2.id,
				shopId: w.shopId,
				clerkId: w.clerk.id,
				totalAmount: 520,
				paymentMethod: "CARD",
				items: [{ flavorId: f.id, quantity: 2, unitPrice: 260, lineTotal: 520, lots: [{ batchId: null, quantity: 2 }] }],
			}),
		});
		expect(of("SALE_COMPLETED").map((e) => (e.data as { transactionId: string }).transactionId)).toContain(s1.id);

		const ids = seen.map((e) => e.id);
		expect(new Set(ids).size).toBe(ids.length);
		const outbox = await pg.query("SELECT id, type, topic, envelope FROM sales.outbox WHERE id = ANY($1)", [ids]);
		expect(outbox.rows).toHaveLength(ids.length);
		for (const row of outbox.rows) {
			const emitted = seen.find((e) => e.id === row.id)!;
			expect(row.envelope).toEqual(emitted);
			expect(row.topic).toBe(EVENT_CATALOG[row.type as EventName].topic);
		}
	});
});
