/**
 * The POS sale as one database function (migrations/sales/030): one statement per
 * sale, the audit row in the same commit, short stock as its own SQLSTATE mapped
 * to the 409 with details, a staff check that fails closed, and the per-flavor
 * catalog cache. Sales service alone, real PostgreSQL, stand-ins for auth/inventory.
 */
import { randomUUID } from "node:crypto";
import { Client, DatabaseError } from "pg";
import type { Context } from "moleculer";
import { startTestApp, type TestApp } from "../../helpers/app";
import { INTERNAL_EVENTS } from "../../../lib/events";

const flavors = ["Vanilla", "Lemon", "Mango", "Pistachio"].map((name, i) => ({
	id: randomUUID(),
	name,
	description: "",
	category: "CREAM",
	price: 200 + 10 * i,
	allergens: [],
	ingredients: [],
	images: [],
	archived: false,
}));
const exec = { id: randomUUID(), role: "EXECUTIVE" as const, jti: "x", exp: 0 };
const clerk = { id: randomUUID(), role: "CLERK" as const, jti: "y", exp: 0 };
const stranger = { id: randomUUID(), role: "CLERK" as const, jti: "z", exp: 0 };

interface Sale {
	id: string;
	occurredAt: string;
	totalAmount: number;
	items: { flavorId: string; quantity: number }[];
}

