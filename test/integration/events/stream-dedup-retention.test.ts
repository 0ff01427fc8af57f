/**
 * A consumer group keeps the ids of the events it processed (`processed_events`,
 * its de-duplication) for STREAM_DEDUP_DAYS, not for ever: the leader drops its
 * own older ids, leaves the recent ones and other groups' alone, and still
 * delivers. Real PostgreSQL.
 */
import { ServiceBroker } from "moleculer";
import { QueryTypes, type Sequelize } from "sequelize";
import type { StreamReader } from "../../../lib/event-stream";
import type { TestDatabase } from "../../helpers/db";
import { closeDelivery, deliverDurably, streamTestDatabase, testReader, testSale } from "../../helpers/events";
import { eventually } from "../../helpers/eventually";

describe("processed ids retention", () => {
	let db: TestDatabase;
	let analytics: Sequelize;
	let reader: StreamReader | undefined;
	const broker = new ServiceBroker({ logger: false });

	beforeAll(async () => {
		({
			db,
			schemas: { analytics },
		} = await streamTestDatabase("analytics"));
	});
	afterAll(async () => {
		await reader?.stop();
		await closeDelivery();
		await analytics?.close();
		await db?.drop();
	});

	it("the leader drops its ids older than the window, keeps the rest, and delivers as before", async () => {
		const ids = (consumer: string, n: number, daysAgo: number) =>
			analytics.query(
				`INSERT INTO analytics.processed_events (event_id, consumer, processed_at)
				 SELECT gen_random_uuid(), :consumer, now() - make_interval(days => :daysAgo) FROM generate_series(1, :n)`,
				{ replacements: { consumer, n, daysAgo } },
			);
		await ids("test.dedup", 25, 31);
		await ids("test.dedup", 5, 29);
		await ids("other.group", 7, 31);
		const count = async () =>
			Object.fromEntries(
				(
					await analytics.query<{ consumer: string; old: number; recent: number }>(
						`SELECT consumer, count(*) FILTER (WHERE processed_at < now() - interval '30 days')::int AS old,
						        count(*) FILTER (WHERE processed_at >= now() - interval '30 days')::int AS recent
						   FROM analytics.processed_events GROUP BY consumer`,
						{ type: QueryTypes.SELECT },
					)
				).map((r) => [r.consumer, { old: r.old, recent: r.recent }]),
			);

		const delivered: string[] = [];
		reader = testReader({
			db: analytics,
			schema: "analytics",
			databaseUrl: db.url,
			broker,
			subscription: {
				group: "test.dedup",
				types: ["SALE_COMPLETED"],
				handler: async (events) => void delivered.push(...events.map((e) => e.id)),
			},
			dedupDays: 30,
		});
		reader.start();
		const sale = testSale();
		await deliverDurably(db.url, sale);
		await eventually(() => delivered.includes(sale.id), "the sale to be delivered", 20_000);
		await eventually(async () => (await count())["test.dedup"]?.old === 0, "the group's old ids to go", 20_000);
		// Its recent ids (and the one just processed) stay; another group's old ids are that group's to drop.
		expect(await count()).toEqual({ "test.dedup": { old: 0, recent: 6 }, "other.group": { old: 7, recent: 0 } });
	});
});
