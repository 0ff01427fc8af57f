/**
 * Transactional outbox: `publish()` writes the event's envelope to the service's
 * `outbox` table inside the caller's transaction and emits it on the broker once
 * that transaction commits. The kafka-bridge relays unsent rows to Kafka and
 * internal consumer groups tail the rows (mixins/event-stream.mixin.ts), so an
 * event is never lost even if the process dies right after the commit. After the
 * commit, `announce()` wakes those readers (lib/outbox-wake.ts) and emits the event
 * on the broker for live listeners (socket pushes) only.
 */
import type { Context, Service } from "moleculer";
import type { Transaction } from "sequelize";
import { EVENT_CATALOG, emitEvent, emittedBy, envelope, type EventEnvelope, type EventName, type EventPayloads } from "../lib/events";
import { wakeOutboxReaders } from "../lib/outbox-wake";
import type { DbThis, Models } from "./db.mixin";
import { defineMixin } from "../lib/service";

export interface OutboxThis {
	/** `live`: the socket gateway's view of the event (lib/events.ts `emitEvent`), on the broker emit only, never in the outbox. */
	publish<K extends EventName>(
		t: Transaction,
		ctx: Context | null,
		type: K,
		data: EventPayloads[K],
		aggregateId: string,
		live?: unknown,
	): Promise<EventEnvelope<K>>;
	/** Tells the cluster about an event whose outbox row has just been committed (by `publish` or by SQL of its own). */
	announce(event: EventEnvelope, live?: unknown): void;
}

type This = Service & DbThis<Models> & OutboxThis;

export const OutboxMixin = defineMixin<This>({
	methods: {
		async publish<K extends EventName>(
			t: Transaction,
			ctx: Context | null,
			type: K,
			data: EventPayloads[K],
			aggregateId: string,
			live?: unknown,
		) {
			// An event more than one outbox carries (e.g. STOCK_WRITTEN_OFF) names the schema that wrote it as its source.
			const source = EVENT_CATALOG[type].source !== this.dbSchema && emittedBy(type, this.dbSchema) ? this.dbSchema : undefined;
			const event = envelope(type, data, ctx?.requestID, source);
			await this.db.query(
				`INSERT INTO "${this.dbSchema}".outbox (id, type, topic, aggregate_id, envelope) VALUES (:id, :type, :topic, :aggregateId, :envelope)`,
				{
					replacements: { id: event.id, type, topic: EVENT_CATALOG[type].topic, aggregateId, envelope: JSON.stringify(event) },
					transaction: t,
				},
			);
			t.afterCommit(() => this.announce(event, live));
			return event;
		},
		announce(event: EventEnvelope, live?: unknown) {
			wakeOutboxReaders(this.db, this.dbSchema, (err) => this.logger.warn(`Outbox wake-up failed; readers poll`, err));
			emitEvent(this.broker, event, live).catch((err: unknown) =>
				this.logger.warn(`Broker emit of ${event.type} ${event.id} failed; the outbox keeps it`, err),
			);
		},
	},
});
