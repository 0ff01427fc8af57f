/**
 * The sales services on their own (real PostgreSQL, no gateway), with small
 * stand-ins for the auth and inventory actions they call: invoice linking from
 * INVOICE_GENERATED (once per event), analytics figures computed in SQL, staffIds.
 */
import { randomUUID } from "node:crypto";
import { Client } from "pg";
import type { Context } from "moleculer";
import { startTestApp, type TestApp } from "../../helpers/app";
import { envelope } from "../../../lib/events";
import { closeDelivery, deliverDurably } from "../../helpers/events";

const flavors = [
	{
		id: randomUUID(),
		name: "Vanilla",
		description: "",
		category: "CREAM",
		price: 250,
		allergens: ["milk"],
		ingredients: [],
		images: [],
		archived: false,
	},
	{
		id: randomUUID(),
		name: "Lemon",
		description: "",
		category: "SORBET",
		price: 200,
		allergens: [],
		ingredients: [],
		images: [],
		archived: false,
	},
];
const factory = { id: randomUUID(), name: "F", managerId: randomUUID(), status: "ACTIVE" };
const exec = { id: randomUUID(), role: "EXECUTIVE" as const, jti: "x", exp: 0 };
const clerk = { id: randomUUID(), role: "CLERK" as const, jti: "y", exp: 0 };

describe("sales services (integration)", () => {
	let app: TestApp;
	let pg: Client;
	let shopId: string;
	const as = (user: typeof exec | typeof clerk) => ({ meta: { user } });

	beforeAll(async () => {
		app = await startTestApp({ services: ["sales"], gateway: false });
		await app.broker.createService({
			name: "inventory.flavors",
			actions: { getMany: (ctx: Context<{ ids: string[] }>) => flavors.filter((f) => ctx.params.ids.includes(f.id)) },
		});
		await app.broker.createService({
			name: "inventory.factories",
			actions: { resolve: (ctx: Context<{ id: string }>) => (ctx.params.id === factory.id ? factory : null) },
		});
		await app.broker.createService({
			name: "auth",
			actions: {
				getUsers: (ctx: Context<{ ids: string[] }>) =>
					ctx.params.ids.map((id) => ({ id, role: id === clerk.id ? "CLERK" : "PATRON", name: "n", email: "e@x.io" })),
			},
		});
		await app.broker.waitForServices(["inventory.flavors", "inventory.factories", "auth"]);
		pg = new Client({ connectionString: app.db.url });
		await pg.connect();
		shopId = (await app.broker.call<{ id: string }, object>("sales.shops.create", { name: "Solo", address: "A 1" }, as(exec))).id;
		await app.broker.call("sales.shops.addStaff", { shopId, userId: clerk.id }, as(exec));
		await app.broker.call(
			"sales.inventory.set",
			{ shopId, reason: "RESTOCK", items: flavors.map((f) => ({ flavorId: f.id, quantity: 100 })) },
			as(exec),
		);
	});
	afterAll(async () => {
		await closeDelivery();
		await pg?.end();
		await app?.stop();
	});

	it("links the invoice from INVOICE_GENERATED to its order, once per event", async () => {
		const order = await app.broker.call<{ id: string; invoiceId: string | null }, object>(
			"sales.orders.create",
			{ shopId, factoryId: factory.id, items: [{ flavorId: flavors[0].id, quantity: 5 }] },
			as(exec),
		);
		expect(order.invoiceId).toBeNull();
		const invoiceId = randomUUID();
		const event = envelope("INVOICE_GENERATED", {
			invoiceId,
			orderId: order.id,
			factoryId: factory.id,
			shopId,
			totalAmount: 1000,
			status: "ISSUED",
			dueDate: "2030-01-01",
		});
		await deliverDurably(app.db.url, event);
		const read = () => app.broker.call<{ invoiceId: string | null }, object>("sales.orders.get", { orderId: order.id });
		for (let i = 0; i < 100 && !(await read()).invoiceId; i++) await new Promise((r) => setTimeout(r, 20));
		expect((await read()).invoiceId).toBe(invoiceId);
		// The same envelope again (an at-least-once redelivery) changes nothing.
		await deliverDurably(app.db.url, { ...event, data: { ...event.data, invoiceId: randomUUID() } });
		await new Promise((r) => setTimeout(r, 200));
		expect((await read()).invoiceId).toBe(invoiceId);
		const processed = await pg.query("SELECT count(*) AS n FROM sales.processed_events WHERE event_id = $1", [event.id]);
		expect(Number(processed.rows[0].n)).toBe(1);
	});

	it("computes revenue, count, average basket, top flavors and daily figures for a date range in SQL", async () => {
		const day = (d: string, h: number) => `${d}T${String(h).padStart(2, "0")}:30:00.000Z`;
		const tx = (occurredAt: string, items: [number, number][]) => ({
			clientId: randomUUID(),
			occurredAt,
			paymentMethod: "CASH",
			items: items.map(([f, quantity]) => ({ flavorId: flavors[f].id, quantity })),
		});
		const res = await app.broker.call<{ results: { status: string }[] }, object>(
			"sales.pos.sync",
			{
				shopId,
				transactions: [
					tx(day("2026-03-01", 10), [[0, 2]]), // 500
					tx(day("2026-03-01", 23), [
						[0, 1],
						[1, 1],
					]), // 450
					tx(day("2026-03-03", 0), [[1, 3]]), // 600
					tx(day("2026-02-28", 23), [[0, 4]]), // outside the range
				],
			},
			as(clerk),
		);
		expect(res.results.map((r) => r.status)).toEqual(["accepted", "accepted", "accepted", "accepted"]);
		const stats = await app.broker.call("sales.analytics.shop", { shopId, from: "2026-03-01", to: "2026-03-03" }, as(exec));
		expect(stats).toEqual({
			shopId,
			from: "2026-03-01",
			to: "2026-03-03",
			revenue: 1550,
			transactionCount: 3,
			averageBasket: 517,
			itemsSold: 7,
			topFlavors: [
				{ flavorId: flavors[1].id, name: "Lemon", quantity: 4, revenue: 800 },
				{ flavorId: flavors[0].id, name: "Vanilla", quantity: 3, revenue: 750 },
			],
			byDay: [
				{ date: "2026-03-01", revenue: 950, transactionCount: 2 },
				{ date: "2026-03-02", revenue: 0, transactionCount: 0 },
				{ date: "2026-03-03", revenue: 600, transactionCount: 1 },
			],
		});
		await expect(
			app.broker.call("sales.analytics.shop", { shopId, from: "2026-03-05", to: "2026-03-01" }, as(exec)),
		).rejects.toMatchObject({ code: 422 });
		const page = await app.broker.call<{ total: number }, object>(
			"sales.pos.history",
			{ shopId, from: "2026-03-01", to: "2026-03-01", paymentMethod: "CASH", clerkId: clerk.id },
			as(clerk),
		);
		expect(page.total).toBe(2);
	});

	it("lists a shop's staff ids for other services, and none for an unknown shop", async () => {
		expect(await app.broker.call("sales.shops.staffIds", { shopId })).toEqual([clerk.id]);
		expect(await app.broker.call("sales.shops.staffIds", { shopId: randomUUID() })).toEqual([]);
	});
});
