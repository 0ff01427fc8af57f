/**
 * Hands an event to the internal consumer groups the way an external producer's
 * event arrives: as a row of `kafka_bridge.outbox` (what services/kafka-bridge/inbound.ts
 * writes for an accepted Kafka envelope), which every group tails. A broker emit
 * would reach live listeners only.
 */
import type { Sequelize } from "sequelize";
import { createSequelize } from "../../lib/database";
import { migrateSchema } from "../../lib/migrate";
import { EVENT_CATALOG, type EventEnvelope } from "../../lib/events";
import { storeInbound } from "../../services/kafka-bridge/inbound";
import { OUTBOX_CHANNEL } from "../../lib/outbox-wake";

const dbs = new Map<string, Promise<Sequelize>>();

export async function deliverDurably(databaseUrl: string, event: EventEnvelope): Promise<void> {
	let db = dbs.get(databaseUrl);
	if (!db) {
		db = (async () => {
			const s = createSequelize("kafka_bridge", databaseUrl);
			await migrateSchema(s, "kafka_bridge");
			return s;
		})();
		dbs.set(databaseUrl, db);
	}
	await storeInbound(await db, event, EVENT_CATALOG[event.type].topic, "test");
	// As the bridge does after its commit: wake the consumer groups (they would otherwise find it at their next poll).
	await (await db).query("SELECT pg_notify(:channel, 'kafka_bridge')", { replacements: { channel: OUTBOX_CHANNEL } });
}

/** Closes the connections deliverDurably opened (call in afterAll). */
export async function closeDelivery(): Promise<void> {
	const all = [...dbs.values()];
	dbs.clear();
	await Promise.all(all.map(async (d) => (await d).close()));
}
