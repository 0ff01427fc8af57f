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
	/** `publish` for many events of one type in one INSERT (a recall notifying thousands of users), in the order given. */
	publishMany<K extends EventName>(
		t: Transaction,
		ctx: Context | null,
		type: K,
		items: readonly { data: EventPayloads[K]; aggregateId: string; live?: unknown }[],
	): Promise<EventEnvelope<K>[]>;
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
			const [event] = await this.publishMany(t, ctx, type, [{ data, aggregateId, live }]);
			return event;
		},
		async publishMany<K extends EventName>(
			t: Transaction,
			ctx: Context | null,
			type: K,
			items: readonly { data: EventPayloads[K]; aggregateId: string; live?: unknown }[],
		) {
			if (items.length === 0) return [];
			// An event more than one outbox carries (e.g. STOCK_WRITTEN_OFF) names the schema that wrote it as its source.
			const source = EVENT_CATALOG[type].source !== this.dbSchema && emittedBy(type, this.dbSchema) ? this.dbSchema : undefined;
			const events = items.map((item) => envelope(type, item.data, ctx?.requestID, source));
			// WITH ORDINALITY: the rows' `seq` follows the order given, as separate publishes' would.
			await this.db.query(
				`INSERT INTO "${this.dbSchema}".outbox (id, type, topic, aggregate_id, envelope)
				 SELECT e.id, $1, $2, e.aggregate_id, e.envelope FROM unnest($3::uuid[], $4::text[], $5::jsonb[]) WITH ORDINALITY AS e(id, aggregate_id, envelope, n)
				 ORDER BY e.n`,
				{
					bind: [
						type,
						EVENT_CATALOG[type].topic,
						events.map((e) => e.id),
						items.map((i) => i.aggregateId),
						events.map((e) => JSON.stringify(e)),
					],
					transaction: t,
				},
			);
			t.afterCommit(() => events.forEach((event, i) => this.announce(event, items[i].live)));
			return events;
		},
		announce(event: EventEnvelope, live?: unknown) {
			wakeOutboxReaders(this.db, this.dbSchema, event.type, Boolean(this.broker.transit), (err) =>
				this.logger.warn(`Outbox wake-up failed; readers poll`, err),
			);
			emitEvent(this.broker, event, live).catch((err: unknown) =>
				this.logger.warn(`Broker emit of ${event.type} ${event.id} failed; the outbox keeps it`, err),
			);
		},
	},
});
