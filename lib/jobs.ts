/**
 * Background jobs that must run once across a cluster (every node of the service
 * runs the timer; one does the work): a PostgreSQL transaction-level advisory
 * lock per job name. The node that gets it runs the job inside that
 * transaction; the others skip this turn. The work itself stays idempotent
 * (a status change, an insert that dedupes), so a run repeated after a crash is harmless.
 */
import { QueryTypes, type Sequelize, type Transaction } from "sequelize";

/**
 * Runs `fn` in a transaction holding the job's advisory lock; `undefined` when another node
 * holds it. `wait`: queue behind the other run instead (an explicit call: operators, tests).
 */
export async function runExclusive<T>(
	db: Sequelize,
	job: string,
	fn: (t: Transaction) => Promise<T>,
	opts: { wait?: boolean } = {},
): Promise<T | undefined> {
	return db.transaction(async (t) => {
		const lock = opts.wait
			? `SELECT true AS locked FROM (SELECT pg_advisory_xact_lock(hashtext(:job))) AS waited`
			: `SELECT pg_try_advisory_xact_lock(hashtext(:job)) AS locked`;
		const [{ locked }] = await db.query<{ locked: boolean }>(lock, {
			type: QueryTypes.SELECT,
			replacements: { job: `eislager:job:${job}` },
			transaction: t,
		});
		return locked ? fn(t) : undefined;
	});
}

/** Milliseconds from `now` to the next UTC time of day `hour:minute`. */
export function msUntilUtc(hour: number, minute: number, now = new Date()): number {
	const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), hour, minute);
	return next > now.getTime() ? next - now.getTime() : next + 86_400_000 - now.getTime();
}
