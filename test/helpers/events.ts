/**
 * Hands an event to the internal consumer groups the way an external producer's
 * event arrives: as a row of `kafka_bridge.outbox` (what services/kafka-bridge/inbound.ts
 * writes for an accepted Kafka envelope), which every group tails. A broker emit
 * would reach live listeners only.
 */
import { QueryTypes, type Sequelize } from "sequelize";
import { createSequelize } from "../../lib/database";
import { migrateSchema } from "../../lib/migrate";
import { randomUUID } from "node:crypto";
import { EVENT_CATALOG, envelope, type EventEnvelope } from "../../lib/events";
import { StreamReader, type ReaderOptions, type StreamSubscription } from "../../lib/event-stream";
import { StreamHub } from "../../lib/stream-hub";
import { loadConfig, setConfig } from "../../lib/config";
import { createTestDatabase, type TestDatabase } from "./db";
import { storeInbound } from "../../services/kafka-bridge/inbound";
import { OUTBOX_CHANNEL } from "../../lib/outbox-wake";
import { eventually } from "./eventually";

const dbs = new Map<string, Promise<Sequelize>>();

function bridgeDb(databaseUrl: string): Promise<Sequelize> {
	let db = dbs.get(databaseUrl);
	if (!db) {
		db = (async () => {
			const s = createSequelize("kafka_bridge", databaseUrl);
			await migrateSchema(s, "kafka_bridge");
			return s;
		})();
		dbs.set(databaseUrl, db);
	}
	return db;
}

export async function deliverDurably(databaseUrl: string, event: EventEnvelope): Promise<void> {
	const db = await bridgeDb(databaseUrl);
	await storeInbound(db, event, EVENT_CATALOG[event.type].topic, "test");
	// As the bridge does after its commit: wake the consumer groups (they would otherwise find it at their next poll).
	await db.query("SELECT pg_notify(:channel, 'kafka_bridge')", { replacements: { channel: OUTBOX_CHANNEL } });
}

/**
 * Waits until consumer groups can read a delivered event: its transaction is older than every one still running
 * on the server (the groups' horizon, lib/event-stream.ts), which any open transaction, in any database, holds back.
 */
export async function untilReadable(databaseUrl: string, event: EventEnvelope): Promise<void> {
	const db = await bridgeDb(databaseUrl);
	await eventually(
		async () =>
			(
				await db.query<{ readable: boolean }>(
					"SELECT txid < pg_snapshot_xmin(pg_current_snapshot()) AS readable FROM kafka_bridge.outbox WHERE id = :id",
					{ type: QueryTypes.SELECT, replacements: { id: event.id } },
				)
			)[0]?.readable,
		`event ${event.id} to be below the consumer groups' horizon`,
		60_000,
	);
}

/** Closes the connections deliverDurably opened (call in afterAll). */
export async function closeDelivery(): Promise<void> {
	const all = [...dbs.values()];
	dbs.clear();
	await Promise.all(all.map(async (d) => (await d).close()));
}

/** A SALE_COMPLETED envelope with fresh ids: one 100-cent scoop, paid cash. */
export function testSale(): EventEnvelope<"SALE_COMPLETED"> {
	return envelope("SALE_COMPLETED", {
		transactionId: randomUUID(),
		shopId: randomUUID(),
		clerkId: randomUUID(),
		patronId: null,
		items: [{ flavorId: randomUUID(), quantity: 1, unitPrice: 100, lineTotal: 100 }],
		totalAmount: 100,
		paymentMethod: "CASH",
		createdAt: new Date().toISOString(),
	});
}

/** A consumer group's reader in `schema` on its own stream connection (as its own node would have); not started. */
export function testReader(
	opts: Pick<ReaderOptions, "db" | "schema" | "broker"> & {
		databaseUrl: string;
		subscription: StreamSubscription;
		maxAttempts?: number;
		dedupDays?: number;
	},
): StreamReader {
	return new StreamReader({
		db: opts.db,
		schema: opts.schema,
		subscription: opts.subscription,
		self: undefined,
		hub: new StreamHub(opts.databaseUrl, opts.broker.getLogger("hub")),
		broker: opts.broker,
		logger: opts.broker.getLogger("reader"),
		maxAttempts: opts.maxAttempts ?? 3,
		delayMs: 0,
		dedupDays: opts.dedupDays,
	});
}

/** A fresh database with the process's config pointing at it, and these schemas migrated (one Sequelize each). */
export async function streamTestDatabase<S extends string>(...schemas: S[]): Promise<{ db: TestDatabase; schemas: Record<S, Sequelize> }> {
	const db = await createTestDatabase();
	setConfig(loadConfig({ ...process.env, NODE_ENV: "test", DATABASE_URL: db.url }));
	const migrated = {} as Record<S, Sequelize>;
	for (const schema of schemas) {
		migrated[schema] = createSequelize(schema, db.url);
		await migrateSchema(migrated[schema], schema);
	}
	return { db, schemas: migrated };
}
