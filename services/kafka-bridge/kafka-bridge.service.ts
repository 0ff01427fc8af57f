/**
 * kafka-bridge: the transactional outbox's relay to Kafka, and Kafka's
 * external events back onto the broker. See relay.ts and inbound.ts; the
 * message format and retention are in docs/cluster.md.
 * Internal actions (no REST route): status, backlog, replay, purge; the REPL
 * commands in repl-commands/ call them.
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import type { Admin, Kafka } from "kafkajs";
import type { Ctx } from "../../lib/types";
import { QueryTypes, type Sequelize } from "sequelize";
import { config } from "../../lib/config";
import { releaseSchemaDatabase, requireDatabaseUrl, reserveDbConnections, schemaDatabase, schemasWithTable } from "../../lib/database";
import { migrateSchema } from "../../lib/migrate";
import { emitEvent, type EventEnvelope } from "../../lib/events";
import { notFound } from "../../lib/errors";
import { STRICT, uuid } from "../../lib/params";
import { APP_METRICS, registerAppMetrics } from "../../lib/metrics";
import { BUSINESS_METRICS, clearSeries, registerBusinessMetrics, replaceSeries } from "../../lib/business-metrics";
import type { CheckResult } from "../../lib/health";
import { createKafka, ensureTopics, withTimeout } from "./kafka";
import { OutboxRelay } from "./relay";
import { InboundConsumer } from "./inbound";
import { defineService, type ServiceDefinition } from "../../lib/service";
import type { Params, Result } from "../../lib/contracts";

export const BRIDGE_SCHEMA = "kafka_bridge";

interface Methods {
	readinessChecks(): Promise<Record<string, CheckResult>>;
	refreshMetrics(): Promise<void>;
	kafkaReachable(): Promise<CheckResult>;
}

interface State {
	db: Sequelize;
	dbSchema: string;
	kafka: Kafka | undefined;
	admin: Admin | undefined;
	relay: OutboxRelay;
	inbound: InboundConsumer | undefined;
	probe: { at: number; result: CheckResult } | undefined;
	/** Returns the connection budget slot of the relay's lock session. */
	releaseLockSlot: () => void;
}

type This = Service & Methods & State;