describe("POS sale in one statement (integration)", () => {
	let app: TestApp;
	let pg: Client;
	let shopId: string;
	const catalogCalls: string[][] = [];
	const as = (user: typeof exec | typeof clerk, extra: object = {}) => ({ meta: { user, ...extra } });
	const sell = (items: { flavorId: string; quantity: number }[], user = clerk, extra: object = {}) =>
		app.broker.call<Sale, object>("sales.pos.sale", { shopId, items, paymentMethod: "CASH" }, as(user, extra));
	const count = async (sql: string, params: unknown[] = []) => Number((await pg.query(sql, params)).rows[0].n);

	beforeAll(async () => {
		app = await startTestApp({ services: ["sales"], gateway: false });
		await app.broker.createService({
			name: "inventory.flavors",
			actions: {
				getMany: (ctx: Context<{ ids: string[] }>) => {
					catalogCalls.push(ctx.params.ids);
					return flavors.filter((f) => ctx.params.ids.includes(f.id));
				},
			},
		});
		await app.broker.createService({
			name: "auth",
			actions: {
				getUsers: (ctx: Context<{ ids: string[] }>) =>
					ctx.params.ids.map((id) => ({ id, role: id === clerk.id ? "CLERK" : "PATRON", name: "n", email: "e@x.io" })),
			},
		});
		await app.broker.waitForServices(["inventory.flavors", "auth"]);
		pg = new Client({ connectionString: app.db.url });
		await pg.connect();
		// No manager: the staff check must not read a NULL manager as "maybe".
		shopId = (await app.broker.call<{ id: string }, object>("sales.shops.create", { name: "Solo", address: "A 1" }, as(exec))).id;
		await app.broker.call("sales.shops.addStaff", { shopId, userId: clerk.id }, as(exec));
		await app.broker.call(
			"sales.inventory.set",
			{ shopId, reason: "RESTOCK", items: flavors.map((f) => ({ flavorId: f.id, quantity: 10, reorderThreshold: 2 })) },
			as(exec),
		);
	});
	afterAll(async () => {
		await pg?.end();
		await app?.stop();
	});

	it("makes a sale with one statement, writing its audit row in the same commit (one per call, replays included)", async () => {
		await sell([{ flavorId: flavors[0].id, quantity: 1 }]); // warm: pool, catalog cache
		const spy = jest.spyOn(Client.prototype, "query");
		let sale: Sale;
		let calls: { client: unknown; text: string }[];
		try {
			sale = await sell([
				{ flavorId: flavors[0].id, quantity: 2 },
				{ flavorId: flavors[1].id, quantity: 1 },
			]);
		} finally {
			calls = spy.mock.calls.map(([q], i) => ({
				client: spy.mock.contexts[i],
				text: typeof q === "string" ? q : (q as { text: string }).text,
			}));
			spy.mockRestore();
		}
		// The connection that sold: other services of the process (consumer groups, the relay) share the schema's pool.
		const seller = calls.find((c) => c.text.includes("sales.pos_sale("))?.client;
		// Session set-up statements of a freshly opened pool connection aside, and the folded post-commit wake-up of the
		// outbox readers (lib/outbox-wake.ts, its own transaction), one statement did the whole sale.
		const statements = calls
			.filter((c) => c.client === seller && !/^\s*SET\b/i.test(c.text) && !c.text.includes("pg_notify("))
			.map((c) => c.text);
		expect(statements).toEqual([expect.stringContaining("sales.pos_sale(")]);
		expect(sale.totalAmount).toBe(2 * 200 + 210);
		expect(await count("SELECT count(*) AS n FROM sales.transaction_items WHERE transaction_id = $1", [sale.id])).toBe(2);
		expect(await count("SELECT count(*) AS n FROM sales.stock_movements WHERE reference_id = $1 AND reason = 'SALE'", [sale.id])).toBe(
			2,
		);
		// SALE_COMPLETED keeps its payload (inventory and analytics consume it), lines with their lots; its time is the sale's, from the database.
		const outbox = await pg.query(
			"SELECT type, topic, aggregate_id, envelope FROM sales.outbox WHERE (envelope->'data'->>'transactionId')::uuid = $1",
			[sale.id],
		);
		expect(outbox.rows).toEqual([
			{
				type: "SALE_COMPLETED",
				topic: "pos-transaction",
				aggregate_id: shopId,
				envelope: {
					id: expect.any(String),
					type: "SALE_COMPLETED",
					occurredAt: expect.any(String),
					source: "sales",
					requestId: expect.any(String),
					data: {
						transactionId: sale.id,
						shopId,
						clerkId: clerk.id,
						patronId: null,
						items: [
							// The lots each line drew (issue #15): stock counted in by hand is the UNTRACKED lot (batchId null).
							{
								flavorId: flavors[0].id,
								quantity: 2,
								unitPrice: 200,
								lineTotal: 400,
								lots: [{ batchId: null, quantity: 2 }],
							},
							{
								flavorId: flavors[1].id,
								quantity: 1,
								unitPrice: 210,
								lineTotal: 210,
								lots: [{ batchId: null, quantity: 1 }],
							},
						],
						totalAmount: 610,
						paymentMethod: "CASH",
						createdAt: sale.occurredAt,
					},
				},
			},
		]);
		const audit = await pg.query(
			"SELECT actor_id, actor_role, action, target, outcome, error_code FROM sales.audit_log WHERE target = $1",
			[sale.id],
		);
		expect(audit.rows).toEqual([
			{ actor_id: clerk.id, actor_role: "CLERK", action: "sales.pos.sale", target: sale.id, outcome: "SUCCESS", error_code: null },
		]);

		const key = randomUUID();
		const first = await sell([{ flavorId: flavors[0].id, quantity: 1 }], clerk, { idempotencyKey: key });
		const again = await sell([{ flavorId: flavors[0].id, quantity: 1 }], clerk, { idempotencyKey: key });
		expect(again).toEqual(first);
		expect(await count("SELECT count(*) AS n FROM sales.audit_log WHERE target = $1 AND outcome = 'SUCCESS'", [first.id])).toBe(2);
	});

	it("refuses short stock with its own SQLSTATE as the 409 naming every short item, writing nothing but the FAILURE audit row", async () => {
		const before = await count("SELECT count(*) AS n FROM sales.transactions");
		const outbox = await count("SELECT count(*) AS n FROM sales.outbox");
		const err = await sell([
			{ flavorId: flavors[2].id, quantity: 1 },
			{ flavorId: flavors[3].id, quantity: 11 },
			{ flavorId: flavors[2].id, quantity: 10 },
		]).catch((e: unknown) => e);
		expect(err).toMatchObject({
			code: 409,
			type: "INSUFFICIENT_STOCK",
			data: [
				{
					field: "items[0].quantity",
					flavorId: flavors[2].id,
					requested: 11,
					available: 10,
					message: "Not enough stock of Mango: 10 left, 11 requested",
				},
				{
					field: "items[1].quantity",
					flavorId: flavors[3].id,
					requested: 11,
					available: 10,
					message: "Not enough stock of Pistachio: 10 left, 11 requested",
				},
			],
		});
		expect(await count("SELECT count(*) AS n FROM sales.transactions")).toBe(before);
		expect(await count("SELECT count(*) AS n FROM sales.outbox")).toBe(outbox);
		expect(
			await count("SELECT min(quantity) AS n FROM sales.shop_inventory WHERE flavor_id = ANY($1)", [[flavors[2].id, flavors[3].id]]),
		).toBe(10);
		expect(
			await count(
				"SELECT count(*) AS n FROM sales.audit_log WHERE action = 'sales.pos.sale' AND outcome = 'FAILURE' AND error_code = 'INSUFFICIENT_STOCK'",
			),
		).toBe(1);
		// The function raises it as such, not as an arithmetic error.
		const raised = await pg
			.query(
				`SELECT sales.pos_sale(gen_random_uuid(), $1, $2, 'STAFF', false, NULL, 'CASH', NULL, NULL, 'h', NULL, ARRAY[$3]::uuid[], ARRAY['Mango'], ARRAY[99], ARRAY[220]::bigint[], '{"id":"${randomUUID()}","type":"T","data":{}}', 't', '{}', 't', NULL)`,
				[shopId, clerk.id, flavors[2].id],
			)
			.catch((e: { code: string; detail: string }) => e);
		expect(raised).toMatchObject({ code: "ZSSTK" });
		expect(JSON.parse((raised as { detail: string }).detail)).toEqual([{ flavorId: flavors[2].id, requested: 99, available: 10 }]);
	});

	it("checks the staff in the same statement and fails closed", async () => {
		await expect(sell([{ flavorId: flavors[0].id, quantity: 1 }], stranger)).rejects.toMatchObject({ code: 403 });
		await expect(
			app.broker.call(
				"sales.pos.sale",
				{ shopId: randomUUID(), items: [{ flavorId: flavors[0].id, quantity: 1 }], paymentMethod: "CASH" },
				as(clerk),
			),
		).rejects.toMatchObject({ code: 404 });
		for (const access of ["NONE", null, "staff"]) {
			const err = await pg
				.query(
					`SELECT sales.pos_sale(gen_random_uuid(), $1, $2, $3, false, NULL, 'CASH', NULL, NULL, 'h', NULL, ARRAY[$4]::uuid[], ARRAY['V'], ARRAY[1], ARRAY[200]::bigint[], '{}', 't', '{}', 't', NULL)`,
					[shopId, clerk.id, access, flavors[0].id],
				)
				.catch((e: { code: string }) => e);
			expect({ access, code: (err as { code?: string }).code }).toEqual({ access, code: "ZS403" });
		}
	});

	it("caches the catalog per flavor: a new combination of known flavors needs no call; a catalog change drops the cache", async () => {
		await app.broker.broadcast(INTERNAL_EVENTS.cacheClean("inventory"));
		catalogCalls.length = 0;
		await sell([
			{ flavorId: flavors[0].id, quantity: 1 },
			{ flavorId: flavors[1].id, quantity: 1 },
		]);
		await sell([
			{ flavorId: flavors[1].id, quantity: 1 },
			{ flavorId: flavors[2].id, quantity: 1 },
		]);
		expect(catalogCalls).toEqual([[flavors[0].id, flavors[1].id], [flavors[2].id]]);
		await sell([
			{ flavorId: flavors[2].id, quantity: 1 },
			{ flavorId: flavors[0].id, quantity: 1 },
		]);
		expect(catalogCalls).toHaveLength(2);

		flavors[0].price = 999;
		await app.broker.broadcast(INTERNAL_EVENTS.cacheClean("inventory"));
		const sale = await sell([{ flavorId: flavors[0].id, quantity: 1 }]);
		expect(sale.totalAmount).toBe(999);
		expect(catalogCalls).toHaveLength(3);
	});
	describe("group commit (services/sales/pos-batch.ts)", () => {
		let shop2: string;
		const sellAt = (items: { flavorId: string; quantity: number }[], user = clerk, extra: object = {}) =>
			app.broker.call<Sale, object>("sales.pos.sale", { shopId: shop2, items, paymentMethod: "CASH" }, as(user, extra));
		/** Sales started together: the first goes alone, the rest wait for it and go as one batch. */
		const burst = (calls: (() => Promise<Sale>)[]) => Promise.allSettled(calls.map((c) => c()));
		const batchCalls = (spy: jest.SpyInstance) =>
			spy.mock.calls.filter(([q]) => typeof q === "object" && (q as { name?: string }).name === "sales.pos_sale_batch").length;

		beforeEach(async () => {
			shop2 = (
				await app.broker.call<{ id: string }, object>(
					"sales.shops.create",
					{ name: `Batch ${randomUUID()}`, address: "B 2" },
					as(exec),
				)
			).id;
			await app.broker.call("sales.shops.addStaff", { shopId: shop2, userId: clerk.id }, as(exec));
			await app.broker.call(
				"sales.inventory.set",
				{ shopId: shop2, reason: "RESTOCK", items: flavors.map((f) => ({ flavorId: f.id, quantity: 5, reorderThreshold: 0 })) },
				as(exec),
			);
		});

		it("sales that arrive together share one call; each keeps its own answer (409 with details, 403, replay of a key used earlier in the batch)", async () => {
			const key = randomUUID();
			const spy = jest.spyOn(Client.prototype, "query");
			let results: PromiseSettledResult<Sale>[];
			try {
				results = await burst([
					() => sellAt([{ flavorId: flavors[0].id, quantity: 1 }]),
					() =>
						sellAt([
							{ flavorId: flavors[0].id, quantity: 1 },
							{ flavorId: flavors[1].id, quantity: 1 },
						]),
					() => sellAt([{ flavorId: flavors[1].id, quantity: 99 }]),
					() => sellAt([{ flavorId: flavors[0].id, quantity: 1 }], clerk, { idempotencyKey: key }),
					() => sellAt([{ flavorId: flavors[0].id, quantity: 1 }], clerk, { idempotencyKey: key }),
					() => sellAt([{ flavorId: flavors[2].id, quantity: 1 }], stranger),
					() => sellAt([{ flavorId: flavors[2].id, quantity: 2 }]),
				]);
				expect(batchCalls(spy)).toBeGreaterThan(0);
			} finally {
				spy.mockRestore();
			}
			const [a, b, short, keyed, replayed, foreign, c] = results;
			for (const r of [a, b, keyed, replayed, c]) expect(r.status).toBe("fulfilled");
			expect(short).toMatchObject({
				status: "rejected",
				reason: {
					code: 409,
					type: "INSUFFICIENT_STOCK",
					data: [{ field: "items[0].quantity", flavorId: flavors[1].id, requested: 99, available: expect.any(Number) }],
				},
			});
			expect(foreign).toMatchObject({ status: "rejected", reason: { code: 403 } });
			expect((replayed as PromiseFulfilledResult<Sale>).value).toEqual((keyed as PromiseFulfilledResult<Sale>).value);
			const stock = await pg.query<{ flavor_id: string; quantity: number }>(
				"SELECT flavor_id, quantity FROM sales.shop_inventory WHERE shop_id = $1",
				[shop2],
			);
			expect(Object.fromEntries(stock.rows.map((r) => [r.flavor_id, r.quantity]))).toEqual({
				[flavors[0].id]: 2,
				[flavors[1].id]: 4,
				[flavors[2].id]: 3,
				[flavors[3].id]: 5,
			});
			expect(await count("SELECT count(*) AS n FROM sales.transactions WHERE shop_id = $1", [shop2])).toBe(4);
			expect(await count("SELECT count(*) AS n FROM sales.stock_lots WHERE shop_id = $1 AND quantity <> 5", [shop2])).toBe(3);
			// One SALE_COMPLETED per sale made.
			expect(await count("SELECT count(*) AS n FROM sales.outbox WHERE type = 'SALE_COMPLETED' AND aggregate_id = $1", [shop2])).toBe(
				4,
			);
		});

		/** A burst of 5 one-unit sales whose first `sales.pos_sale_batch` call fails with `severity`/`code` instead of reaching the server. */
		const burstWithFailingBatch = async (message: string, severity: "ERROR" | "FATAL", code: string) => {
			const original = Client.prototype.query;
			let failed = 0;
			const spy = jest.spyOn(Client.prototype, "query").mockImplementation(function (this: Client, ...args: unknown[]) {
				const [q] = args as [{ name?: string }];
				if (typeof q === "object" && q?.name === "sales.pos_sale_batch" && failed++ === 0) {
					const err = new DatabaseError(message, 0, "error");
					err.severity = severity;
					err.code = code;
					return Promise.reject(err);
				}
				return (original as (...a: unknown[]) => unknown).apply(this, args);
			} as never);
			try {
				const results = await burst([0, 1, 2, 0, 1].map((i) => () => sellAt([{ flavorId: flavors[i].id, quantity: 1 }])));
				return { results, failed };
			} finally {
				spy.mockRestore();
			}
		};

		it("re-runs each sale alone when the batch call fails on the server (nothing of it was kept)", async () => {
			const { results, failed } = await burstWithFailingBatch("could not serialize access", "ERROR", "40001");
			expect(failed).toBeGreaterThan(0);
			expect(results.map((r) => r.status)).toEqual(Array(5).fill("fulfilled"));
			expect(await count("SELECT count(*) AS n FROM sales.transactions WHERE shop_id = $1", [shop2])).toBe(5);
			expect(await count("SELECT sum(quantity) AS n FROM sales.shop_inventory WHERE shop_id = $1", [shop2])).toBe(4 * 5 - 5);
		});

		it("does not re-run a batch whose outcome is unknown (a FATAL error or a lost connection): each of its sales fails", async () => {
			const { results, failed } = await burstWithFailingBatch(
				"terminating connection due to administrator command",
				"FATAL",
				"57P01",
			);
			expect(failed).toBe(1);
			const rejected = results.filter((r) => r.status === "rejected");
			expect(rejected.length).toBeGreaterThan(1);
			// Only the sales that went alone or in a later batch were made (the mock kept nothing of the failed one).
			expect(await count("SELECT count(*) AS n FROM sales.transactions WHERE shop_id = $1", [shop2])).toBe(5 - rejected.length);
		});
	});
	describe("its own lot-total check (migration 230)", () => {
		/** sales.pos_sale called directly on `c`, inside the caller's transaction. */
		const callSale = (c: Client, lines: { flavorId: string; quantity: number }[]) => {
			const picked = lines.map((l) => flavors.find((f) => f.id === l.flavorId)!);
			const event = (type: string) => JSON.stringify({ id: randomUUID(), type, data: {} });
			return c.query(
				`SELECT sales.pos_sale($1::uuid, $2::uuid, $3::uuid, 'STAFF', false, NULL, 'CASH', NULL, NULL, 'h', NULL,
				        $4::uuid[], $5::text[], $6::int[], $7::bigint[], $8::jsonb, 'sales.events', $9::jsonb, 'sales.events', NULL) AS r`,
				[
					randomUUID(),
					shopId,
					clerk.id,
					lines.map((l) => l.flavorId),
					picked.map((f) => f.name),
					lines.map((l) => l.quantity),
					picked.map((f) => f.price),
					event("SALE_COMPLETED"),
					event("INVENTORY_LOW"),
				],
			);
		};
		const checkCalls = async (c: Client) =>
			Number(
				(
					await c.query(
						"SELECT COALESCE(sum(calls), 0) AS n FROM pg_stat_xact_user_functions WHERE schemaname = 'sales' AND funcname = 'check_lot_total'",
					)
				).rows[0].n,
			);
		let c: Client;
		beforeEach(async () => {
			c = new Client({ connectionString: app.db.url });
			await c.connect();
		});
		afterEach(async () => {
			await c.query("ROLLBACK").catch(() => undefined);
			await c.end();
		});

		it("a sale queues no deferred check of its rows (it checks them itself); it still holds stock = lots", async () => {
			await c.query("BEGIN");
			await c.query("SET LOCAL track_functions = 'pl'");
			await callSale(c, [
				{ flavorId: flavors[2].id, quantity: 1 },
				{ flavorId: flavors[3].id, quantity: 2 },
			]);
			// Fires every deferred check queued so far, now: the sale's two stock rows and two lots queued none.
			await c.query("SET CONSTRAINTS ALL IMMEDIATE");
			expect(await checkCalls(c)).toBe(0);
			const { rows } = await c.query<{ flavor_id: string; stock: number; lots: number }>(
				`SELECT i.flavor_id, i.quantity AS stock, (SELECT sum(quantity) FROM sales.stock_lots l WHERE l.shop_id = i.shop_id AND l.flavor_id = i.flavor_id)::int AS lots
				   FROM sales.shop_inventory i WHERE i.shop_id = $1`,
				[shopId],
			);
			for (const r of rows) expect(r.stock).toBe(r.lots);
		});

		it("other writers in the same transaction, after a sale, are still checked at commit", async () => {
			await c.query("BEGIN");
			await c.query("SET LOCAL track_functions = 'pl'");
			await callSale(c, [{ flavorId: flavors[2].id, quantity: 1 }]);
			await c.query("UPDATE sales.shop_inventory SET quantity = quantity + 1 WHERE shop_id = $1 AND flavor_id = $2", [
				shopId,
				flavors[2].id,
			]);
			const err = await c.query("COMMIT").then(
				() => null,
				(e: DatabaseError) => e,
			);
			expect(err).toMatchObject({ code: "23514", constraint: "shop_inventory_equals_lots" });
		});

		it("refuses a flavor listed twice (its stock row would go down once, its lots twice)", async () => {
			await c.query("BEGIN");
			const err = await callSale(c, [
				{ flavorId: flavors[2].id, quantity: 1 },
				{ flavorId: flavors[2].id, quantity: 1 },
			]).then(
				() => null,
				(e: DatabaseError) => e,
			);
			expect(err).toMatchObject({ code: "23514", constraint: "shop_inventory_equals_lots" });
		});
	});
});
