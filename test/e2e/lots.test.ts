/**
 * Batch traceability (issue #15), acceptance 1, 2 and 4, through the real gateway with
 * auth, inventory, sales, communications and the kafka-bridge on real PostgreSQL and Kafka:
 * 1. a batch invoiced to two shops, delivered, partly sold at both and recalled: the trace
 *    accounts for every unit per shop, the POS refuses recalled stock and falls through to
 *    other lots, clerks and known patrons are notified (row, socket, mail), BATCH_RECALLED is on Kafka;
 * 2. 40 concurrent sales across three lots of one flavor: no oversell, each sale drew the
 *    earliest-expiring lot with stock at its turn, lot sums equal the flavor total;
 * 4. the markdown price shows on the menu and is charged at the POS only inside the window.
 */
import { startTestApp, type TestApp, type TestUser } from "../helpers/app";
import { buildWorld, createFlavor, deliverOrder, ok, setStock, type SalesWorld } from "../helpers/sales-world";
import { day, registerBatch, sqlRows } from "../integration/inventory/helpers";
import { kafkaTestLock, readerAtEnd, requireKafka, KAFKA_BROKERS, type TopicReader } from "../helpers/kafka";
import { startSmtpServer, type TestSmtp } from "../helpers/smtp";
import { closeDelivery } from "../helpers/events";
import { connectSocket } from "../helpers/sockets";
import { EVENT_CATALOG } from "../../lib/events";

async function until<T>(fn: () => Promise<T | null | undefined | false>, what: string, timeoutMs = 20_000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await fn();
		if (value) return value;
		if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 100));
	}
}

interface Lot {
	batchId: string | null;
	batchLabel: string | null;
	expiryDate: string | null;
	quantity: number;
	status: string;
}
interface InventoryItem {
	flavorId: string;
	quantity: number;
	lots: Lot[];
}
interface ShopTrace {
	shopId: string;
	received: number;
	onHand: number;
	sold: number;
	writtenOff: number;
	transactionIds: string[];
}

