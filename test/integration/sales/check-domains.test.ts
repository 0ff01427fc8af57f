/**
 * migrations/sales/240-sale-check-domains.ts: the sale tables' single-column checks are domains now.
 * Every former rule still refuses what it refused and lets through what it let through, a violation
 * still names its column (the API's field), and the lot-total triggers dropped around the type change
 * are back; on a schema that already holds sales, the migration rewrites no table or index. Real PostgreSQL.
 */
import { randomUUID } from "node:crypto";
import { Client, DatabaseError } from "pg";
import { startTestApp, type TestApp } from "../../helpers/app";
import { QueryTypes, type Sequelize } from "sequelize";
import { checkedField } from "../../../mixins/db.mixin";
import { createSequelize } from "../../../lib/database";
import { salesMigrations } from "../../../migrations/sales";
import { saleCheckDomains } from "../../../migrations/sales/240-sale-check-domains";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";

describe("sale tables' checks as domains (integration)", () => {
	let app: TestApp;
	let pg: Client;
	const shopId = randomUUID();
	const flavorId = randomUUID();
	const saleId = randomUUID();

	beforeAll(async () => {
		app = await startTestApp({ services: ["sales"], gateway: false });
		pg = new Client({ connectionString: app.db.url });
		await pg.connect();
		await pg.query("INSERT INTO sales.shops (id, name, address) VALUES ($1, 'Domains', 'Road 1')", [shopId]);
		await pg.query(
			`INSERT INTO sales.transactions (id, shop_id, clerk_id, total_amount, payment_method, request_hash) VALUES ($1, $2, $3, 500, 'CASH', 'h')`,
			[saleId, shopId, randomUUID()],
		);
	}, 60_000);

	afterAll(async () => {
		await pg?.end();
		await app?.stop();
	});

	/** Runs `sql` in a transaction that is always rolled back; the error PostgreSQL raised, if any. */
	async function attempt(sql: string, params: unknown[]): Promise<DatabaseError | undefined> {
		await pg.query("BEGIN");
		try {
			await pg.query(sql, params);
			return undefined;
		} catch (err) {
			return err as DatabaseError;
		} finally {
			await pg.query("ROLLBACK");
		}
	}

	const item = "INSERT INTO sales.transaction_items (transaction_id, line_no, flavor_id, flavor_name, quantity, unit_price, line_total)";
	const lot = "INSERT INTO sales.transaction_lots (transaction_id, line_no, lot_id, shop_id, quantity, unit_price, percent_off)";
	const move = "INSERT INTO sales.stock_movements (shop_id, flavor_id, quantity_before, quantity_after, reason)";
	const stockLot = "INSERT INTO sales.stock_lots (shop_id, flavor_id, stock_item_id, quantity, unit_cost, status, batch_label)";
	const cases: { rule: string; column: string; bad: [string, unknown[]]; good: [string, unknown[]] }[] = [
		{
			rule: "stock quantity ≥ 0",
			column: "quantity",
			bad: [`${stockLot} VALUES ($1, $2, $3, -1, 0, 'SELLABLE', 'B1')`, [shopId, flavorId, randomUUID()]],
			good: [`${stockLot} VALUES ($1, $2, $3, 0, 0, 'SELLABLE', 'B1')`, [shopId, flavorId, randomUUID()]],
		},
		{
			rule: "lot unit cost ≥ 0",
			column: "unit_cost",
			bad: [`${stockLot} VALUES ($1, $2, $3, 1, -1, 'SELLABLE', 'B1')`, [shopId, flavorId, randomUUID()]],
			good: [`${stockLot} VALUES ($1, $2, $3, 1, 0, 'SELLABLE', 'B1')`, [shopId, flavorId, randomUUID()]],
		},
		{
			rule: "lot status is known",
			column: "status",
			bad: [`${stockLot} VALUES ($1, $2, $3, 1, 0, 'LOST', 'B1')`, [shopId, flavorId, randomUUID()]],
			good: [`${stockLot} VALUES ($1, $2, $3, 1, 0, 'QUARANTINED', 'B1')`, [shopId, flavorId, randomUUID()]],
		},
		{
			rule: "batch label of 1–64 characters",
			column: "batch_label",
			bad: [`${stockLot} VALUES ($1, $2, $3, 1, 0, 'SELLABLE', $4)`, [shopId, flavorId, randomUUID(), "x".repeat(65)]],
			good: [`${stockLot} VALUES ($1, $2, $3, 1, 0, 'SELLABLE', $4)`, [shopId, flavorId, randomUUID(), "x".repeat(64)]],
		},
		{
			rule: "reorder threshold ≥ 0",
			column: "reorder_threshold",
			bad: [
				"INSERT INTO sales.shop_inventory (shop_id, flavor_id, quantity, reorder_threshold) VALUES ($1, $2, 0, -1)",
				[shopId, flavorId],
			],
			good: [
				"INSERT INTO sales.shop_inventory (shop_id, flavor_id, quantity, reorder_threshold) VALUES ($1, $2, 0, 0)",
				[shopId, flavorId],
			],
		},
		{
			rule: "quantity after a movement ≥ 0",
			column: "quantity_after",
			bad: [`${move} VALUES ($1, $2, 1, -1, 'SALE')`, [shopId, flavorId]],
			good: [`${move} VALUES ($1, $2, 1, 0, 'SALE')`, [shopId, flavorId]],
		},
		{
			rule: "movement reason is known",
			column: "reason",
			bad: [`${move} VALUES ($1, $2, 1, 0, 'THEFT')`, [shopId, flavorId]],
			good: [`${move} VALUES ($1, $2, 1, 0, 'WASTE')`, [shopId, flavorId]],
		},
		{
			rule: "sale total ≥ 0",
			column: "total_amount",
			bad: ["UPDATE sales.transactions SET total_amount = -1 WHERE id = $1", [saleId]],
			good: ["UPDATE sales.transactions SET total_amount = 0 WHERE id = $1", [saleId]],
		},
		{
			rule: "payment method is known",
			column: "payment_method",
			bad: ["UPDATE sales.transactions SET payment_method = 'IOU' WHERE id = $1", [saleId]],
			good: ["UPDATE sales.transactions SET payment_method = 'MOBILE' WHERE id = $1", [saleId]],
		},
		{
			rule: "line quantity > 0",
			column: "quantity",
			bad: [`${item} VALUES ($1, 1, $2, 'V', 0, 250, 0)`, [saleId, flavorId]],
			good: [`${item} VALUES ($1, 1, $2, 'V', 1, 250, 250)`, [saleId, flavorId]],
		},
		{
			rule: "line unit price ≥ 0",
			column: "unit_price",
			bad: [`${item} VALUES ($1, 1, $2, 'V', 1, -250, 0)`, [saleId, flavorId]],
			good: [`${item} VALUES ($1, 1, $2, 'V', 1, 0, 0)`, [saleId, flavorId]],
		},
		{
			rule: "line total ≥ 0",
			column: "line_total",
			bad: [`${item} VALUES ($1, 1, $2, 'V', 1, 250, -250)`, [saleId, flavorId]],
			good: [`${item} VALUES ($1, 1, $2, 'V', 1, 250, 250)`, [saleId, flavorId]],
		},
		{
			rule: "lot line quantity > 0",
			column: "quantity",
			bad: [`${lot} VALUES ($1, 1, $2, $3, 0, 250, 0)`, [saleId, randomUUID(), shopId]],
			good: [`${lot} VALUES ($1, 1, $2, $3, 1, 250, 0)`, [saleId, randomUUID(), shopId]],
		},
		{
			rule: "lot line percent off within 0–100",
			column: "percent_off",
			bad: [`${lot} VALUES ($1, 1, $2, $3, 1, 250, 101)`, [saleId, randomUUID(), shopId]],
			good: [`${lot} VALUES ($1, 1, $2, $3, 1, 250, 100)`, [saleId, randomUUID(), shopId]],
		},
		{
			rule: "audit outcome is known",
			column: "outcome",
			bad: ["INSERT INTO sales.audit_log (action, outcome) VALUES ('X', 'MAYBE')", []],
			good: ["INSERT INTO sales.audit_log (action, outcome) VALUES ('X', 'FAILURE')", []],
		},
	];

	it.each(cases)("$rule: refused with its column named, and the boundary value accepted", async ({ column, bad, good }) => {
		const refused = await attempt(...bad);
		expect(refused).toMatchObject({ code: "23514", constraint: `${column}_check` });
		expect(checkedField(refused as DatabaseError)).toBe(column.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()));
		expect(await attempt(...good)).toBeUndefined();
	});

	it("keeps the multi-column lot rule and the lot-total triggers", async () => {
		// An UNTRACKED lot (no batch) cannot carry a label.
		expect(await attempt(`${stockLot} VALUES ($1, $2, NULL, 1, 0, 'SELLABLE', 'B1')`, [shopId, flavorId])).toMatchObject({
			code: "23514",
			constraint: "stock_lots_untracked_has_no_batch",
		});
		const triggers = await pg.query<{ name: string }>(
			`SELECT tgname AS name FROM pg_trigger WHERE tgrelid IN ('sales.stock_lots'::regclass, 'sales.shop_inventory'::regclass) AND NOT tgisinternal ORDER BY 1`,
		);
		expect(triggers.rows.map((r) => r.name)).toEqual([
			"shop_inventory_total",
			"shop_inventory_total_update",
			"stock_lots_total",
			"stock_lots_total_update",
		]);
		// Stock whose lots do not add up is still refused at commit.
		await pg.query("BEGIN");
		await pg.query("INSERT INTO sales.shop_inventory (shop_id, flavor_id, quantity) VALUES ($1, $2, 5)", [shopId, flavorId]);
		await expect(pg.query("COMMIT")).rejects.toMatchObject({ code: "23514" });
	});
});

