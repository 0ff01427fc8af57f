/**
 * Database mixin: moleculer-db with the Sequelize adapter, one PostgreSQL schema
 * per service. Every service of a schema shares the process's one pooled
 * Sequelize for it (lib/database.ts bounds all pools by DB_POOL_MAX); the adapter
 * receives that instance and a ready Model class, so it never calls `sync()`
 * nor closes the shared pool: the schema's migrations (run once per schema per
 * process, under an advisory lock across processes) own the tables.
 * moleculer-db's generic CRUD actions are switched off: every route is an
 * explicit, validated, authorized action.
 */
import DbService from "moleculer-db";
import SqlAdapter from "moleculer-db-adapter-sequelize";
import type { Service, ServiceSchema } from "moleculer";
import { type ModelStatic, type Sequelize, type Transaction, UniqueConstraintError, ForeignKeyConstraintError, ValidationError as SequelizeValidationError, DatabaseError } from "sequelize";
import { releaseSchemaDatabase, schemaDatabase, schemaModels } from "../lib/database";
import { migrateSchemaOnce } from "../lib/migrate";
import { conflict, validationErrors } from "../lib/errors";
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
	/** The model moleculer-db's adapter works on. */
	primary: keyof M & string;
}

const DISABLED_DB_ACTIONS = { find: false, count: false, list: false, create: false, insert: false, get: false, update: false, remove: false };

/** Turns constraint violations into client errors; anything else stays a (hidden) 500. */
export function mapDatabaseError(err: unknown): unknown {
	if (err instanceof UniqueConstraintError) {
		const field = err.errors[0]?.path ?? Object.keys(err.fields ?? {})[0] ?? "id";
		return conflict(`A record with this ${field} already exists`, "ALREADY_EXISTS", { field });
	}
	if (err instanceof ForeignKeyConstraintError) {
		const field = String(err.fields?.[0] ?? err.index ?? "reference");
		return validationErrors([{ field, message: "Referenced record does not exist", type: "reference" }]);
	}
	if (err instanceof SequelizeValidationError) {
		return validationErrors(err.errors.map((e) => ({ field: e.path ?? "unknown", message: e.message, type: "invalid" })));
	}
	if (err instanceof DatabaseError && (err.parent as { code?: string })?.code === "23514") {
		return validationErrors([{ field: (err.parent as { constraint?: string }).constraint ?? "unknown", message: "Value violates a constraint", type: "check" }]);
	}
	return err;
}

type This<M extends Models> = Service & DbThis<M> & { adapter: SqlAdapter };

/** moleculer-db's adapter on a shared instance: stopping one service must not close the schema's pool. */
class SharedSqlAdapter extends SqlAdapter {
	override disconnect(): Promise<void> {
		return releaseSchemaDatabase((this as unknown as { db: Sequelize }).db);
	}
}

export function DbMixin<M extends Models>(options: DbMixinOptions<M>): Partial<ServiceSchema> {
	return defineMixin<This<M>>({
		mixins: [DbService],
		actions: DISABLED_DB_ACTIONS,
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
		},
		created(this: This<M>) {
			this.dbSchema = options.schema;
			this.db = schemaDatabase(options.schema);
			this.models = schemaModels(this.db, options.models);
			// moleculer-db reads the model from the schema: give it this instance's model class.
			(this.schema as { model?: unknown }).model = this.models[options.primary];
			this.adapter = new SharedSqlAdapter(this.db);
			this.adapter.init(this.broker, this);
		},
		async started(this: This<M>) {
			const applied = await migrateSchemaOnce(this.db, options.schema);
			if (applied.length) this.logger.info(`Migrated schema "${options.schema}": ${applied.join(", ")}`);
		},
	});
}

