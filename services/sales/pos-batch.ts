/**
 * Group commit for POS sales (issue #12, lib/group-commit.ts). Sales of this process that arrive
 * while one is being written wait for it, then go to PostgreSQL together: one call of
 * `sales.pos_sale_batch` (migrations/sales/200-pos-sale-batch.ts), one round trip, one commit.
 * Each sale's answer is its own (a refusal — 409, 403, a reused key... — is that sale's alone).
 * A sale that finds nothing in flight goes alone, as before, through `sales.pos_sale` itself.
 */
import type { Sequelize } from "sequelize";
import { DatabaseError } from "pg";
import { queryPrepared, type PreparedStatement } from "../../lib/prepared";
import { GroupCommit, groupCommitPer, type Outcome } from "../../lib/group-commit";

/** sales.pos_sale's arguments, in its order (see pos.ts). */
export type SaleArgs = [
	saleId: string,
	shopId: string,
	clerkId: string,
	access: string,
	invalid: boolean,
	patronId: string | null,
	payment: string,
	key: string | null,
	clientId: string | null,
	hash: string,
	occurredAt: string | null,
	flavorIds: string[],
	names: string[],
	quantities: number[],
	prices: number[],
	saleEvent: string,
	saleTopic: string,
	lowEvent: string,
	lowTopic: string,
	audit: string | null,
];

export const POS_SALE: PreparedStatement = {
	name: "sales.pos_sale",
	text: `SELECT sales.pos_sale($1::uuid, $2::uuid, $3::uuid, $4::text, $5::boolean, $6::uuid, $7::text, $8::text, $9::uuid, $10::text, $11::timestamptz,
	        $12::uuid[], $13::text[], $14::int[], $15::bigint[], $16::jsonb, $17::text, $18::jsonb, $19::text, $20::jsonb) AS r`,
};

const POS_SALE_BATCH: PreparedStatement = {
	name: "sales.pos_sale_batch",
	text: `SELECT sales.pos_sale_batch($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::boolean[], $6::uuid[], $7::text[], $8::text[], $9::uuid[],
	        $10::text[], $11::timestamptz[], $12::int[], $13::uuid[], $14::uuid[], $15::text[], $16::int[], $17::bigint[], $18::jsonb, $19::text,
	        $20::jsonb, $21::text, $22::jsonb) AS r`,
};

/** Sales per call at most (each is a subtransaction; PostgreSQL caches 64 per transaction). */
const MAX_BATCH = 32;

type BatchResult = { r: unknown } | { error: { code: string; message: string; detail: string | null } };

/** The function's error of one sale as `pg` would have raised it for that sale alone. */
function saleError({ code, message, detail }: { code: string; message: string; detail: string | null }): DatabaseError {
	const err = new DatabaseError(message, 0, "error");
	err.severity = "ERROR";
	err.code = code;
	if (detail !== null) err.detail = detail;
	return err;
}

async function runAlone(db: Sequelize, args: SaleArgs): Promise<unknown> {
	const [row] = await queryPrepared<{ r: unknown }>(db, POS_SALE, args);
	return row.r;
}

async function runBatch(db: Sequelize, batch: SaleArgs[]): Promise<Outcome<unknown>[]> {
	const column = (i: number) => batch.map((args) => args[i]);
	const lines = (i: number) => batch.flatMap((args) => args[i] as unknown[]);
	const json = (i: number) => `[${batch.map((args) => (args[i] as string | null) ?? "null").join(",")}]`;
	const [row] = await queryPrepared<{ r: BatchResult[] }>(db, POS_SALE_BATCH, [
		column(0),
		column(1),
		column(2),
		column(3),
		column(4),
		column(5),
		column(6),
		column(7),
		column(8),
		column(9),
		column(10),
		batch.map((args) => args[11].length),
		batch.flatMap((args) => args[11].map(() => args[1])),
		lines(11),
		lines(12),
		lines(13),
		lines(14),
		json(15),
		batch[0][16],
		json(17),
		batch[0][18],
		json(19),
	]);
	return row.r.map((r) => ("error" in r ? { error: saleError(r.error) } : { ok: r.r }));
}

const salesOf = groupCommitPer(
	(db: Sequelize) =>
		new GroupCommit<SaleArgs, unknown>({ one: (args) => runAlone(db, args), many: (batch) => runBatch(db, batch), max: MAX_BATCH }),
);

/** Runs one sale (sales.pos_sale's result, or its error as `pg` raises it), batched with the sales that wait meanwhile. */
export function runSale<R>(db: Sequelize, args: SaleArgs): Promise<R> {
	return salesOf(db).run(args) as Promise<R>;
}
