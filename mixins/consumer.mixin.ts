/**
 * Idempotent event consumption: events arrive at least once (broker after commit,
 * Kafka replays), so a consumer records each envelope id in `processed_events`
 * in the same transaction as its effect and skips ids it has seen.
 */
import type { Service, ServiceSchema } from "moleculer";
import { QueryTypes, type Transaction } from "sequelize";
import type { EventEnvelope, EventName } from "../lib/events";
import type { DbThis, Models } from "./db.mixin";

export interface ConsumerThis {
	/** Runs `effect` in a transaction unless `consumer` already processed this event; returns false for a duplicate. */
	consumeOnce<K extends EventName>(consumer: string, event: EventEnvelope<K>, effect: (t: Transaction) => Promise<void>): Promise<boolean>;
}

type This = Service & DbThis<Models> & ConsumerThis;

export const ConsumerMixin: Partial<ServiceSchema> = {
	methods: {
		async consumeOnce<K extends EventName>(this: This, consumer: string, event: EventEnvelope<K>, effect: (t: Transaction) => Promise<void>) {
			return this.transaction(async (t) => {
				const inserted = await this.db.query(
					`INSERT INTO "${this.dbSchema}".processed_events (event_id, consumer) VALUES (:id, :consumer) ON CONFLICT DO NOTHING RETURNING event_id`,
					{ replacements: { id: event.id, consumer }, transaction: t, type: QueryTypes.SELECT },
				);
				if (inserted.length === 0) return false;
				await effect(t);
				return true;
			});
		},
	},
};