describe("migration 240 on a schema with sales in it (integration)", () => {
	const TABLES = [
		"shop_inventory",
		"stock_lots",
		"stock_movements",
		"transactions",
		"transaction_items",
		"transaction_lots",
		"audit_log",
	];
	let scratch: TestDatabase;
	let db: Sequelize;

	beforeAll(async () => {
		scratch = await createTestDatabase();
		db = createSequelize("sales", scratch.url, 2);
	});
	afterAll(async () => {
		await db?.close();
		await scratch?.drop();
	});

	it("relabels the columns without rewriting a table or an index, keeps every row, and enforces the rules from then on", async () => {
		const before = salesMigrations.slice(0, salesMigrations.indexOf(saleCheckDomains));
		await db.query(`CREATE SCHEMA sales`);
		await db.transaction(async (t) => {
			for (const m of before) await m.up(db, "sales", t);
		});
		const shopId = randomUUID();
		const saleId = randomUUID();
		await db.query(`INSERT INTO sales.shops (id, name, address) VALUES ('${shopId}', 'Old', 'Road 1')`);
		await db.query(
			`INSERT INTO sales.transactions (id, shop_id, clerk_id, total_amount, payment_method, request_hash) VALUES ('${saleId}', '${shopId}', '${randomUUID()}', 500, 'CARD', 'h')`,
		);
		await db.query(
			`INSERT INTO sales.stock_movements (shop_id, flavor_id, quantity_before, quantity_after, reason) VALUES ('${shopId}', '${randomUUID()}', 5, 3, 'SALE')`,
		);
		const files = async () =>
			(
				(await db.query(
					`SELECT c.relname, c.relfilenode FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
					  WHERE n.nspname = 'sales' AND (c.relname = ANY ($1) OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = ANY (SELECT ('sales.' || x)::regclass FROM unnest($1::text[]) x)))
					  ORDER BY 1`,
					{ bind: [TABLES], type: QueryTypes.SELECT },
				)) as { relname: string; relfilenode: number }[]
			).map((r) => `${r.relname}:${r.relfilenode}`);
		const filesBefore = await files();
		expect(filesBefore.length).toBeGreaterThan(TABLES.length);

		await db.transaction((t) => saleCheckDomains.up(db, "sales", t));

		expect(await files()).toEqual(filesBefore);
		const [[sale]] = (await db.query(
			`SELECT total_amount::int AS total, payment_method AS payment FROM sales.transactions WHERE id = '${saleId}'`,
		)) as [{ total: number; payment: string }[], unknown];
		expect(sale).toEqual({ total: 500, payment: "CARD" });
		await expect(db.query(`UPDATE sales.stock_movements SET reason = 'THEFT'`)).rejects.toMatchObject({
			parent: { code: "23514", constraint: "reason_check" },
		});
	});
});
