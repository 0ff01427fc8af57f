/**
 * Inbound: envelopes that arrive on the catalog's topics from OUTSIDE this
 * cluster (another system producing `purchase-order`, say) become broker events.
 *
 * - Events relayed by an EisLager outbox carry the header `eislager-origin: outbox`
 *   (and the relaying cluster's NAMESPACE, for operators): they were already
 *   emitted on the broker at commit time, so they are skipped. Clusters sharing a
 *   Kafka (staging next to tests, say) thus never import each other's events.
 * - De-duplication by envelope id: an id is recorded in
 *   `kafka_bridge.inbound_events`, in the same transaction as the envelope's row
 *   in `kafka_bridge.outbox`, which internal consumer groups tail (durable, like
 *   any outbox); a redelivered or re-produced envelope with a known id is
 *   skipped. The broker emit after the commit is for live listeners only.
 * - Off unless KAFKA_INBOUND_EVENTS lists event types; then only their topics are
 *   consumed, and a message must be signed with KAFKA_INBOUND_KEY and hold a valid
 *   envelope and payload (inbound-gate.ts). Anything else is counted, logged once a
 *   minute per reason and skipped (it would otherwise block the partition forever).
 * All bridge nodes consume in one consumer group, so partitions are shared.
 */
import type { Admin, Consumer, Kafka, KafkaMessage } from "kafkajs";
import type { LoggerInstance, ServiceBroker } from "moleculer";
import { QueryTypes, type Sequelize, type Transaction } from "sequelize";
import { EVENT_CATALOG, emitEvent, type EventEnvelope } from "../../lib/events";
import { APP_METRICS } from "../../lib/metrics";
import { INBOUND_SOURCE } from "../../lib/event-stream";
import { wakeOutboxReaders } from "../../lib/outbox-wake";
import { ensureTopics, HEADERS, ORIGIN_OUTBOX, sleep, withTimeout } from "./kafka";
import { InboundGate, type InboundPolicy } from "./inbound-gate";

export { parseEnvelope } from "./inbound-gate";

export interface InboundOptions {
	kafka: Kafka;
	db: Sequelize;
	broker: ServiceBroker;
	logger: LoggerInstance;
	namespace: string;
	groupId: string;
	/** Which event types are accepted, and the keys their signatures are checked with. */
	policy: InboundPolicy;
	/** A consumer that has not joined its group this long after it started is replaced (default 30 s). */
	joinTimeoutMs?: number;
}

const JOIN_TIMEOUT_MS = 30_000;

export type InboundOutcome = "emitted" | "own" | "duplicate" | "rejected";

function header(message: KafkaMessage, name: string): string | undefined {
	const v = message.headers?.[name];
	return v === undefined ? undefined : Array.isArray(v) ? String(v[0]) : String(v);
}

/** Puts an accepted envelope in the bridge's outbox-shaped table (born sent: never relayed back), where consumer groups read it. */
export async function storeInbound(
	db: Sequelize,
	env: EventEnvelope,
	topic: string,
	key: string,
	transaction?: Transaction,
): Promise<void> {
	await db.query(
		`INSERT INTO kafka_bridge.outbox (id, type, topic, aggregate_id, envelope, sent_at) VALUES (:id, :type, :topic, :key, :envelope, now()) ON CONFLICT (id) DO NOTHING`,
		{ transaction, replacements: { id: env.id, type: env.type, topic, key, envelope: JSON.stringify(env) } },
	);
}

export class InboundConsumer {
	connected = false;
	/** The consumer group has assigned this consumer its partitions (after `connected`; on a fresh broker that can take a while). */
	joined = false;
	lastError: string | undefined;
	private consumer: Consumer | undefined;
	private stopping = false;
	private loop: Promise<void> | undefined;
	private signal: { wake?: () => void } = {};
	private readonly gate: InboundGate;

	constructor(private readonly opts: InboundOptions) {
		this.gate = new InboundGate(opts.policy, opts.broker, opts.logger);
	}

	start(): void {
		this.loop = this.connectLoop();
	}

	async stop(): Promise<void> {
		this.stopping = true;
		this.signal.wake?.();
		// At most 5 s (withTimeout clears its timer: a pending one kept every stopped process alive for 5 s).
		await withTimeout(this.loop ?? Promise.resolve(), 5000, "the inbound loop").catch(() => undefined);
		await this.disconnect();
	}

	private async disconnect(): Promise<void> {
		const c = this.consumer;
		this.consumer = undefined;
		this.connected = false;
		this.joined = false;
		if (c) await withTimeout(c.disconnect(), 5000, "Kafka consumer disconnect").catch(() => undefined);
	}

