/**
 * DbMixin migrates the schema before every other `started` hook of the service and gives the schema's shared pool
 * back after every other `stopped` hook, whatever the order of the mixins. Moleculer runs `started` hooks from the
 * last-listed mixin to the first and `stopped` hooks the other way round, so a mixin listed after DbMixin
 * (EventStreamMixin, whose readers finish their pass on stop) used to start before the tables existed and to stop
 * after the pool had closed: "ConnectionManager.getConnection was called after the connection manager was closed".
 * Real PostgreSQL.
 */
import { ServiceBroker, type Service, type ServiceSchema } from "moleculer";
import { QueryTypes, type Sequelize } from "sequelize";
import { loadConfig, setConfig } from "../../../lib/config";
import { schemaDatabase, releaseSchemaDatabase } from "../../../lib/database";
import { DbMixin, type DbMixinOptions } from "../../../mixins/db.mixin";
import { defineAdminModels, type AdminModels } from "../../../services/admin/admin.model";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";

type WithDb = Service & { db: Sequelize };

/** A mixin whose `started` and `stopped` hooks need the schema's tables, as an event stream's readers do. */
function usesTables(said: unknown[]): Partial<ServiceSchema> {
	const ask = (self: Service) =>
		(self as WithDb).db
			.query("SELECT count(*)::int AS n FROM admin.broadcasts", { type: QueryTypes.SELECT })
			.catch((err: Error) => err.message);
	return {
		async started(this: Service) {
			said.push(["started", await ask(this)]);
		},
		async stopped(this: Service) {
			said.push(["stopped", await ask(this)]);
		},
	};
}

describe("DbMixin on stop", () => {
	let db: TestDatabase;

	// A fresh database each: the schema is not migrated when a case starts.
	beforeEach(async () => {
		db = await createTestDatabase();
		setConfig(loadConfig({ ...process.env, NODE_ENV: "test", DATABASE_URL: db.url, LOG_LEVEL: "warn" }));
	});
	afterEach(async () => {
		await db?.drop();
	});

	it.each<[string, Pick<DbMixinOptions<AdminModels>, "entity" | "fields">]>([
		["without an entity", {}],
		["with an entity (moleculer-db's adapter)", { entity: "Broadcast", fields: ["id", "message"] }],
	])("a mixin listed after it finds the tables at start and the pool at stop (%s)", async (_name, entityOptions) => {
		const said: unknown[] = [];
		const broker = new ServiceBroker({ logger: false });
		broker.createService({
			name: "lifecycle-order",
			mixins: [DbMixin({ schema: "admin", models: defineAdminModels, ...entityOptions }), usesTables(said)],
		});
		await broker.start();
		await broker.stop();
		expect(said).toEqual([
			["started", [{ n: 0 }]],
			["stopped", [{ n: 0 }]],
		]);
	});

	it("the pool is closed once the last service of the schema has stopped", async () => {
		const broker = new ServiceBroker({ logger: false });
		const services = ["first", "second"].map((name) =>
			broker.createService({ name, mixins: [DbMixin({ schema: "admin", models: defineAdminModels })] }),
		) as WithDb[];
		await broker.start();
		const shared = services[0].db;
		expect(services[1].db).toBe(shared);
		// One more user of the schema's pool (as another service of this process would be) keeps it open.
		const held = schemaDatabase("admin");
		expect(held).toBe(shared);
		await broker.stop();
		await expect(shared.query("SELECT 1", { type: QueryTypes.SELECT })).resolves.toEqual([{ "?column?": 1 }]);
		await releaseSchemaDatabase(held);
		await expect(shared.query("SELECT 1", { type: QueryTypes.SELECT })).rejects.toThrow(/connection manager was closed/);
	});
});
