/**
 * A consumer group's attempts at a failing event are counted in the database
 * (`<schema>.stream_attempts`, lib/event-stream.ts), not in the reader's memory:
 * when another node's reader takes the group over, it goes on from the count the
 * first one left. Two readers with their own stream connections (two "nodes") in
 * one process, real PostgreSQL. The crash loop (a handler that kills its process)
 * is test/e2e/event-delivery-crash.test.ts.
 */
import { ServiceBroker } from "moleculer";
import { QueryTypes, type Sequelize } from "sequelize";
import type { StreamReader, StreamSubscription } from "../../../lib/event-stream";
import type { TestDatabase } from "../../helpers/db";
import { closeDelivery, deliverDurably, streamTestDatabase, testReader, testSale, untilReadable } from "../../helpers/events";
import { eventually } from "../../helpers/eventually";

const MAX_ATTEMPTS = 3;

const sale = testSale;

describe("durable attempt counts", () => {
	let db: TestDatabase;
	let analytics: Sequelize;
	const broker = new ServiceBroker({ logger: false });
	const readers: StreamReader[] = [];

	/** A reader of group "test.attempts" on its own stream connection, as another node would have. */
	const reader = (handler: StreamSubscription["handler"]) => {
		const r = testReader({
			db: analytics,
			schema: "analytics",
			databaseUrl: db.url,
			broker,
			subscription: { group: "test.attempts", types: ["SALE_COMPLETED"], handler },
			maxAttempts: MAX_ATTEMPTS,
		});
		readers.push(r);
		return r;
	};

	beforeAll(async () => {
		({
			db,
			schemas: { analytics },
		} = await streamTestDatabase("analytics"));
	});
	afterAll(async () => {
		await Promise.all(readers.map((r) => r.stop()));
		await closeDelivery();
		await analytics?.close();
		await db?.drop();
	});

	it("a standby that takes the group over goes on from the count the leader left", async () => {
		const poison = sale();
		const next = sale();
		await deliverDurably(db.url, poison);
		await deliverDurably(db.url, next);
		// Both readable when node a starts: its first batch (read one event at a time, as a new leader's is) holds both.
		await untilReadable(db.url, next);

		const runs = { a: 0, b: 0 };
		const delivered: string[] = [];
		const a = reader(async (events) => {
			if (!events.some((e) => e.id === poison.id)) return void delivered.push(...events.map((e) => e.id));
			// The second failure on this node is its last: it steps down (as a node being stopped does) while it fails.
			if (++runs.a === 2) void a.stop();
			throw new Error("poisoned (node a)");
		});
		a.start();
		await eventually(() => a.role === "leader", "node a to lead");
		const b = reader(async (events) => {
			if (!events.some((e) => e.id === poison.id)) return void delivered.push(...events.map((e) => e.id));
			runs.b++;
			throw new Error("poisoned (node b)");
		});
		b.start();

		await eventually(() => delivered.includes(next.id), "node b to take over and deliver the event behind the poison one", 30_000);
		const [parked] = await analytics.query<{ attempts: number; last_error: string }>(
			`SELECT attempts, last_error FROM analytics.dead_letters WHERE "group" = 'test.attempts' AND event_id = :id`,
			{ type: QueryTypes.SELECT, replacements: { id: poison.id } },
		);
		// Two tries on a, then one on b: the count went on across the leader change (in memory, b would try three more times).
		expect({ runs, attempts: parked?.attempts, lastError: parked?.last_error }).toEqual({
			runs: { a: 2, b: 1 },
			attempts: MAX_ATTEMPTS,
			lastError: "poisoned (node b)",
		});
		expect(delivered).toEqual([next.id]);
		expect(await analytics.query(`SELECT * FROM analytics.stream_attempts`, { type: QueryTypes.SELECT })).toEqual([]);
	});
});
