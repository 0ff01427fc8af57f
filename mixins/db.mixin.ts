/**
 * Database mixin: one PostgreSQL schema per service. Every service of a schema
 * shares the process's one pooled Sequelize for it (lib/database.ts bounds all
 * pools by DB_POOL_MAX); the schema's migrations (run once per schema per
 * process, under an advisory lock across processes) own the tables.
 *
 * A service that keeps one plain entity (flavors, suppliers, broadcasts,
 * notifications) names it as `entity`: it then gets moleculer-db with the
 * Sequelize adapter on that model (`this.adapter`), `transformDocuments` shaping
 * rows by `fields` (see `entityJson`), and moleculer-db's change hooks:
 * `entityChanged("created" | "updated" | "removed", json, ctx)` cleans the
 * service's cache and runs the schema's `entityCreated/Updated/Removed`, where
 * the service says whose caches depend on it. The adapter receives the shared
 * instance and a ready Model class, so it never calls `sync()` nor closes the
 * pool. moleculer-db's generic CRUD actions stay switched off: every route is an
 * explicit, validated, authorized action.
 * Services that work across several tables or on the measured hot paths (POS
 * sale, stock, orders; docs/architecture.md) have no `entity`: Sequelize models
 * and raw SQL, no adapter.
 */
import DbService from "moleculer-db";
import SqlAdapter from "moleculer-db-adapter-sequelize";
import type { Context, Service, ServiceSchema } from "moleculer";
import {
	type Attributes,
	type CreationAttributes,
	type Model,
	type ModelStatic,
	type Sequelize,
	type Transaction,
	ConnectionError,
	UniqueConstraintError,
	ForeignKeyConstraintError,
	ValidationError as SequelizeValidationError,
	DatabaseError,
} from "sequelize";
import { releaseSchemaDatabase, schemaDatabase, schemaModels } from "../lib/database";
import { migrateSchemaOnce } from "../lib/migrate";
import { conflict, serviceUnavailable, validationErrors } from "../lib/errors";
import { defineMixin } from "../lib/service";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Models = Record<string, ModelStatic<any>>;

export interface DbThis<M extends Models> {
	/** The PostgreSQL schema this service owns. */
	dbSchema: string;
	db: Sequelize;
	models: M;
	/** Runs `fn` in one database transaction (committed, or rolled back on any error). */
	transaction<T>(fn: (t: Transaction) => Promise<T>): Promise<T>;
}

export interface DbMixinOptions<M extends Models> {
	/** PostgreSQL schema owned by this service (migrations/<schema>/). */
	schema: string;
	/** Defines the service's models on its Sequelize instance. */
	models: (db: Sequelize) => M;
	/** The plain entity moleculer-db's adapter reads and writes; omitted where the service has none (no adapter then). */
	entity?: keyof M & string;
	/** The fields `entityJson` (moleculer-db's transformDocuments) keeps; the rest (creators, internals) never leave. */
	fields?: readonly string[];
}

/** An attribute as JSON carries it: dates become ISO strings. */
type Json<T> = T extends Date ? string : T;
/** The JSON of an entity restricted to `F` (the `fields` setting). */
export type EntityJson<E extends Model, F extends keyof Attributes<E>> = { [K in F]: Json<Attributes<E>[K]> };

/** What an entity service gets from moleculer-db, typed for its model `E` and its `fields` `F`. */
export interface EntityThis<E extends Model, F extends keyof Attributes<E>> {
	adapter: {
		findById(id: string): Promise<E | null>;
		insert(entity: CreationAttributes<E>): Promise<E>;
		updateById(id: string, update: { $set: Partial<Attributes<E>> }): Promise<E | null>;
	};
	/** The rows as the API shows them: moleculer-db's transformDocuments (plain object, `fields`), dates as ISO strings. */
	entityJson(ctx: Context, doc: E): Promise<EntityJson<E, F>>;
	entityJson(ctx: Context, docs: E[]): Promise<EntityJson<E, F>[]>;
	/** moleculer-db's change notification: cleans this service's cache, then runs the schema's entityCreated/Updated/Removed. */
	entityChanged(type: "created" | "updated" | "removed", json: unknown, ctx: Context): Promise<void>;
}

/** JSON carries dates as ISO strings; the typed `EntityJson` says so, and this makes it true before caching. */
function isoDates(doc: Record<string, unknown>): Record<string, unknown> {
	for (const [k, v] of Object.entries(doc)) if (v instanceof Date) doc[k] = v.toISOString();
	return doc;
}

const DISABLED_DB_ACTIONS = {
	find: false,
	count: false,
	list: false,
	create: false,
	insert: false,
	get: false,
	update: false,
	remove: false,
};

/**
 * The API field a constraint names, never the database's own words: an index
 * expression `lower(name::text)` or a column `factory_id` becomes `name` / `factoryId`.
 */
export function apiField(key: string | undefined, fallback: string): string {
	// Identifiers that are neither a function being called nor a type after `::`.
	const column = [...String(key ?? "").matchAll(/(::\s*)?\b([a-z_][a-z0-9_]*)\b(\s*\()?/gi)].find((m) => !m[1] && !m[3])?.[2];
	return column ? column.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()) : fallback;
}

/**
 * The column a CHECK constraint guards: `<table>_<column>_check` on a table (PostgreSQL's default name), or
 * `<column>_check` on a domain (its violation names no table; see migrations/sales/240-sale-check-domains.ts).
 */
