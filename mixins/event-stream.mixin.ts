/**
 * Durable event consumption: a service lists its consumer groups in a top-level
 * `streams` field (built with `stream()`), and this mixin runs one reader per
 * group (lib/event-stream.ts). Each batch of events reaches the group's handler
 * once, in one transaction in the service's own schema, however the broker
 * fared: the outbox rows are the source, not the after-commit emit.
 *
 *   streams: [stream({ group: "inventory.consumption", types: ["SALE_COMPLETED"], async handler(this: This, events, t) { ... } })]
 *
 * The service also gets `/ready` checks (a group more than STREAM_MAX_BACKLOG
 * events behind is not ready) and `/metrics` gauges (lag, dead letters).
 */
import type { Service } from "moleculer";
import { QueryTypes } from "sequelize";
import { config } from "../lib/config";
import { requireDatabaseUrl } from "../lib/database";
import type { EventName } from "../lib/events";
import { APP_METRICS } from "../lib/metrics";
import { StreamReader, streamHub, type StreamSubscription } from "../lib/event-stream";
import type { CheckResult } from "../lib/health";
import { defineMixin } from "../lib/service";
import type { DbThis, Models } from "./db.mixin";

export type { EnvelopeOf, StreamSubscription } from "../lib/event-stream";

/** Declares a consumer group (typed: `events` is narrowed to the listed types). */
export function stream<K extends EventName, This>(subscription: StreamSubscription<K, This>): StreamSubscription<K, This> {
	return subscription;
}

export interface EventStreamThis {
	streamReaders: StreamReader[];
}

type This = Service & DbThis<Models> & EventStreamThis;

export const EventStreamMixin = defineMixin<This>({
	methods: {
		async readinessChecks(): Promise<Record<string, CheckResult>> {
			const bound = config().stream.maxBacklog;
			const checks: Record<string, CheckResult> = {};
			for (const reader of this.streamReaders) {
				const lag = await reader.lag();
				checks[`stream:${reader.group}`] =
					lag > bound ? { ok: false, error: `${lag} events behind (bound ${bound})` } : { ok: true };
			}
			return checks;
		},

		async refreshMetrics(): Promise<void> {
			for (const reader of this.streamReaders) {
				this.broker.metrics.set(APP_METRICS.streamLag, await reader.lag(), { group: reader.group });
				const [{ n }] = await this.db.query<{ n: number }>(
					`SELECT count(*)::int AS n FROM "${this.dbSchema}".dead_letters WHERE "group" = :group AND replayed_at IS NULL`,
					{
						type: QueryTypes.SELECT,
						replacements: { group: reader.group },
					},
				);
				this.broker.metrics.set(APP_METRICS.streamDeadLetters, n, { group: reader.group });
			}
		},
	},

	created() {
		this.streamReaders = [];
	},

	// Built at start: the db mixin's `created` (this.db) has run by then.
	started() {
		const subscriptions = (this.schema as { streams?: StreamSubscription[] }).streams ?? [];
		const cfg = config();
		const hub = streamHub(this.broker, requireDatabaseUrl());
		this.streamReaders = subscriptions.map(
			(subscription) =>
				new StreamReader({
					db: this.db,
					schema: this.dbSchema,
					subscription,
					self: this,
					hub,
					broker: this.broker,
					logger: this.logger,
					maxAttempts: cfg.stream.maxAttempts,
					delayMs: cfg.stream.delayMs,
					dedupDays: cfg.stream.dedupDays,
				}),
		);
		for (const reader of this.streamReaders) reader.start();
	},

	async stopped() {
		await Promise.all(this.streamReaders.map((r) => r.stop()));
	},
});
