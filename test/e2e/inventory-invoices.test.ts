/** Inventory over HTTP: FEFO invoicing from purchase orders, manual invoices, the status machine, consumption and suppliers. */
import { randomUUID } from "node:crypto";
import { startTestApp, type TestApp, type TestUser } from "../helpers/app";
import { envelope, type EventPayloads } from "../../lib/events";
import { UNKNOWN_ID, createFactory, createFlavor, day, registerBatch, sqlRows } from "../integration/inventory/helpers";
import { closeDelivery, deliverDurably } from "../helpers/events";
import { eventually as until } from "../helpers/eventually";

const V1 = "/api/v1/inventory";
const V0 = "/api/inventory";

describe("inventory: invoices, consumption and suppliers", () => {
	let app: TestApp;
	let maker: TestUser;
	let otherMaker: TestUser;
	let exec: TestUser;
	let admin: TestUser;
	let clerk: TestUser;
	let factoryId: string;
	let otherFactoryId: string;
	let vanilla: string;
	let mango: string;
	const shopId = randomUUID();
	const batches: Record<string, string> = {};

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "inventory", "sales"], env: { INVOICE_DUE_DAYS: "14" } });
		[maker, otherMaker, exec, admin, clerk] = await Promise.all([
			app.createUser("MANUFACTURER"),
			app.createUser("MANUFACTURER"),
			app.createUser("EXECUTIVE"),
			app.createUser("ADMIN"),
			app.createUser("CLERK"),
		]);
		factoryId = await createFactory(app, exec.token, maker.id);
		otherFactoryId = await createFactory(app, exec.token, otherMaker.id);
		vanilla = await createFlavor(app, maker.token, { name: "Vanilla", price: 300 });
		mango = await createFlavor(app, maker.token, { name: "Mango", price: 280 });
		// Registered out of order on purpose; one expired batch, one expiring today.
		const specs: [string, number, number][] = [
			["LATE", 15, 10],
			["EXPIRED", -1, 100],
			["EARLY", 5, 10],
			["TODAY", 0, 100],
			["MIDDLE", 10, 10],
		];
		for (const [batchId, expiresIn, quantity] of specs) {
			batches[batchId] = await registerBatch(app, maker.token, factoryId, {
				flavorId: vanilla,
				batchId,
				quantity,
				cost: 100,
				productionDate: day(-20),
				expiryDate: day(expiresIn),
			});
		}
	});
	afterAll(async () => {
		await closeDelivery();
		await app?.stop();
	});

	const quantities = async () =>
		Object.fromEntries(
			(
				await sqlRows<{ batch_id: string; quantity: number }>(
					app,
					`SELECT batch_id, quantity FROM inventory.stock_items WHERE factory_id = $1`,
					[factoryId],
				)
			).map((r) => [r.batch_id, r.quantity]),
		);
	const invoiceCount = async () => (await sqlRows<{ n: number }>(app, `SELECT count(*)::int AS n FROM inventory.invoices`))[0].n;
	/** A purchase order row in sales (written directly: no PURCHASE_ORDER_CREATED, so no automatic invoice). */
	const placeOrder = async (shop: string, factory: string, id: string = randomUUID()) => {
		await sqlRows(app, `INSERT INTO sales.shops (id, name, address) VALUES ($1, 'Test shop', 'Street 1') ON CONFLICT (id) DO NOTHING`, [
			shop,
		]);
		await sqlRows(app, `INSERT INTO sales.orders (id, shop_id, factory_id, items, requested_by) VALUES ($1, $2, $3, '[]', $4)`, [
			id,
			shop,
			factory,
			clerk.id,
		]);
		return id;
	};
	const order = (items: EventPayloads["PURCHASE_ORDER_CREATED"]["items"], orderId: string = randomUUID()) =>
		envelope("PURCHASE_ORDER_CREATED", {
			orderId,
			shopId,
			factoryId,
			items,
			requestedBy: clerk.id,
			createdAt: new Date().toISOString(),
		});

	let orderInvoiceId: string;
	let orderId: string;

	describe("from PURCHASE_ORDER_CREATED", () => {
		it("allocates first-expiry-first-out across batches, never from an expired batch, and backorders the rest", async () => {
			const event = order([
				{ flavorId: vanilla, quantity: 25 },
				{ flavorId: mango, quantity: 5 },
			]);
			orderId = event.data.orderId;
			await deliverDurably(app.db.url, event);
			const summary = await until(
				() => app.broker.call<{ id: string } | null, object>("inventory.invoices.forOrder", { orderId }),
				"the invoice",
			);
			orderInvoiceId = summary.id;
			const res = await app.request("GET", `${V1}/invoices/${orderInvoiceId}`, { token: maker.token });
			expect(res.status).toBe(200);
			const inv = res.body;
			expect(inv).toMatchObject({
				orderId,
				shopId,
				factoryId,
				status: "ISSUED",
				totalAmount: 25 * 300,
				hasBackorders: true,
				dueDate: day(14),
			});
			expect(inv.items[0]).toMatchObject({
				lineNo: 1,
				flavorId: vanilla,
				quantity: 25,
				quantityAllocated: 25,
				quantityBackordered: 0,
				backordered: false,
				unitPrice: 300,
				lineTotal: 7500,
			});
			expect(inv.items[0].allocations.map((a: { batchId: string; quantity: number }) => [a.batchId, a.quantity])).toEqual([
				["EARLY", 10],
				["MIDDLE", 10],
				["LATE", 5],
			]);
			expect(inv.items[1]).toMatchObject({
				lineNo: 2,
				flavorId: mango,
				quantity: 5,
				quantityAllocated: 0,
				quantityBackordered: 5,
				backordered: true,
				lineTotal: 0,
				allocations: [],
			});
			expect(await quantities()).toEqual({ EARLY: 0, MIDDLE: 0, LATE: 5, EXPIRED: 100, TODAY: 100 });
			const [generated] = await sqlRows<{ envelope: { data: EventPayloads["INVOICE_GENERATED"] } }>(
				app,
				`SELECT envelope FROM inventory.outbox WHERE type = 'INVOICE_GENERATED' AND aggregate_id = $1`,
				[orderInvoiceId],
			);
			expect(generated.envelope.data).toMatchObject({
				invoiceId: orderInvoiceId,
				orderId,
				shopId,
				factoryId,
				totalAmount: 7500,
				status: "ISSUED",
			});
			const movements = await sqlRows<{ n: number }>(
				app,
				`SELECT count(*)::int AS n FROM inventory.stock_movements WHERE invoice_id = $1 AND kind = 'ALLOCATION'`,
				[orderInvoiceId],
			);
			expect(movements[0].n).toBe(3);
		});

		it("creates exactly one invoice per event id and per order id", async () => {
			const before = [await invoiceCount(), await quantities()];
			const [sent] = await sqlRows<{ envelope: unknown }>(
				app,
				`SELECT envelope FROM inventory.outbox WHERE type = 'INVOICE_GENERATED' AND aggregate_id = $1`,
				[orderInvoiceId],
			);
			expect(sent).toBeTruthy();
			const again = order([{ flavorId: vanilla, quantity: 1 }], orderId);
			await deliverDurably(app.db.url, again); // same order, new event id
			await deliverDurably(app.db.url, again); // same event id twice
			await app.broker.call("inventory.invoices.forOrder", { orderId });
			// A later order is processed after those: once it has its invoice, the duplicates were handled too.
			const marker = order([{ flavorId: vanilla, quantity: 1 }]);
			await deliverDurably(app.db.url, marker);
			await until(() => app.broker.call("inventory.invoices.forOrder", { orderId: marker.data.orderId }), "the marker invoice");
			await new Promise((r) => setTimeout(r, 200));
			expect(
				(await sqlRows<{ n: number }>(app, `SELECT count(*)::int AS n FROM inventory.invoices WHERE order_id = $1`, [orderId]))[0]
					.n,
			).toBe(1);
			expect(await invoiceCount()).toBe((before[0] as number) + 1);
			expect((await quantities()).LATE).toBe(4);
		});
	});

	describe("manual invoices", () => {
		it("creates one for the factory's manufacturer or an executive, allocating FEFO", async () => {
			const body = { factoryId, shopId, items: [{ flavorId: vanilla, quantity: 2 }], notes: "Walk-in order" };
			for (const user of [otherMaker, clerk, admin])
				expect((await app.request("POST", `${V1}/invoices`, { token: user.token, body })).status).toBe(403);
			const res = await app.request("POST", `${V0}/invoices`, {
				token: maker.token,
				body: { ...body, orderId: await placeOrder(shopId, factoryId) },
			});
			expect(res.status).toBe(201);
			expect(res.headers.get("location")).toBe(`/api/v1/inventory/invoices/${res.body.id}`);
			expect(res.body).toMatchObject({ totalAmount: 600, hasBackorders: false, notes: "Walk-in order", status: "ISSUED" });
			expect(res.body.items[0].allocations.map((a: { batchId: string }) => a.batchId)).toEqual(["LATE"]);
			const byExec = await app.request("POST", `${V1}/invoices`, {
				token: exec.token,
				body: { ...body, items: [{ flavorId: vanilla, quantity: 3 }], dueDate: day(3) },
			});
			expect(byExec.status).toBe(201);
			// Only 2 sellable units are left (the rest expired or expire today): 1 is backordered.
			expect(byExec.body).toMatchObject({ dueDate: day(3), orderId: null, totalAmount: 600, hasBackorders: true });
			expect(byExec.body.items[0]).toMatchObject({ quantityAllocated: 2, quantityBackordered: 1, backordered: true });
		});

		it("rejects bad input naming the field and writes nothing", async () => {
			await placeOrder(shopId, factoryId, orderId); // the order invoiced from PURCHASE_ORDER_CREATED above
			const otherFactorysOrder = await placeOrder(shopId, otherFactoryId);
			const otherShopsOrder = await placeOrder(randomUUID(), factoryId);
			const before = [await invoiceCount(), await quantities()];
			const ok = { factoryId, shopId, items: [{ flavorId: vanilla, quantity: 1 }] };
			const cases: [Record<string, unknown>, number, string][] = [
				[{ factoryId: UNKNOWN_ID }, 422, "factoryId"],
				[
					{
						items: [
							{ flavorId: vanilla, quantity: 1 },
							{ flavorId: UNKNOWN_ID, quantity: 1 },
						],
					},
					422,
					"items[1].flavorId",
				],
				[{ items: [{ flavorId: vanilla, quantity: -3 }] }, 422, "items[0].quantity"],
				[{ items: [] }, 422, "items"],
				[
					{
						items: [
							{ flavorId: vanilla, quantity: 1 },
							{ flavorId: vanilla, quantity: 1 },
						],
					},
					422,
					"items[1].flavorId",
				],
				[{ dueDate: day(-1) }, 422, "dueDate"],
				[{ orderId }, 409, "orderId"],
				// The order must be this shop's, placed with this factory.
				[{ orderId: UNKNOWN_ID }, 422, "orderId"],
				[{ orderId: otherFactorysOrder }, 422, "orderId"],
				[{ orderId: otherShopsOrder }, 422, "orderId"],
			];
			for (const [change, status, field] of cases) {
				const res = await app.request("POST", `${V1}/invoices`, { token: exec.token, body: { ...ok, ...change } });
				expect([JSON.stringify(change), res.status]).toEqual([JSON.stringify(change), status]);
				expect(status === 422 ? res.body.error.details[0].field : res.body.error.details.field).toBe(field);
			}
			expect([await invoiceCount(), await quantities()]).toEqual(before);
		});
	});

	describe("reading and status", () => {
		it("shows details to the factory's manufacturer, executives and admins only", async () => {
			for (const base of [V1, V0]) {
				for (const user of [maker, exec, admin])
					expect((await app.request("GET", `${base}/invoices/${orderInvoiceId}`, { token: user.token })).status).toBe(200);
				expect((await app.request("GET", `${base}/invoices/${orderInvoiceId}`, { token: otherMaker.token })).status).toBe(403);
				expect((await app.request("GET", `${base}/invoices/${orderInvoiceId}`, { token: clerk.token })).status).toBe(403);
				expect((await app.request("GET", `${base}/invoices/${UNKNOWN_ID}`, { token: exec.token })).status).toBe(404);
			}
		});

		it("lists with filters; a manufacturer sees only their factories' invoices", async () => {
			const all = await app.request("GET", `${V1}/invoices`, { token: exec.token });
			expect(all.body.total).toBe(4);
			const mine = await app.request("GET", `${V0}/invoices?factoryId=${factoryId}&shopId=${shopId}&status=ISSUED`, {
				token: maker.token,
			});
			expect(mine.body.total).toBe(4);
			expect((await app.request("GET", `${V1}/invoices`, { token: otherMaker.token })).body.total).toBe(0);
			expect((await app.request("GET", `${V1}/invoices?factoryId=${factoryId}`, { token: otherMaker.token })).status).toBe(403);
			expect((await app.request("GET", `${V1}/invoices?factoryId=${otherFactoryId}`, { token: otherMaker.token })).body.total).toBe(
				0,
			);
			expect((await app.request("GET", `${V1}/invoices?dueBefore=${day(4)}`, { token: admin.token })).body.total).toBe(1);
			expect((await app.request("GET", `${V1}/invoices?shopId=${UNKNOWN_ID}`, { token: admin.token })).body.total).toBe(0);
			expect((await app.request("GET", `${V1}/invoices?status=LOST`, { token: admin.token })).status).toBe(422);
			expect((await app.request("GET", `${V1}/invoices?sort=shopId`, { token: admin.token })).status).toBe(422);
			expect((await app.request("GET", `${V1}/invoices`, { token: clerk.token })).status).toBe(403);
		});

		it("moves through the state machine; illegal moves are 409; voiding returns the units", async () => {
			const move = (id: string, status: string, token = exec.token, base = V1) =>
				app.request("PUT", `${base}/invoices/${id}/status`, { token, body: { status } });
			expect((await move(orderInvoiceId, "PAID", otherMaker.token)).status).toBe(403);
			expect((await move(orderInvoiceId, "PAID", clerk.token)).status).toBe(403);
			expect((await move(UNKNOWN_ID, "PAID")).status).toBe(404);
			expect((await move(orderInvoiceId, "LOST")).status).toBe(422);
			expect((await move(orderInvoiceId, "ISSUED")).status).toBe(409);
			const paid = await move(orderInvoiceId, "PAID", maker.token, V0);
			expect(paid.status).toBe(200);
			expect(paid.body.status).toBe("PAID");
			expect(paid.body.paidAt).toBeTruthy();
			const noVoid = await move(orderInvoiceId, "VOID");
			expect(noVoid.status).toBe(409);
			expect(noVoid.body.error.code).toBe("ILLEGAL_TRANSITION");
			expect((await move(orderInvoiceId, "OVERDUE", admin.token)).status).toBe(409);

			const other = (await app.request("GET", `${V1}/invoices?sort=createdAt&pageSize=1&page=2`, { token: exec.token })).body.rows[0];
			const held = await quantities();
			expect((await move(other.id, "OVERDUE", admin.token)).status).toBe(200);
			const voided = await move(other.id, "VOID");
			expect(voided.status).toBe(200);
			expect(voided.body.items[0].allocations.every((a: { released: boolean }) => a.released)).toBe(true);
			expect((await quantities()).LATE).toBe(held.LATE + 1);
			expect((await move(other.id, "PAID")).status).toBe(409);
			expect((await move(other.id, "VOID")).status).toBe(409);
		});
	});

	describe("concurrency", () => {
		it("never allocates more than a batch holds when invoices race for the same stock", async () => {
			const f = await createFactory(app, exec.token, maker.id);
			await registerBatch(app, maker.token, f, {
				flavorId: mango,
				batchId: "R-1",
				quantity: 6,
				cost: 10,
				productionDate: day(-1),
				expiryDate: day(9),
			});
			await registerBatch(app, maker.token, f, {
				flavorId: mango,
				batchId: "R-2",
				quantity: 4,
				cost: 10,
				productionDate: day(-1),
				expiryDate: day(12),
			});
			const results = await Promise.all(
				Array.from({ length: 5 }, () =>
					app.request("POST", `${V1}/invoices`, {
						token: maker.token,
						body: { factoryId: f, shopId, items: [{ flavorId: mango, quantity: 4 }] },
					}),
				),
			);
			expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
			const allocated = results.reduce((sum, r) => sum + r.body.items[0].quantityAllocated, 0);
			expect(allocated).toBe(10);
			const left = await sqlRows<{ quantity: number }>(app, `SELECT quantity FROM inventory.stock_items WHERE factory_id = $1`, [f]);
			expect(left.map((r) => r.quantity)).toEqual([0, 0]);
		});
	});

	describe("consumption from SALE_COMPLETED", () => {
		it("records units per shop, flavor and day once per event", async () => {
			const sale = (items: { flavorId: string; quantity: number; unitPrice: number }[]) =>
				envelope("SALE_COMPLETED", {
					transactionId: randomUUID(),
					shopId,
					clerkId: clerk.id,
					patronId: null,
					items: items.map((i) => ({ ...i, lineTotal: i.quantity * i.unitPrice })),
					totalAmount: items.reduce((s, i) => s + i.quantity * i.unitPrice, 0),
					paymentMethod: "CARD",
					createdAt: new Date().toISOString(),
				});
			const first = sale([
				{ flavorId: vanilla, quantity: 2, unitPrice: 300 },
				{ flavorId: vanilla, quantity: 1, unitPrice: 300 },
				{ flavorId: mango, quantity: 1, unitPrice: 280 },
			]);
			await deliverDurably(app.db.url, first);
			await deliverDurably(app.db.url, first);
			const second = sale([{ flavorId: vanilla, quantity: 4, unitPrice: 300 }]);
			await deliverDurably(app.db.url, second);
			await deliverDurably(app.db.url, second);
			const today = day(0);
			const rows = await until(async () => {
				const res = await app.request("GET", `${V1}/consumption?shopId=${shopId}&sort=quantity`, { token: exec.token });
				return res.body.rows?.length === 2 && res.body.rows[1].sales === 2 ? res.body.rows : null;
			}, "consumption rows");
			await new Promise((r) => setTimeout(r, 200));
			const res = await app.request("GET", `${V0}/consumption?shopId=${shopId}&sort=quantity`, { token: maker.token });
			expect(res.body.rows).toEqual(rows);
			expect(rows).toEqual([
				{ shopId, flavorId: mango, day: today, quantity: 1, revenue: 280, sales: 1 },
				{ shopId, flavorId: vanilla, day: today, quantity: 7, revenue: 2100, sales: 2 },
			]);
			expect((await app.request("GET", `${V1}/consumption`, { token: clerk.token })).status).toBe(403);
			const analytics = await app.request("GET", `${V1}/factories/${factoryId}/analytics`, { token: maker.token });
			expect(analytics.body.demand.find((d: { flavorId: string }) => d.flavorId === vanilla)).toMatchObject({
				consumed: 7,
				revenue: 2100,
			});
		});
	});

	describe("suppliers", () => {
		it("adds, lists, shows and updates suppliers (EXECUTIVE, MANUFACTURER) with validated contact and rating", async () => {
			const body = {
				name: "Alpine Dairy",
				contact: { email: "Sales@Alpine.example", phone: "+43 512 123456", address: "Innsbruck" },
				specialties: ["milk", "cream"],
				rating: 4.25,
			};
			for (const user of [clerk, admin])
				expect((await app.request("POST", `${V1}/suppliers`, { token: user.token, body })).status).toBe(403);
			const res = await app.request("POST", `${V1}/suppliers`, { token: exec.token, body });
			expect(res.status).toBe(201);
			expect(res.body).toMatchObject({
				name: "Alpine Dairy",
				contact: { email: "sales@alpine.example", phone: "+43 512 123456", address: "Innsbruck" },
				specialties: ["milk", "cream"],
				rating: 4.3,
			});
			const id = res.body.id;
			const second = await app.request("POST", `${V0}/suppliers`, {
				token: maker.token,
				body: { name: "Fruit Co", contact: { email: "a@fruit.example", phone: "555-1234" }, specialties: ["mango"] },
			});
			expect(second.status).toBe(201);
			expect(second.body.rating).toBe(0);

			const bad = await app.request("POST", `${V1}/suppliers`, {
				token: exec.token,
				body: { name: "Bad", contact: { email: "nope", phone: "x" }, rating: 6 },
			});
			expect(bad.status).toBe(422);
			expect(bad.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual([
				"contact.email",
				"contact.phone",
				"rating",
			]);
			expect(
				(await app.request("POST", `${V1}/suppliers`, { token: exec.token, body: { ...body, name: "alpine dairy" } })).status,
			).toBe(409);

			for (const base of [V1, V0]) {
				expect((await app.request("GET", `${base}/suppliers`, { token: maker.token })).body.total).toBe(2);
				expect(
					(await app.request("GET", `${base}/suppliers?specialty=mango`, { token: exec.token })).body.rows.map(
						(s: { name: string }) => s.name,
					),
				).toEqual(["Fruit Co"]);
				expect(
					(await app.request("GET", `${base}/suppliers?minRating=4&sort=-rating`, { token: exec.token })).body.rows.map(
						(s: { name: string }) => s.name,
					),
				).toEqual(["Alpine Dairy"]);
				expect((await app.request("GET", `${base}/suppliers?search=FRUIT`, { token: exec.token })).body.total).toBe(1);
				expect((await app.request("GET", `${base}/suppliers/${id}`, { token: exec.token })).body.name).toBe("Alpine Dairy");
				expect((await app.request("GET", `${base}/suppliers/${UNKNOWN_ID}`, { token: exec.token })).status).toBe(404);
				expect((await app.request("GET", `${base}/suppliers`, { token: clerk.token })).status).toBe(403);
			}
			const upd = await app.request("PUT", `${V0}/suppliers/${id}`, {
				token: maker.token,
				body: { rating: 3, contact: { email: "new@alpine.example", phone: "+43 1 234567" } },
			});
			expect(upd.status).toBe(200);
			expect(upd.body).toMatchObject({
				rating: 3,
				contact: { email: "new@alpine.example", address: null },
				specialties: ["milk", "cream"],
			});
			expect(
				(await app.request("PUT", `${V1}/suppliers/${id}`, { token: maker.token, body: { rating: -1 } })).body.error.details[0]
					.field,
			).toBe("rating");
			expect((await app.request("PUT", `${V1}/suppliers/${id}`, { token: maker.token, body: { name: "Fruit Co" } })).status).toBe(
				409,
			);
			expect((await app.request("PUT", `${V1}/suppliers/${UNKNOWN_ID}`, { token: maker.token, body: { rating: 1 } })).status).toBe(
				404,
			);
			expect((await app.request("PUT", `${V1}/suppliers/${id}`, { token: clerk.token, body: { rating: 1 } })).status).toBe(403);
		});
	});

	describe("manual invoices naming another factory's order", () => {
		it("are refused like an unknown order: the other factory's invoice id never shows", async () => {
			const foreign = envelope("PURCHASE_ORDER_CREATED", {
				orderId: randomUUID(),
				shopId,
				factoryId: otherFactoryId,
				items: [{ flavorId: vanilla, quantity: 1 }],
				requestedBy: clerk.id,
				createdAt: new Date().toISOString(),
			});
			await placeOrder(shopId, otherFactoryId, foreign.data.orderId);
			await deliverDurably(app.db.url, foreign);
			const theirs = await until(
				() => app.broker.call<{ id: string } | null, object>("inventory.invoices.forOrder", { orderId: foreign.data.orderId }),
				"the other factory's invoice",
			);
			const before = await invoiceCount();
			const res = await app.request("POST", `${V1}/invoices`, {
				token: maker.token,
				body: { factoryId, shopId, orderId: foreign.data.orderId, items: [{ flavorId: vanilla, quantity: 1 }] },
			});
			expect([res.status, res.body.error.details[0]?.field]).toEqual([422, "orderId"]);
			expect(JSON.stringify(res.body)).not.toContain(theirs.id);
			expect(await invoiceCount()).toBe(before);
		});
	});
});