export function checkedField(parent: { constraint?: string; table?: string }): string {
	const name = parent.constraint ?? "";
	const column = parent.table
		? name.startsWith(`${parent.table}_`)
			? name.slice(parent.table.length + 1).replace(/_check$/, "")
			: undefined
		: name.endsWith("_check")
			? name.slice(0, -"_check".length)
			: undefined;
	return apiField(column, "body");
}

/**
 * Turns constraint violations and data exceptions (SQLSTATE class 22: out of range,
 * bad encoding, impossible date; all caused by the data sent) into client errors
 * naming an API field; anything else stays a (hidden) 500. The one place database
 * errors meet the API: never an index, constraint name or expression in a response.
 */
export function mapDatabaseError(err: unknown): unknown {
	if (err instanceof UniqueConstraintError) {
		const field = apiField(err.errors[0]?.path ?? Object.keys(err.fields ?? {})[0], "id");
		return conflict(`A record with this ${field} already exists`, "ALREADY_EXISTS", { field });
	}
	if (err instanceof ForeignKeyConstraintError) {
		const field = apiField(String(err.fields?.[0] ?? ""), "reference");
		return validationErrors([{ field, message: "Referenced record does not exist", type: "reference" }]);
	}
	if (err instanceof SequelizeValidationError) {
		return validationErrors(err.errors.map((e) => ({ field: e.path ?? "unknown", message: e.message, type: "invalid" })));
	}
	const parent =
		err instanceof DatabaseError ? (err.parent as { code?: string; constraint?: string; table?: string; column?: string }) : undefined;
	if (parent?.code === "23514") {
		return validationErrors([{ field: checkedField(parent), message: "Value violates a constraint", type: "check" }]);
	}
	// The database refusing connections is a dependency failure (503, retry later), not a bug.
	if (err instanceof ConnectionError) return serviceUnavailable("Database unavailable", "DATABASE_UNAVAILABLE");
	if (parent?.code?.startsWith("22")) {
		return validationErrors([
			{ field: apiField(parent.column, "body"), message: "A value is out of range or malformed", type: "data" },
		]);
	}
	return err;
}

type This<M extends Models> = Service &
	DbThis<M> & { adapter: SqlAdapter; transformDocuments(ctx: Context, params: object, docs: unknown): Promise<unknown> };

/** moleculer-db's adapter on a shared instance: the pool is given back by DbMixin, after the service's last `stopped` hook. */
class SharedSqlAdapter extends SqlAdapter {
	override disconnect(): Promise<void> {
		return Promise.resolve();
	}
}

/**
 * The schema's migrations (once per process), before every other `started` hook of the service. Moleculer runs
 * `started` hooks from the last-listed mixin to the first, so a mixin listed after DbMixin (an event stream's
 * readers, a daily job) would otherwise start on tables that may not exist yet.
 */
async function migrateFirst(this: Service & DbThis<Models>): Promise<void> {
	const applied = await migrateSchemaOnce(this.db, this.dbSchema);
	if (applied.length) this.logger.info(`Migrated schema "${this.dbSchema}": ${applied.join(", ")}`);
}

/**
 * Gives the schema's pool back (the last user closes it), after every other `stopped` hook of the service:
 * Moleculer runs them in the reverse order of `started`, so a mixin listed after DbMixin (an event stream's
 * readers finishing their pass, a job) would otherwise still be querying a closed pool.
 */
async function releasePoolLast(this: DbThis<Models>): Promise<void> {
	await releaseSchemaDatabase(this.db);
}

/** A merged schema's lifecycle hooks as a list (Moleculer's merge leaves a function or an array). */
const hooks = (value: unknown): unknown[] => (Array.isArray(value) ? value : value ? [value] : []);

export function DbMixin<M extends Models>(options: DbMixinOptions<M>): Partial<ServiceSchema> {
	const entity = options.entity;
	return defineMixin<This<M>>({
		...(entity && {
			mixins: [DbService],
			actions: DISABLED_DB_ACTIONS,
			settings: { idField: "id", fields: options.fields ? [...options.fields] : undefined },
		}),
		hooks: {
			error: {
				"*"(_ctx: unknown, err: unknown) {
					throw mapDatabaseError(err);
				},
			},
		},
		methods: {
			transaction<T>(this: DbThis<M>, fn: (t: Transaction) => Promise<T>): Promise<T> {
				return this.db.transaction(fn);
			},
			async entityJson(ctx: Context, docs: unknown) {
				const json: unknown = await this.transformDocuments(ctx, {}, docs);
				return Array.isArray(json) ? json.map(isoDates) : isoDates(json as Record<string, unknown>);
			},
		},
		created() {
			this.dbSchema = options.schema;
			this.db = schemaDatabase(options.schema);
			this.models = schemaModels(this.db, options.models);
			if (!entity) return;
			// moleculer-db reads the model from the schema: give it this instance's model class.
			(this.schema as { model?: unknown }).model = this.models[entity];
			this.adapter = new SharedSqlAdapter(this.db);
			this.adapter.init(this.broker, this);
		},
		merged(schema: ServiceSchema) {
			// `started` hooks run first to last, `stopped` hooks last to first.
			schema.started = [migrateFirst, ...hooks(schema.started)] as ServiceSchema["started"];
			schema.stopped = [releasePoolLast, ...hooks(schema.stopped)] as ServiceSchema["stopped"];
		},
	});
}
