/**
 * Group commit for POS sales (issue #12). Sales of this process that arrive while one is being
 * written wait for it, then go to PostgreSQL together: one call of `sales.pos_sale_batch`
 * (migrations/sales/200-pos-sale-batch.ts), one round trip, one commit. Each sale is still
 * `sales.pos_sale` in its own subtransaction, so one sale's refusal (409, 403, a reused key...)
 * is that sale's answer alone. A sale that finds nothing in flight goes alone, as before, through
 * `sales.pos_sale` itself: an idle till waits for nobody.
 *
 * If the batch call itself fails with an ERROR from the server (e.g. a commit-time check or a
 * deadlock), PostgreSQL has kept nothing of it: each of its sales is re-run alone, in order, and
 * gets exactly the answer it would have had unbatched. A lost connection or a FATAL error (outcome
 * unknown) is every sale's error, as it would be for a single sale.
 */
import type { Sequelize } from "sequelize";
import { DatabaseError } from "pg";
import { queryPrepared, type PreparedStatement } from "../../lib/prepared";

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

interface Pending {
	args: SaleArgs;
	resolve(result: unknown): void;
	reject(err: unknown): void;
}

interface Batcher {
	queue: Pending[];
	running: boolean;
}

const batchers = new WeakMap<Sequelize, Batcher>();

/** Runs one sale (sales.pos_sale's result, or its error as `pg` raises it), batched with the sales that wait meanwhile. */
export function runSale<R>(db: Sequelize, args: SaleArgs): Promise<R> {
	let batcher = batchers.get(db);
	if (!batcher) {
		batcher = { queue: [], running: false };
		batchers.set(db, batcher);
	}
	const b = batcher;
	return new Promise<R>((resolve, reject) => {
		b.queue.push({ args, resolve: resolve as (r: unknown) => void, reject });
		if (!b.running) void drain(db, b);
	});
}

async function drain(db: Sequelize, b: Batcher): Promise<void> {
	b.running = true;
	try {
		while (b.queue.length) {
			const batch = b.queue.splice(0, MAX_BATCH);
			if (batch.length === 1) await runAlone(db, batch[0]);
			else await runBatch(db, batch);
		}
	} finally {
		b.running = false;
	}
}

async function runAlone(db: Sequelize, p: Pending): Promise<void> {
	try {
		const [row] = await queryPrepared<{ r: unknown }>(db, POS_SALE, p.args);
		p.resolve(row.r);
	} catch (err) {
		p.reject(err);
	}
}

type BatchResult = { r: unknown } | { error: { code: string; message: string; detail: string | null } };

/** The function's error of one sale as `pg` would have raised it for that sale alone. */
function saleError({ code, message, detail }: { code: string; message: string; detail: string | null }): DatabaseError {
	const err = new DatabaseError(message, 0, "error");
	err.severity = "ERROR";
	err.code = code;
	if (detail !== null) err.detail = detail;
	return err;
}

async function runBatch(db: Sequelize, batch: Pending[]): Promise<void> {
	const column = (i: number) => batch.map((p) => p.args[i]);
	const lines = (i: number) => batch.flatMap((p) => p.args[i] as unknown[]);
	const json = (i: number) => `[${batch.map((p) => (p.args[i] as string | null) ?? "null").join(",")}]`;
	let results: BatchResult[];
	try {
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
			batch.map((p) => p.args[11].length),
			batch.flatMap((p) => p.args[11].map(() => p.args[1])),
			lines(11),
			lines(12),
			lines(13),
			lines(14),
			json(15),
			batch[0].args[16],
			json(17),
			batch[0].args[18],
			json(19),
		]);
		results = row.r;
	} catch (err) {
		// An ERROR from the server (not FATAL: a connection ended at commit may have committed): the batch's
		// transaction is rolled back, nothing of it was kept. Each sale alone, in order.
		if (err instanceof DatabaseError && err.severity === "ERROR") {
			for (const p of batch) await runAlone(db, p);
		} else {
			for (const p of batch) p.reject(err);
		}
		return;
	}
	batch.forEach((p, i) => {
		const r = results[i];
		if ("error" in r) p.reject(saleError(r.error));
		else p.resolve(r.r);
	});
}
