/**
 * DbMixin gives the schema's shared pool back after every other `stopped` hook of the service, whatever the order
 * of the mixins. Moleculer runs `stopped` hooks in the reverse order of `started`, which follows the mixin list, so a
 * mixin listed after DbMixin (EventStreamMixin: its readers finish their pass on stop) used to find the pool closed:
 * "ConnectionManager.getConnection was called after the connection manager was closed". Real PostgreSQL.
 */
import { ServiceBroker, type Service, type ServiceSchema } from "moleculer";
import { QueryTypes, type Sequelize } from "sequelize";
import { loadConfig, setConfig } from "../../../lib/config";
import { schemaDatabase, releaseSchemaDatabase } from "../../../lib/database";
import { DbMixin, type DbMixinOptions } from "../../../mixins/db.mixin";
import { defineAdminModels, type AdminModels } from "../../../services/admin/admin.model";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";

type WithDb = Service & { db: Sequelize };

/** A mixin whose `stopped` hook still needs the database, as a reader finishing its pass does. */
function lastWords(said: unknown[]): Partial<ServiceSchema> {
	return {
		async stopped(this: Service) {
			said.push(await (this as WithDb).db.query("SELECT 1 AS ok", { type: QueryTypes.SELECT }).catch((err: Error) => err.message));
		},
	};
}

describe("DbMixin on stop", () => {
	let db: TestDatabase;

	beforeAll(async () => {
		db = await createTestDatabase();
		setConfig(loadConfig({ ...process.env, NODE_ENV: "test", DATABASE_URL: db.url, LOG_LEVEL: "warn" }));
	});
	afterAll(async () => {
		await db?.drop();
	});

	it.each<[string, Pick<DbMixinOptions<AdminModels>, "entity" | "fields">]>([
		["without an entity", {}],
		["with an entity (moleculer-db's adapter)", { entity: "Broadcast", fields: ["id", "message"] }],
	])("a mixin listed after it still reaches the database in its stopped hook (%s)", async (_name, entityOptions) => {
		const said: unknown[] = [];
		const broker = new ServiceBroker({ logger: false });
		broker.createService({
			name: "stop-order",
			mixins: [DbMixin({ schema: "admin", models: defineAdminModels, ...entityOptions }), lastWords(said)],
		});
		await broker.start();
		await broker.stop();
		expect(said).toEqual([[{ ok: 1 }]]);
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
