/**
 * Runs a schema's migrations with umzug, under a PostgreSQL advisory lock so
 * several nodes of one service starting together migrate once.
 */
import { Umzug } from "umzug";
import type { Sequelize } from "sequelize";
import { MIGRATIONS } from "../migrations";

function lockKey(schema: string): number {
	let hash = 0x4549_53; // "EIS"
	for (const ch of schema) hash = (Math.imul(hash, 31) + ch.charCodeAt(0)) | 0;
	return hash;
}

export async function migrateSchema(db: Sequelize, schema: string): Promise<string[]> {
	const migrations = MIGRATIONS[schema];
	if (!migrations) throw new Error(`No migrations registered for schema "${schema}"`);
	// One transaction holds the lock and applies every pending migration: all or nothing.
	return db.transaction(async (transaction) => {
		await db.query("SELECT pg_advisory_xact_lock(:key)", { replacements: { key: lockKey(schema) }, transaction });
		await db.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`, { transaction });
		await db.query(
			`CREATE TABLE IF NOT EXISTS "${schema}".schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
			{ transaction },
		);
		const umzug = new Umzug({
			migrations: migrations.map((m) => ({ name: m.name, up: () => m.up(db, schema, transaction) })),
			context: {},
			logger: undefined,
			storage: {
				async executed() {
					const [rows] = await db.query(`SELECT name FROM "${schema}".schema_migrations ORDER BY name`, { transaction });
					return (rows as { name: string }[]).map((r) => r.name);
				},
				async logMigration({ name }) {
					await db.query(`INSERT INTO "${schema}".schema_migrations (name) VALUES (:name)`, {
						replacements: { name },
						transaction,
					});
				},
				async unlogMigration({ name }) {
					await db.query(`DELETE FROM "${schema}".schema_migrations WHERE name = :name`, { replacements: { name }, transaction });
				},
			},
		});
		const applied = await umzug.up();
		return applied.map((m) => m.name);
	});
}

const migrated = new WeakMap<Sequelize, Promise<string[]>>();

/** migrateSchema once per shared instance (every service of a schema in a process awaits the same run). */
export function migrateSchemaOnce(db: Sequelize, schema: string): Promise<string[]> {
	let run = migrated.get(db);
	if (!run) {
		run = migrateSchema(db, schema);
		migrated.set(db, run);
		// A failed run may be retried by the next service start.
		run.catch(() => migrated.delete(db));
	}
	return run;
}