describe("lots at shops, FEFO, recall and markdowns (issue #15)", () => {
	let app: TestApp;
	let w: SalesWorld;
	let smtp: TestSmtp;
	let unlock: () => Promise<void>;

	const sell = (shopId: string, clerk: TestUser, items: { flavorId: string; quantity: number }[], patronId?: string) =>
		app.request("POST", `/api/v1/sales/shops/${shopId}/pos-transactions`, {
			token: clerk.token,
			body: { items, paymentMethod: "CASH", ...(patronId && { patronId }) },
		});
	const inventory = async (shopId: string, flavorId: string) =>
		(
			await ok<{ items: InventoryItem[] }>(app.request("GET", `/api/v1/sales/shops/${shopId}/inventory`, { token: w.exec.token }))
		).items.find((i) => i.flavorId === flavorId);
	const deliver = (shopId: string, clerk: TestUser, items: { flavorId: string; quantity: number }[]) =>
		deliverOrder(app, w, shopId, clerk, items);

	beforeAll(async () => {
		await requireKafka();
		unlock = await kafkaTestLock("shared");
		smtp = await startSmtpServer();
		app = await startTestApp({
			services: ["auth", "inventory", "sales", "communications", "analytics", "kafka-bridge"],
			env: { KAFKA_BROKERS, SMTP_URL: smtp.url },
		});
		w = await buildWorld(app);
	});
	afterAll(async () => {
		await closeDelivery();
		await app?.stop();
		await smtp?.close();
		await unlock?.();
	});

	it("acceptance 1: a batch delivered to two shops, sold, written off and recalled is traced unit by unit; the POS refuses it; clerks and buyers are told; BATCH_RECALLED is on Kafka", async () => {
		const flavor = await createFlavor(app, w.maker, { name: "Recall Berry", price: 400 });
		const batchId = await registerBatch(app, w.maker.token, w.factoryId, {
			flavorId: flavor.id,
			batchId: "B-1042",
			quantity: 20,
			cost: 90,
			productionDate: day(-2),
			expiryDate: day(30),
		});
		const [patronA, patronB] = [w.patron, await app.createUser("PATRON")];

		await deliver(w.shopId, w.clerk, [{ flavorId: flavor.id, quantity: 8 }]);
		await deliver(w.otherShopId, w.otherClerk, [{ flavorId: flavor.id, quantity: 6 }]);
		const atA = await inventory(w.shopId, flavor.id);
		expect(atA).toMatchObject({
			quantity: 8,
			lots: [{ batchId, batchLabel: "B-1042", expiryDate: day(30), quantity: 8, status: "SELLABLE" }],
		});

		const saleA1 = await ok<{ id: string }>(sell(w.shopId, w.clerk, [{ flavorId: flavor.id, quantity: 3 }], patronA.id), 201);
		const saleA2 = await ok<{ id: string }>(sell(w.shopId, w.clerk, [{ flavorId: flavor.id, quantity: 1 }]), 201);
		const saleB = await ok<{ id: string }>(sell(w.otherShopId, w.otherClerk, [{ flavorId: flavor.id, quantity: 2 }], patronB.id), 201);
		// The transaction shows the lots it drew.
		const tx = await ok<{
			items: { lots: { batchId: string; batchLabel: string; quantity: number; unitPrice: number; percentOff: number }[] }[];
		}>(app.request("GET", `/api/v1/sales/shops/${w.shopId}/transactions/${saleA1.id}`, { token: w.clerk.token }));
		expect(tx.items[0].lots).toEqual([
			{ batchId, batchLabel: "B-1042", expiryDate: day(30), quantity: 3, unitPrice: 400, percentOff: 0 },
		]);
		// A count that finds one unit fewer at B writes it off (STOCK_WRITTEN_OFF with the batch).
		await setStock(app, w.otherClerk, w.otherShopId, [{ flavorId: flavor.id, quantity: 3 }], "WASTE");
		const [writeOff] = await sqlRows<{ data: Record<string, unknown> }>(
			app,
			"SELECT envelope->'data' AS data FROM sales.outbox WHERE type = 'STOCK_WRITTEN_OFF' AND envelope->'data'->>'batchId' = $1",
			[batchId],
		);
		expect(writeOff.data).toMatchObject({
			batchId,
			shopId: w.otherShopId,
			factoryId: null,
			flavorId: flavor.id,
			quantity: 1,
			reason: "DAMAGE",
			costCents: 90,
		});

		// Who may recall: the producing factory's manager (not another manufacturer, not a clerk).
		const stranger = await app.createUser("MANUFACTURER");
		expect(
			(await app.request("POST", `/api/v1/inventory/batches/${batchId}/recall`, { token: stranger.token, body: { reason: "x" } }))
				.status,
		).toBe(403);
		expect(
			(await app.request("POST", `/api/v1/inventory/batches/${batchId}/recall`, { token: w.clerk.token, body: { reason: "x" } }))
				.status,
		).toBe(403);
		const clerkSocket = await connectSocket(app.baseUrl, { token: w.otherClerk.token });
		const kafka: TopicReader = await readerAtEnd(EVENT_CATALOG.BATCH_RECALLED.topic);
		try {
			const recall = await ok<{ factoryWrittenOff: number }>(
				app.request("POST", `/api/v1/inventory/batches/${batchId}/recall`, {
					token: w.maker.token,
					body: { reason: "Listeria found in a sample" },
				}),
				202,
			);
			expect(recall.factoryWrittenOff).toBe(20 - 8 - 6);
			expect(
				(
					await app.request("POST", `/api/v1/inventory/batches/${batchId}/recall`, {
						token: w.maker.token,
						body: { reason: "again" },
					})
				).body.error.code,
			).toBe("ALREADY_RECALLED");
			const [message] = await kafka.waitFor((m) => m.some((x) => x.value.data.batchId === batchId), 30_000, "BATCH_RECALLED");
			expect(message.value).toMatchObject({
				type: "BATCH_RECALLED",
				source: "inventory",
				data: { batchId, batchLabel: "B-1042", factoryId: w.factoryId, flavorId: flavor.id, reason: "Listeria found in a sample" },
			});
			// The clerk on shift sees it live.
			expect(
				await clerkSocket.next<{ type: string; data: { batchId: string } }>(
					"NOTIFICATION_RECEIVED",
					(n) => n.type === "BATCH_RECALLED",
					20_000,
				),
			).toMatchObject({ data: { batchId } });
		} finally {
			clerkSocket.close();
			await kafka.stop();
		}

		// The shops' lots stop selling: only recalled stock left is 409 RECALLED_STOCK...
		await until(async () => (await inventory(w.shopId, flavor.id))?.lots[0]?.status === "RECALLED", "shop A's lot RECALLED");
		await until(async () => (await inventory(w.otherShopId, flavor.id))?.lots[0]?.status === "RECALLED", "shop B's lot RECALLED");
		const refused = await sell(w.shopId, w.clerk, [{ flavorId: flavor.id, quantity: 1 }]);
		expect([refused.status, refused.body.error.code, refused.body.error.details[0]]).toEqual([
			409,
			"RECALLED_STOCK",
			expect.objectContaining({ flavorId: flavor.id, requested: 1, available: 0 }),
		]);
		const menu = await ok<{ items: { flavorId: string }[] }>(app.request("GET", `/api/v1/sales/shops/${w.shopId}/menu`));
		expect(menu.items.map((i) => i.flavorId)).not.toContain(flavor.id);
		// ...and a sale falls through to other lots (counted in: UNTRACKED).
		await setStock(app, w.clerk, w.shopId, [{ flavorId: flavor.id, quantity: 4 + 2 }]);
		const after = await ok<{ id: string }>(sell(w.shopId, w.clerk, [{ flavorId: flavor.id, quantity: 1 }]), 201);
		const afterTx = await ok<{ items: { lots: { batchId: string | null }[] }[] }>(
			app.request("GET", `/api/v1/sales/shops/${w.shopId}/transactions/${after.id}`, { token: w.clerk.token }),
		);
		expect(afterTx.items[0].lots).toEqual([expect.objectContaining({ batchId: null, quantity: 1 })]);

		// The trace: every unit per shop (received = on hand + sold + written off), the invoices, the factory's part.
		const trace = await ok<{
			status: string;
			factory: { produced: number; onHand: number; writtenOff: number };
			invoices: { shopId: string; quantity: number }[];
			shops: ShopTrace[];
			totals: Record<string, number>;
		}>(app.request("GET", `/api/v1/inventory/batches/${batchId}/trace`, { token: w.maker.token }));
		expect(trace.status).toBe("RECALLED");
		expect(trace.factory).toEqual({ id: w.factoryId, name: "North Factory", produced: 20, onHand: 0, writtenOff: 6 });
		expect(trace.invoices.map((i) => [i.shopId, i.quantity]).sort()).toEqual(
			[
				[w.shopId, 8],
				[w.otherShopId, 6],
			].sort(),
		);
		const byShop = new Map(trace.shops.map((s) => [s.shopId, s]));
		expect(byShop.get(w.shopId)).toMatchObject({ received: 8, onHand: 4, sold: 4, writtenOff: 0 });
		expect(byShop.get(w.otherShopId)).toMatchObject({ received: 6, onHand: 3, sold: 2, writtenOff: 1 });
		for (const s of trace.shops) expect(s.received).toBe(s.onHand + s.sold + s.writtenOff);
		expect(byShop.get(w.shopId)!.transactionIds.sort()).toEqual([saleA1.id, saleA2.id].sort());
		expect(byShop.get(w.otherShopId)!.transactionIds).toEqual([saleB.id]);
		expect(trace.totals).toEqual({ invoiced: 14, received: 14, onHand: 7, sold: 6, writtenOff: 1 });
		expect((await app.request("GET", `/api/v1/inventory/batches/${batchId}/trace`, { token: stranger.token })).status).toBe(403);

		// Clerks of both shops and both known buyers are notified (row, and mail), once each.
		for (const user of [w.clerk, w.otherClerk, patronA, patronB]) {
			const rows = await until(async () => {
				const list = await ok<{ rows: { type: string; data: { batchId?: string } }[] }>(
					app.request("GET", "/api/v1/communications/notifications", { token: user.token }),
				);
				const recalls = list.rows.filter((n) => n.type === "BATCH_RECALLED" && n.data.batchId === batchId);
				return recalls.length ? recalls : null;
			}, `the recall notification of ${user.role} ${user.id}`);
			expect(rows).toHaveLength(1);
			// A clerk is told about their own shop's units only.
			const own = user === w.clerk ? w.shopId : user === w.otherClerk ? w.otherShopId : null;
			if (own) expect((rows[0].data as { shops?: { id: string }[] }).shops?.map((s) => s.id)).toEqual([own]);
			await until(
				async () => smtp.inbox.some((m) => m.to.includes(user.email.toLowerCase()) && /recall/i.test(m.raw)),
				`the recall mail to ${user.email}`,
			);
		}
		// The factory's remainder was written off as an event too.
		const [factoryOff] = await sqlRows<{ data: Record<string, unknown> }>(
			app,
			"SELECT envelope->'data' AS data FROM inventory.outbox WHERE type = 'STOCK_WRITTEN_OFF' AND envelope->'data'->>'batchId' = $1",
			[batchId],
		);
		expect(factoryOff.data).toMatchObject({ factoryId: w.factoryId, shopId: null, quantity: 6, reason: "RECALL", costCents: 6 * 90 });
	});

	it("acceptance 2: 40 concurrent sales across three lots of one flavor draw first-expiry-first-out without oversell; lot sums equal the total", async () => {
		const flavor = await createFlavor(app, w.maker, { name: "Rush Mango", price: 300 });
		const labels = ["FEFO-LATE", "FEFO-EARLY", "FEFO-MID"];
		const ids = new Map<string, string>();
		for (const [label, expiry] of [
			["FEFO-LATE", day(20)],
			["FEFO-EARLY", day(5)],
			["FEFO-MID", day(10)],
		] as const) {
			ids.set(
				await registerBatch(app, w.maker.token, w.factoryId, {
					flavorId: flavor.id,
					batchId: label,
					quantity: 10,
					cost: 80,
					productionDate: day(-1),
					expiryDate: expiry,
				}),
				label,
			);
		}
		await deliver(w.shopId, w.clerk, [{ flavorId: flavor.id, quantity: 30 }]);
		expect((await inventory(w.shopId, flavor.id))!.lots.map((l) => [l.batchLabel, l.quantity])).toEqual([
			["FEFO-EARLY", 10],
			["FEFO-MID", 10],
			["FEFO-LATE", 10],
		]);
		expect(labels.every((l) => [...ids.values()].includes(l))).toBe(true);

		const results = await Promise.all(
			Array.from({ length: 40 }, (_, i) => sell(w.shopId, w.clerk, [{ flavorId: flavor.id, quantity: (i % 2) + 1 }])),
		);
		const sold = results.filter((r) => r.status === 201);
		expect(results.filter((r) => r.status !== 201).every((r) => r.status === 409 && r.body.error.code === "INSUFFICIENT_STOCK")).toBe(
			true,
		);
		const soldUnits = sold.reduce((n, r) => n + (r.body.items[0].quantity as number), 0);
		expect(soldUnits).toBeLessThanOrEqual(30);
		expect(soldUnits).toBeGreaterThanOrEqual(29); // only a 2-unit basket can miss the last unit

		// Replay the sales in the order they held the stock (their stock movement ids) against a FEFO model of the lots.
		const draws = await sqlRows<{ id: string; lots: { batchId: string; quantity: number }[] }>(
			app,
			`SELECT m.reference_id AS id, (SELECT json_agg(json_build_object('batchId', tl.stock_item_id, 'quantity', tl.quantity) ORDER BY s.expiry_date)
			                               FROM sales.transaction_lots tl JOIN sales.stock_lots s ON s.id = tl.lot_id WHERE tl.transaction_id = m.reference_id) AS lots
			   FROM sales.stock_movements m WHERE m.reason = 'SALE' AND m.flavor_id = $1 ORDER BY m.id`,
			[flavor.id],
		);
		expect(draws).toHaveLength(sold.length);
		const left = new Map([...ids.entries()].sort((a, b) => labels.indexOf(a[1]) - labels.indexOf(b[1])).map(([id]) => [id, 10]));
		const fefo = ["FEFO-EARLY", "FEFO-MID", "FEFO-LATE"].map((label) => [...ids.entries()].find(([, l]) => l === label)![0]);
		for (const draw of draws) {
			let want = draw.lots.reduce((n, l) => n + l.quantity, 0);
			const expected: { batchId: string; quantity: number }[] = [];
			for (const id of fefo) {
				const take = Math.min(want, left.get(id)!);
				if (take > 0) expected.push({ batchId: id, quantity: take });
				left.set(id, left.get(id)! - take);
				want -= take;
			}
			expect(draw.lots).toEqual(expected);
		}
		const [sums] = await sqlRows<{ total: number; lots: number; negative: number }>(
			app,
			`SELECT (SELECT quantity FROM sales.shop_inventory WHERE shop_id = $1 AND flavor_id = $2) AS total,
			        (SELECT sum(quantity)::int FROM sales.stock_lots WHERE shop_id = $1 AND flavor_id = $2) AS lots,
			        (SELECT count(*)::int FROM sales.stock_lots WHERE quantity < 0) AS negative`,
			[w.shopId, flavor.id],
		);
		expect(sums).toEqual({ total: 30 - soldUnits, lots: 30 - soldUnits, negative: 0 });
		// The database keeps it so: a writer that changes the total without the lots (or the reverse) cannot commit.
		for (const sql of [
			"UPDATE sales.shop_inventory SET quantity = quantity + 1 WHERE shop_id = $1 AND flavor_id = $2",
			"UPDATE sales.stock_lots SET quantity = quantity + 1 WHERE shop_id = $1 AND flavor_id = $2 AND stock_item_id IS NOT NULL",
		]) {
			await expect(sqlRows(app, `WITH u AS (${sql} RETURNING 1) SELECT count(*) FROM u`, [w.shopId, flavor.id])).rejects.toThrow(
				/lots hold/,
			);
		}
	});

	it("a batch invoiced before its recall and delivered after it arrives as a RECALLED lot, never sellable", async () => {
		const flavor = await createFlavor(app, w.maker, { name: "Late Delivery Fig", price: 310 });
		const batchId = await registerBatch(app, w.maker.token, w.factoryId, {
			flavorId: flavor.id,
			batchId: "R-LATE",
			quantity: 5,
			cost: 40,
			productionDate: day(-1),
			expiryDate: day(20),
		});
		const order = await ok<{ id: string }>(
			app.request("POST", `/api/v1/sales/shops/${w.shopId}/purchase-orders`, {
				token: w.clerk.token,
				body: { factoryId: w.factoryId, items: [{ flavorId: flavor.id, quantity: 5 }] },
			}),
			201,
		);
		await until(
			async () => (await sqlRows(app, "SELECT 1 FROM inventory.invoices WHERE order_id = $1", [order.id])).length > 0,
			"the order's invoice",
		);
		await ok(
			app.request("POST", `/api/v1/inventory/batches/${batchId}/recall`, { token: w.exec.token, body: { reason: "Wrong label" } }),
			202,
		);
		await until(
			async () => (await sqlRows(app, "SELECT 1 FROM sales.recalled_batches WHERE stock_item_id = $1", [batchId])).length > 0,
			"sales to learn of the recall",
		);
		for (const [status, user] of [
			["CONFIRMED", w.maker],
			["SHIPPED", w.maker],
			["DELIVERED", w.clerk],
		] as const) {
			await ok(app.request("PUT", `/api/v1/sales/orders/${order.id}/status`, { token: user.token, body: { status } }));
		}
		expect(await inventory(w.shopId, flavor.id)).toMatchObject({ quantity: 5, lots: [{ batchId, quantity: 5, status: "RECALLED" }] });
		expect((await sell(w.shopId, w.clerk, [{ flavorId: flavor.id, quantity: 1 }])).body.error.code).toBe("RECALLED_STOCK");
	});

	it("writes expired lots off (STOCK_WRITTEN_OFF, reason EXPIRY) once, keeping the total equal to the lots", async () => {
		const flavor = await createFlavor(app, w.maker, { name: "Yesterday Yuzu", price: 280 });
		const batchId = await registerBatch(app, w.maker.token, w.factoryId, {
			flavorId: flavor.id,
			batchId: "EXP-1",
			quantity: 5,
			// Above 2^31 cents: the cost is BIGINT all the way (delivery's allocations, the lots, the write-off).
			cost: 3_000_000_000,
			productionDate: day(-5),
			expiryDate: day(1),
		});
		await deliver(w.otherShopId, w.otherClerk, [{ flavorId: flavor.id, quantity: 7 }]); // 5 from EXP-1, 2 UNTRACKED (backordered)
		const sweep = (asOf: string) => app.broker.call<{ units: number }, { asOf: string }>("sales.lots.writeOffExpired", { asOf });
		expect((await sweep(day(1))).units).toBe(0); // expiring today is still in date
		expect((await sweep(day(2))).units).toBe(5);
		expect((await sweep(day(2))).units).toBe(0);
		expect(await inventory(w.otherShopId, flavor.id)).toMatchObject({
			quantity: 2,
			lots: [{ batchId: null, quantity: 2, status: "SELLABLE" }],
		});
		const events = await sqlRows<{ data: Record<string, unknown> }>(
			app,
			"SELECT envelope->'data' AS data FROM sales.outbox WHERE type = 'STOCK_WRITTEN_OFF' AND envelope->'data'->>'batchId' = $1",
			[batchId],
		);
		expect(events.map((e) => e.data)).toEqual([
			expect.objectContaining({
				shopId: w.otherShopId,
				flavorId: flavor.id,
				quantity: 5,
				reason: "EXPIRY",
				costCents: 5 * 3_000_000_000,
			}),
		]);
		const trace = await ok<{ shops: ShopTrace[] }>(
			app.request("GET", `/api/v1/inventory/batches/${batchId}/trace`, { token: w.exec.token }),
		);
		expect(trace.shops).toEqual([expect.objectContaining({ shopId: w.otherShopId, received: 5, onHand: 0, sold: 0, writtenOff: 5 })]);
	});

	it("acceptance 4: the markdown price shows on the menu and is charged at the POS only inside the window", async () => {
		const flavor = await createFlavor(app, w.maker, { name: "Last Call Lemon", price: 300 });
		await registerBatch(app, w.maker.token, w.factoryId, {
			flavorId: flavor.id,
			batchId: "MD-NEAR",
			quantity: 4,
			cost: 70,
			productionDate: day(-5),
			expiryDate: day(1),
		});
		await registerBatch(app, w.maker.token, w.factoryId, {
			flavorId: flavor.id,
			batchId: "MD-FAR",
			quantity: 10,
			cost: 70,
			productionDate: day(-1),
			expiryDate: day(10),
		});
		await deliver(w.shopId, w.clerk, [{ flavorId: flavor.id, quantity: 14 }]);
		const menuItem = async () =>
			(
				await ok<{
					items: { flavorId: string; price: number; markdown: { percentOff: number; price: number; quantity: number } | null }[];
				}>(app.request("GET", `/api/v1/sales/shops/${w.shopId}/menu`))
			).items.find((i) => i.flavorId === flavor.id)!;
		expect((await menuItem()).markdown).toBeNull();

		const tiers = [
			{ daysLeft: 2, percentOff: 30 },
			{ daysLeft: 1, percentOff: 50 },
		];
		expect((await app.request("PUT", "/api/v1/sales/markdown-policy", { token: w.clerk.token, body: { tiers } })).status).toBe(403);
		await ok(app.request("PUT", "/api/v1/sales/markdown-policy", { token: w.exec.token, body: { tiers } }));
		expect(await ok(app.request("GET", `/api/v1/sales/shops/${w.shopId}/markdown-policy`, { token: w.clerk.token }))).toEqual({
			shopId: w.shopId,
			source: "CHAIN",
			tiers,
		});
		// One day left: 50 % off, shown for the 4 units of that lot.
		expect(await menuItem()).toMatchObject({ price: 300, markdown: { percentOff: 50, price: 150, quantity: 4 } });

		// The client sends no price: the server charges 150 for the near lot...
		const first = await ok<{ id: string; totalAmount: number; items: { lineTotal: number; unitPrice: number }[] }>(
			sell(w.shopId, w.clerk, [{ flavorId: flavor.id, quantity: 3 }]),
			201,
		);
		expect([first.totalAmount, first.items[0].unitPrice, first.items[0].lineTotal]).toEqual([450, 300, 450]);
		// ...and full price for the far lot, outside the window (1 × 150 + 2 × 300).
		const second = await ok<{ id: string; totalAmount: number }>(sell(w.shopId, w.clerk, [{ flavorId: flavor.id, quantity: 3 }]), 201);
		expect(second.totalAmount).toBe(750);
		const tx = await ok<{
			totalAmount: number;
			items: { lots: { batchLabel: string; quantity: number; unitPrice: number; percentOff: number }[] }[];
		}>(app.request("GET", `/api/v1/sales/shops/${w.shopId}/transactions/${second.id}`, { token: w.clerk.token }));
		expect(tx.totalAmount).toBe(750);
		expect(tx.items[0].lots.map((l) => [l.batchLabel, l.quantity, l.unitPrice, l.percentOff])).toEqual([
			["MD-NEAR", 1, 150, 50],
			["MD-FAR", 2, 300, 0],
		]);
		// SALE_COMPLETED carries the lots and what the markdown gave away and brought in (analytics).
		const [event] = await sqlRows<{ data: { items: Record<string, unknown>[]; totalAmount: number } }>(
			app,
			"SELECT envelope->'data' AS data FROM sales.outbox WHERE type = 'SALE_COMPLETED' AND envelope->'data'->>'transactionId' = $1",
			[second.id],
		);
		expect(event.data.totalAmount).toBe(750);
		expect(event.data.items[0]).toMatchObject({
			quantity: 3,
			unitPrice: 300,
			lineTotal: 750,
			markdownCents: 150,
			recoveredCents: 150,
			lots: [{ quantity: 1 }, { quantity: 2 }],
		});
		// The near lot is gone: no markdown on the menu, full price at the POS.
		expect((await menuItem()).markdown).toBeNull();
		expect((await ok<{ totalAmount: number }>(sell(w.shopId, w.clerk, [{ flavorId: flavor.id, quantity: 1 }]), 201)).totalAmount).toBe(
			300,
		);

		// A shop's own policy overrides the chain default (10 days left now inside a 12-day window), and dropping it restores the default.
		await ok(
			app.request("PUT", `/api/v1/sales/shops/${w.shopId}/markdown-policy`, {
				token: w.exec.token,
				body: { tiers: [{ daysLeft: 12, percentOff: 10 }] },
			}),
		);
		expect(await menuItem()).toMatchObject({ markdown: { percentOff: 10, price: 270, quantity: 7 } });
		expect((await ok<{ totalAmount: number }>(sell(w.shopId, w.clerk, [{ flavorId: flavor.id, quantity: 2 }]), 201)).totalAmount).toBe(
			540,
		);
		await ok(app.request("DELETE", `/api/v1/sales/shops/${w.shopId}/markdown-policy`, { token: w.exec.token }));
		expect((await menuItem()).markdown).toBeNull();
		expect((await ok<{ totalAmount: number }>(sell(w.shopId, w.clerk, [{ flavorId: flavor.id, quantity: 1 }]), 201)).totalAmount).toBe(
			300,
		);
		// Analytics: revenue recovered by markdowns (3 × 150 + 1 × 150 + 2 × 270) and the discount given (450 + 150 + 60).
		await until(async () => {
			const r = await ok<{ markdowns: { revenueRecovered: number; discountGiven: number } }>(
				app.request("GET", `/api/v1/analytics/analytics/revenue?shopId=${w.shopId}&from=${day(-1)}&to=${day(1)}`, {
					token: w.exec.token,
				}),
			);
			return r.markdowns.revenueRecovered === 450 + 150 + 540 && r.markdowns.discountGiven === 450 + 150 + 60;
		}, "analytics' markdown revenue");
		// Other shops are untouched by this shop's policy and see the chain default only.
		expect(await ok(app.request("GET", `/api/v1/sales/shops/${w.otherShopId}/markdown-policy`, { token: w.exec.token }))).toMatchObject(
			{ source: "CHAIN" },
		);
	});
});