	/** Connects and runs the consumer; on a crash kafkajs can't recover from, starts over with backoff. */
	private async connectLoop(): Promise<void> {
		let backoff = 500;
		let runningSince = 0;
		while (!this.stopping) {
			if (this.consumer) {
				// A join that never completes (seen on a broker just restarted) would leave the inbound idle for good: start over.
				const joinTimeout = this.opts.joinTimeoutMs ?? JOIN_TIMEOUT_MS;
				if (!this.joined && Date.now() - runningSince > joinTimeout) {
					this.lastError = `the consumer did not join group ${this.opts.groupId} within ${joinTimeout} ms`;
					this.opts.logger.warn(`Kafka inbound: ${this.lastError}; reconnecting`);
					await this.disconnect();
					continue;
				}
				await sleep(Math.min(1000, joinTimeout), this.signal);
				continue;
			}
			const consumer = this.opts.kafka.consumer({
				groupId: this.opts.groupId,
				allowAutoTopicCreation: true,
				sessionTimeout: 10_000,
				heartbeatInterval: 1000,
				retry: { retries: 5 },
			});
			consumer.on(consumer.events.GROUP_JOIN, () => {
				if (this.consumer === consumer || !this.consumer) this.joined = true;
			});
			consumer.on(consumer.events.CRASH, (e) => {
				this.lastError = String((e.payload as { error?: Error }).error?.message ?? "crash");
				if (!(e.payload as { restart?: boolean }).restart && this.consumer === consumer) {
					this.opts.logger.warn(`Kafka consumer crashed: ${this.lastError}; reconnecting`);
					void this.disconnect().then(() => this.signal.wake?.());
				}
			});
			try {
				const topics = this.gate.topics((name) => EVENT_CATALOG[name].topic);
				await withTimeout(this.ensureInboundTopics(topics), 15_000, "Kafka inbound topics");
				await withTimeout(consumer.connect(), 10_000, "Kafka consumer connect");
				await withTimeout(consumer.subscribe({ topics, fromBeginning: false }), 15_000, "Kafka subscribe");
				await consumer.run({
					eachMessage: async ({ topic, partition, message }) => void (await this.handle(topic, partition, message)),
				});
				this.consumer = consumer;
				this.connected = true;
				this.lastError = undefined;
				runningSince = Date.now();
				backoff = 500;
			} catch (err) {
				this.lastError = err instanceof Error ? err.message : String(err);
				await consumer.disconnect().catch(() => undefined);
				await sleep(backoff, this.signal);
				backoff = Math.min(backoff * 2, 10_000);
			}
		}
	}

	/**
	 * The inbound topics exist, with leaders, before the consumer joins its group. A consumer that joins
	 * while its topic is still being auto-created (a fresh broker) is assigned no partition and consumes
	 * nothing until its next metadata refresh, minutes later.
	 */
	private async ensureInboundTopics(topics: string[]): Promise<void> {
		const admin = this.opts.kafka.admin();
		await admin.connect();
		try {
			await ensureTopics(admin, topics);
		} finally {
			await admin.disconnect();
		}
	}

	async handle(topic: string, partition: number, message: KafkaMessage): Promise<InboundOutcome> {
		const { broker, db } = this.opts;
		if (header(message, HEADERS.origin) === ORIGIN_OUTBOX) {
			broker.metrics.increment(APP_METRICS.inboundDuplicates, { topic });
			return "own";
		}
		const env = this.gate.admit(topic, partition, message);
		if (!env) return "rejected";
		const seen = await db.query("SELECT 1 FROM kafka_bridge.inbound_events WHERE event_id = :id", {
			type: QueryTypes.SELECT,
			replacements: { id: env.id },
		});
		if (seen.length) {
			broker.metrics.increment(APP_METRICS.inboundDuplicates, { topic });
			return "duplicate";
		}
		// Recorded and made durable for internal consumer groups in one transaction (they tail kafka_bridge.outbox); the emit is for live listeners.
		const stored = await db.transaction(async (transaction) => {
			const fresh = await db.query(
				`INSERT INTO kafka_bridge.inbound_events (event_id, type, topic, kafka_partition, kafka_offset) VALUES (:id, :type, :topic, :partition, :offset) ON CONFLICT (event_id) DO NOTHING RETURNING event_id`,
				{
					type: QueryTypes.SELECT,
					transaction,
					replacements: { id: env.id, type: env.type, topic, partition, offset: message.offset },
				},
			);
			if (fresh.length) await storeInbound(db, env, topic, message.key?.toString("utf8") ?? "", transaction);
			return fresh.length > 0;
		});
		if (!stored) {
			broker.metrics.increment(APP_METRICS.inboundDuplicates, { topic });
			return "duplicate";
		}
		wakeOutboxReaders(db, INBOUND_SOURCE, env.type, Boolean(broker.transit), (err) =>
			this.opts.logger.warn("Outbox wake-up failed; consumer groups poll", err),
		);
		await emitEvent(broker, env).catch((err: unknown) =>
			this.opts.logger.warn(`Broker emit of inbound ${env.type} ${env.id} failed; consumer groups have it`, err),
		);
		broker.metrics.increment(APP_METRICS.inbound, { topic });
		return "emitted";
	}

	/** Messages per inbound topic the consumer group has not consumed yet (high watermark − committed offset). */
	async lag(admin: Admin): Promise<{ topic: string; lag: number }[]> {
		const topics = this.gate.topics((name) => EVENT_CATALOG[name].topic);
		const committed = await admin.fetchOffsets({ groupId: this.opts.groupId, topics });
		return Promise.all(
			topics.map(async (topic) => {
				const marks = await admin.fetchTopicOffsets(topic);
				const mine = committed.find((c) => c.topic === topic)?.partitions ?? [];
				const lag = marks.reduce((n, p) => {
					const offset = Number(mine.find((c) => c.partition === p.partition)?.offset ?? -1);
					return n + Math.max(0, Number(p.high) - (offset < 0 ? Number(p.low) : offset));
				}, 0);
				return { topic, lag };
			}),
		);
	}
}
