/**
 * A consumer group reads every source row once, in (txid, seq) order, when its
 * backlog straddles a power of ten (lib/event-stream.ts). Positions are selected
 * as text; ordered by that text, "10" sorts before "8": a batch took the rows
 * after the boundary first and the cursor jumped over the ones before it. That lost
 * 563 sales in a 30 s POS burst when the server's transaction ids went from 99,999
 * to 100,000. Real PostgreSQL; rows with set txids (all long finished, so below
 * any horizon) and small batches, so every batch crosses a boundary.
 */
import { ServiceBroker } from "moleculer";
import { QueryTypes, type Sequelize } from "sequelize";
import type { EventEnvelope } from "../../../lib/events";
import type { StreamReader } from "../../../lib/event-stream";
import type { TestDatabase } from "../../helpers/db";
import { streamTestDatabase, testReader, testSale } from "../../helpers/events";
import { eventually } from "../../helpers/eventually";

/** (txid, seq) of each row, in the order a group must read them: txids 8 → 12 cross 10, seqs 9,998 → 10,001 cross 10,000. */
const POSITIONS: [number, number][] = [
	[8, 9001],
	[9, 9002],
	[10, 9003],
	[11, 9004],
	[12, 9005],
	[13, 9998],
	[13, 9999],
	[13, 10000],
	[13, 10001],
];

describe("stream order across powers of ten", () => {
	let db: TestDatabase;
	let analytics: Sequelize;
	let bridge: Sequelize;
	let reader: StreamReader | undefined;
	const broker = new ServiceBroker({ logger: false });

	beforeAll(async () => {
		({
			db,
			schemas: { analytics, kafka_bridge: bridge },
		} = await streamTestDatabase("analytics", "kafka_bridge"));
	});
	afterAll(async () => {
		await reader?.stop();
		await bridge?.close();
		await analytics?.close();
		await db?.drop();
	});

	it.each([1, 2, 3])("batches of %i: every row once, in order, and the cursor at the last one", async (batchSize) => {
		await bridge.query("TRUNCATE kafka_bridge.outbox");
		await analytics.query(`DELETE FROM analytics.stream_cursors WHERE "group" = 'test.order'`);
		const events: EventEnvelope[] = POSITIONS.map(() => testSale());
		// Inserted newest first: the physical order must not matter either.
		for (const [i, [txid, seq]] of [...POSITIONS.entries()].reverse()) {
			await bridge.query(
				`INSERT INTO kafka_bridge.outbox (seq, txid, id, type, topic, aggregate_id, envelope, sent_at)
				 VALUES (:seq, CAST(:txid AS xid8), :id, :type, 'pos-transaction', 'test', :envelope, now())`,
				{ replacements: { seq, txid: String(txid), id: events[i].id, type: events[i].type, envelope: JSON.stringify(events[i]) } },
			);
		}
		const delivered: string[] = [];
		reader = testReader({
			db: analytics,
			schema: "analytics",
			databaseUrl: db.url,
			broker,
			subscription: {
				group: "test.order",
				types: ["SALE_COMPLETED"],
				batchSize,
				handler: async (batch) => void delivered.push(...batch.map((e) => e.id)),
			},
		});
		reader.start();
		const cursorAtEnd = async () =>
			(
				await analytics.query<{ txid: string; seq: string }>(
					`SELECT txid::text AS txid, seq::text AS seq FROM analytics.stream_cursors WHERE "group" = 'test.order' AND source_schema = 'kafka_bridge'`,
					{ type: QueryTypes.SELECT },
				)
			)[0]?.seq === "10001";
		await eventually(cursorAtEnd, "the group's cursor to reach the last row", 20_000);
		await reader.stop();
		reader = undefined;
		expect(delivered).toEqual(events.map((e) => e.id));
	});
});