const replayParams = {
	...STRICT,
	id: uuid,
	kafka: { type: "boolean", optional: true, default: true },
	broker: { type: "boolean", optional: true, default: true },
} as const;

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "kafka-bridge",

	actions: {
		status: {
			summary: "Relay role (leader, standby, idle), Kafka state and counters of this bridge node",
			handler() {
				return {
					nodeID: this.broker.nodeID,
					kafkaConfigured: Boolean(this.kafka),
					role: this.relay.role,
					kafkaOk: this.relay.kafkaOk,
					lastError: this.relay.lastError ?? this.inbound?.lastError ?? null,
					relayedTotal: this.relay.relayedTotal,
					inboundEvents: config().kafkaInbound.events,
					inboundConnected: this.inbound?.connected ?? false,
					inboundJoined: this.inbound?.joined ?? false,
				};
			},
		},
		backlog: {
			summary: "Unsent outbox rows per schema (count, oldest, failing rows)",
			async handler(): Promise<Result<"kafka-bridge.backlog">> {
				const result: { schema: string; unsent: number; failing: number; oldest: string | null; lastError: string | null }[] = [];
				for (const s of await schemasWithTable(this.db, "outbox")) {
					const [row] = await this.db.query<{ unsent: number; failing: number; oldest: Date | null; last_error: string | null }>(
						`SELECT count(*)::int AS unsent, count(*) FILTER (WHERE attempts > 0)::int AS failing, min(created_at) AS oldest,
						        (SELECT last_error FROM "${s}".outbox WHERE sent_at IS NULL AND last_error IS NOT NULL ORDER BY seq DESC LIMIT 1) AS last_error
						   FROM "${s}".outbox WHERE sent_at IS NULL`,
						{ type: QueryTypes.SELECT },
					);
					result.push({
						schema: s,
						unsent: row.unsent,
						failing: row.failing,
						oldest: row.oldest ? new Date(row.oldest).toISOString() : null,
						lastError: row.last_error,
					});
				}
				return result;
			},
		},
		replay: {
			summary: "Replays an outbox event by id: emit it on the broker again and/or mark it unsent so it is relayed to Kafka again",
			params: replayParams,
			async handler(ctx: Ctx<Params<"kafka-bridge.replay">>): Promise<Result<"kafka-bridge.replay">> {
				for (const s of await schemasWithTable(this.db, "outbox")) {
					const rows = await this.db.query<{ envelope: EventEnvelope }>(`SELECT envelope FROM "${s}".outbox WHERE id = :id`, {
						type: QueryTypes.SELECT,
						replacements: { id: ctx.params.id },
					});
					if (!rows.length) continue;
					const env = rows[0].envelope;
					if (ctx.params.broker) await emitEvent(this.broker, env);
					if (ctx.params.kafka) {
						await this.db.query(`UPDATE "${s}".outbox SET sent_at = NULL WHERE id = :id`, {
							replacements: { id: ctx.params.id },
						});
						this.relay.wake();
					}
					return { id: env.id, type: env.type, schema: s, broker: ctx.params.broker, kafka: ctx.params.kafka };
				}
				throw notFound("Outbox event", ctx.params.id);
			},
		},
		purge: {
			summary: "Applies the outbox retention now (sent rows older than OUTBOX_RETENTION_DAYS)",
			handler() {
				return this.relay.purge();
			},
		},
	},

	methods: {
		async kafkaReachable(): Promise<CheckResult> {
			if (!this.kafka) return { ok: true };
			if (this.probe && Date.now() - this.probe.at < 1000) return this.probe.result;
			let result: CheckResult;
			try {
				this.admin ??= this.kafka.admin();
				await withTimeout(
					this.admin.connect().then(() => this.admin!.describeCluster()),
					1200,
					"Kafka probe",
				);
				result = { ok: true };
			} catch (err) {
				const admin = this.admin;
				this.admin = undefined;
				void admin?.disconnect().catch(() => undefined);
				result = { ok: false, error: err instanceof Error ? err.message : String(err) };
			}
			this.probe = { at: Date.now(), result };
			return result;
		},

		/** /metrics: the outbox backlog of every schema, as the relay sees it; Kafka reachability; the inbound group's lag (relay leader only). */
		async refreshMetrics(): Promise<void> {
			const backlog = (await this.actions.backlog({})) as { schema: string; unsent: number; oldest: string | null }[];
			for (const b of backlog) {
				this.broker.metrics.set(APP_METRICS.outboxBacklog, b.unsent, { schema: b.schema });
				this.broker.metrics.set(APP_METRICS.outboxOldestSec, b.oldest ? (Date.now() - Date.parse(b.oldest)) / 1000 : 0, {
					schema: b.schema,
				});
			}
			if (!this.kafka) return;
			registerBusinessMetrics(this.broker);
			const probe = await this.kafkaReachable();
			this.broker.metrics.set(BUSINESS_METRICS.kafkaUp, probe.ok ? 1 : 0);
			// Every bridge node would see the same group lag: only the relay leader reports it.
			if (!probe.ok || !this.inbound || !this.admin || this.relay.role !== "leader")
				return clearSeries(this.broker, [BUSINESS_METRICS.kafkaConsumerLag]);
			const lag = await this.inbound.lag(this.admin);
			replaceSeries(
				this.broker,
				BUSINESS_METRICS.kafkaConsumerLag,
				lag.map((l) => ({ labels: { topic: l.topic }, value: l.lag })),
			);
		},

		/** /ready: Kafka reachable (when configured) and, on the leader, the last relay attempt succeeded. */
		async readinessChecks(): Promise<Record<string, CheckResult>> {
			if (!this.kafka) return { kafka: { ok: true, error: "KAFKA_BROKERS not set: relay idle, outbox keeps events" } };
			const probe = await this.kafkaReachable();
			if (!probe.ok) return { kafka: probe };
			if (this.relay.role === "leader" && !this.relay.kafkaOk)
				return { kafka: { ok: false, error: this.relay.lastError ?? "relay failing" } };
			return { kafka: { ok: true } };
		},
	},

	created() {
		const cfg = config();
		this.dbSchema = BRIDGE_SCHEMA;
		this.db = schemaDatabase(BRIDGE_SCHEMA);
		// The relay's lock session is a connection of its own, outside the pool: count it in DB_POOL_MAX.
		this.releaseLockSlot = reserveDbConnections(1);
		this.kafka = cfg.kafkaBrokers.length ? createKafka(cfg.kafkaBrokers, `${cfg.kafkaClientId}-bridge`, this.logger) : undefined;
		this.relay = new OutboxRelay({
			db: this.db,
			databaseUrl: requireDatabaseUrl(),
			kafka: this.kafka,
			broker: this.broker,
			logger: this.logger,
			namespace: cfg.namespace,
			retentionDays: cfg.outboxRetentionDays,
			signingKey: cfg.kafkaInbound.key,
		});
		// Inbound from outside producers only for listed event types (KAFKA_INBOUND_EVENTS, default none).
		const { events, key, previousKey } = cfg.kafkaInbound;
		this.inbound =
			this.kafka && events.length && key
				? new InboundConsumer({
						kafka: this.kafka,
						db: this.db,
						broker: this.broker,
						logger: this.logger,
						namespace: cfg.namespace,
						groupId: `${cfg.kafkaClientId}-bridge-${cfg.namespace}`,
						policy: { events, keys: previousKey ? [key, previousKey] : [key] },
					})
				: undefined;
	},

	async started() {
		registerAppMetrics(this.broker);
		await migrateSchema(this.db, BRIDGE_SCHEMA);
		if (this.kafka) {
			// In the background: a Kafka that is down must not hold up the node's start.
			const admin = this.kafka.admin();
			void withTimeout(
				admin.connect().then(() => ensureTopics(admin)),
				10_000,
				"Kafka topic set-up",
			)
				.catch((err: unknown) =>
					this.logger.warn(
						`Kafka not reachable at start (${err instanceof Error ? err.message : String(err)}); the relay retries in the background`,
					),
				)
				.finally(() => void admin.disconnect().catch(() => undefined));
		}
		this.relay.start();
		this.inbound?.start();
	},

	async stopped() {
		await this.relay.stop();
		await this.inbound?.stop();
		await this.admin?.disconnect().catch(() => undefined);
		await releaseSchemaDatabase(this.db);
		this.releaseLockSlot();
	},
};

export default defineService(schema);
