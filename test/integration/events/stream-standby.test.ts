/**
 * A group that stands by since before one of its sources existed (a node started
 * before sales' migrations ran) still answers for that source:
 * - its lag (`/ready`, `eislager_stream_lag`) counts the source's events; it used
 *   to report the group ready with every sale unread;
 * - the outbox retention (kafka-bridge purge) keeps those events until the group's
 *   cursor passes them; with no cursor row for the source, it used to purge them unread.
 * Real PostgreSQL; the reader is made a standby the way a lost node is (its stream
 * connection ends, another session holds the group's lock).
 */
import { ServiceBroker } from "moleculer";
import { Client } from "pg";
import type { Sequelize } from "sequelize";
import type { StreamReader } from "../../../lib/event-stream";
import { LOCK_CLASS } from "../../../lib/stream-hub";
import { OutboxRelay } from "../../../services/kafka-bridge/relay";
import type { TestDatabase } from "../../helpers/db";
import { streamTestDatabase, testReader, testSale } from "../../helpers/events";
import { eventually } from "../../helpers/eventually";

const GROUP = "test.lag";

describe("a standby and a source that appeared after it", () => {
	let db: TestDatabase;
	let analytics: Sequelize;
	let bridge: Sequelize;
	let pg: Client;
	let reader: StreamReader | undefined;
	const broker = new ServiceBroker({ logger: false });

	beforeAll(async () => {
		({
			db,
			schemas: { analytics, kafka_bridge: bridge },
		} = await streamTestDatabase("analytics", "kafka_bridge"));
		pg = new Client({ connectionString: db.url });
		await pg.connect();
	});
	afterAll(async () => {
		await reader?.stop();
		await pg?.end();
		await bridge?.close();
		await analytics?.close();
		await db?.drop();
	});

	it("counts the source's events in its lag, and retention keeps them for it", async () => {
		reader = testReader({
			db: analytics,
			schema: "analytics",
			databaseUrl: db.url,
			broker,
			subscription: { group: GROUP, types: ["SALE_COMPLETED"], handler: async () => undefined },
		});
		reader.start();
		await eventually(() => reader!.role === "leader", "the reader to lead");
		expect(await reader.lag()).toBe(0);

		// The node loses the group: its stream connection ends and another session takes the lock.
		await pg.query(
			"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'eislager-streams' AND datname = current_database()",
		);
		await pg.query("SELECT pg_advisory_lock($1::int, hashtext($2))", [LOCK_CLASS, GROUP]);
		await eventually(() => reader!.role === "standby", "the reader to stand by");

		// Sales' migrations run now: its outbox, with two sales in it.
		await pg.query("CREATE SCHEMA sales; CREATE TABLE sales.outbox (LIKE kafka_bridge.outbox INCLUDING ALL)");
		for (let i = 0; i < 2; i++) {
			const sale = testSale();
			await pg.query(
				// Sent to Kafka two days ago: only the group's cursor keeps them from the 1-day retention.
				"INSERT INTO sales.outbox (id, type, topic, aggregate_id, envelope, created_at, sent_at) VALUES ($1, $2, 'pos-transaction', 'test', $3, now() - interval '2 days', now() - interval '2 days')",
				[sale.id, sale.type, JSON.stringify(sale)],
			);
		}
		expect(await reader.lag()).toBe(2);
		const relay = new OutboxRelay({
			db: bridge,
			databaseUrl: db.url,
			kafka: undefined,
			broker,
			logger: broker.getLogger("relay"),
			namespace: "test",
			retentionDays: 1,
		});
		expect((await relay.purge()).sales).toBe(0);
		expect((await pg.query("SELECT count(*)::int AS n FROM sales.outbox")).rows[0].n).toBe(2);
		await pg.query("SELECT pg_advisory_unlock_all()");
	});
});
