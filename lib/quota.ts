/**
 * Per-user storage quota (UPLOAD_QUOTA_BYTES), counted in the database: each schema
 * that stores uploads has a `storage_usage (user_id, bytes)` row per user. A
 * reservation is one conditional upsert, so two concurrent uploads cannot both
 * pass the last bytes: PostgreSQL locks the row and re-checks the condition on
 * its latest version. Call it in the transaction that records the file, so a
 * failed insert gives the bytes back with the rollback.
 */
import { QueryTypes, type Sequelize, type Transaction } from "sequelize";
import { Errors } from "moleculer";
import { config } from "./config";

export function quotaExceeded(usedBytes: number, fileBytes: number, quotaBytes = config().upload.quotaBytes): Errors.MoleculerClientError {
	return new Errors.MoleculerClientError(`Storage quota exceeded: ${usedBytes} of ${quotaBytes} bytes used`, 413, "QUOTA_EXCEEDED", {
		quotaBytes,
		usedBytes,
		fileBytes,
	});
}

/** Bytes the user has stored in `schema`. */
export async function storageUsed(db: Sequelize, schema: string, userId: string, transaction?: Transaction): Promise<number> {
	const [row] = await db.query<{ bytes: string }>(`SELECT bytes FROM "${schema}".storage_usage WHERE user_id = :userId`, {
		replacements: { userId },
		type: QueryTypes.SELECT,
		transaction,
	});
	return Number(row?.bytes ?? 0);
}

/** Counts `bytes` against the user's quota, or 413 QUOTA_EXCEEDED (nothing counted). */
export async function reserveStorage(
	db: Sequelize,
	schema: string,
	userId: string,
	bytes: number,
	transaction: Transaction,
): Promise<void> {
	const quota = config().upload.quotaBytes;
	const rows = await db.query<{ bytes: string }>(
		`INSERT INTO "${schema}".storage_usage AS u (user_id, bytes) SELECT :userId, :bytes WHERE :bytes <= :quota
		 ON CONFLICT (user_id) DO UPDATE SET bytes = u.bytes + EXCLUDED.bytes, updated_at = now() WHERE u.bytes + EXCLUDED.bytes <= :quota
		 RETURNING bytes`,
		{ replacements: { userId, bytes, quota }, type: QueryTypes.SELECT, transaction },
	);
	if (rows.length === 0) throw quotaExceeded(await storageUsed(db, schema, userId, transaction), bytes, quota);
}

/** Gives bytes back (a deleted file); never below zero. */
export async function releaseStorage(
	db: Sequelize,
	schema: string,
	userId: string,
	bytes: number,
	transaction?: Transaction,
): Promise<void> {
	await db.query(`UPDATE "${schema}".storage_usage SET bytes = GREATEST(0, bytes - :bytes), updated_at = now() WHERE user_id = :userId`, {
		replacements: { userId, bytes },
		transaction,
	});
}
