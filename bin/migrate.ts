/** `npm run migrate`: applies every schema's pending migrations (also done on each service's start). */
import { ConfigError, loadConfig, setConfig } from "../lib/config";
import { createSequelize } from "../lib/database";
import { migrateSchema } from "../lib/migrate";
import { MIGRATIONS } from "../migrations";

async function main(): Promise<void> {
	try {
		setConfig(loadConfig());
	} catch (err) {
		if (err instanceof ConfigError) {
			console.error(err.message);
			process.exit(1);
		}
		throw err;
	}
	for (const schema of Object.keys(MIGRATIONS)) {
		const db = createSequelize(schema);
		try {
			const applied = await migrateSchema(db, schema);
			console.info(`${schema}: ${applied.length ? applied.join(", ") : "up to date"}`);
		} finally {
			await db.close();
		}
	}
}

main().catch((err: unknown) => {
	console.error(`Migration failed: ${err instanceof Error ? err.message : String(err)}`);
	process.exit(1);
});
