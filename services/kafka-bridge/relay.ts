/**
 * The outbox relay: publishes unsent outbox rows of every schema to Kafka and
 * marks them sent only after Kafka acknowledged them (acks = all, idempotent
 * producer, one request in flight, so a partition keeps the order we send in).
 *
 * - Wake-up: the leader LISTENs on `eislager_outbox`; the writer's process NOTIFYs
 *   it after each commit with the schema's name (lib/outbox-wake.ts), so a row is read
 *   within a round trip of its commit. A writer without a transporter (one process is
 *   the whole cluster) wakes it directly instead (`listenLocally`). A slow poll of every
 *   schema (`pollMs`) stays as the fallback for anything a notification missed.
 * - Batches: whatever is unsent when the relay wakes goes out in one `sendBatch`
 *   (rows that commit meanwhile wait for the next pass, never for a timer).
 * - Order: each schema's rows are read in `seq` order and sent in that order;
 *   the message key is the aggregate id (a shop, a user), so one aggregate's
 *   events land on one partition in commit order.
 * - One relay at a time: the leader holds a PostgreSQL session advisory lock on
 *   a dedicated connection (the same one it LISTENs on). When its process dies
 *   the connection closes, the lock is released, and a standby bridge node
 *   takes over within a second.
 * - Failures (Kafka down, a timeout): nothing is marked, `attempts`/`last_error`
 *   are recorded, the producer is rebuilt and the loop backs off (up to 10 s).
 *   A batch may thus be sent twice: delivery is at-least-once, consumers
 *   de-duplicate by envelope id.
 * - Retention: sent rows older than OUTBOX_RETENTION_DAYS are purged, except rows
 *   an internal consumer group (lib/event-stream.ts) has not consumed yet.
 */
import { Client, type Notification } from "pg";
import type { Kafka, Producer } from "kafkajs";
import type { LoggerInstance, ServiceBroker } from "moleculer";
import type { Sequelize } from "sequelize";
import { APP_METRICS } from "../../lib/metrics";
import { schemasWithTable } from "../../lib/database";
import { listenLocally, OUTBOX_CHANNEL, parseWake } from "../../lib/outbox-wake";
import { HEADERS, ORIGIN_OUTBOX, sleep, withTimeout } from "./kafka";
import { signMessage } from "./inbound-gate";

/** Session advisory lock key of the relay ("EISRELAY" folded into a bigint). */
export const RELAY_LOCK_KEY = "4542534752454c59";

export interface RelayOptions {
	db: Sequelize;
	databaseUrl: string;
	kafka: Kafka | undefined;
	broker: ServiceBroker;
	logger: LoggerInstance;
	namespace: string;
	retentionDays: number;
	/** KAFKA_INBOUND_KEY: every message gets a signature header, as outside producers must. */
	signingKey?: string;
	batchSize?: number;
	/** Fallback poll of every schema when no notification came (ms). */
	pollMs?: number;
}

export type RelayRole = "idle" | "standby" | "leader" | "stopped";

interface OutboxRow {
	seq: string;
	id: string;
	type: string;
	topic: string;
	aggregate_id: string;
	envelope: unknown;
}

type KafkaMessage = { key: string; value: string; headers: Record<string, string> };

const MAX_BACKOFF_MS = 10_000;
const PURGE_EVERY_MS = 3600_000;
const DEFAULT_POLL_MS = 5000;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]*$/;

export class OutboxRelay {
	role: RelayRole = "idle";
	/** Last Kafka interaction of the leader succeeded. */
	kafkaOk = true;
	lastError: string | undefined;
	relayedTotal = 0;

	private stopping = false;
	private loop: Promise<void> | undefined;
	private lockClient: Client | undefined;
	private producer: Producer | undefined;
	private signal: { wake?: () => void } = {};
	/** Known outbox schemas; a notification from another one refreshes the list. */
	private schemas: string[] = [];
	/** What the next pass reads: the notified schemas, or every schema. */
	private dirty = new Set<string>();
	private scanAll = true;
	/** A wake-up came in while a pass ran: run the next one at once. */
	private pending = false;
	private nextPurgeAt = 0;
	private failures = 0;
	private lockCheckedAt = 0;
	/** Wake-ups of this process's writers that have no transporter (they send no NOTIFY). */
	private stopListening: (() => void) | undefined;

	constructor(private readonly opts: RelayOptions) {}

	start(): void {
		if (!this.opts.kafka) {
			this.role = "idle";
			this.opts.logger.info("KAFKA_BROKERS is not set: the outbox relay idles and outbox rows are kept");
			return;
		}
		this.stopListening = listenLocally((payload) => this.wake(parseWake(payload).schema));
		this.loop = this.run();
	}

	/** Rows were committed or marked unsent (in `schema`, or anywhere): relay them now. */
	wake(schema?: string): void {
		if (schema && SCHEMA_NAME.test(schema) && this.schemas.includes(schema)) this.dirty.add(schema);
		else this.scanAll = true;
		this.pending = true;
		// A standby has nothing to relay; it keeps its one-second lock attempts.
		if (this.role === "leader" || this.stopping) this.signal.wake?.();
	}

	async stop(): Promise<void> {
		this.stopping = true;
		this.stopListening?.();
		this.signal.wake?.();
		// A send in flight while Kafka is down may take long: don't hold the shutdown for it (the rows stay unsent).
		// At most 5 s (withTimeout clears its timer: a pending one kept every stopped process alive for 5 s).
		await withTimeout(this.loop ?? Promise.resolve(), 5000, "the relay loop").catch(() => undefined);
		await this.releaseLeadership();
		this.role = "stopped";
	}

	private async run(): Promise<void> {
		let backoff = 200;
		while (!this.stopping) {
			try {
				if (!(await this.holdLeadership())) {
					this.role = "standby";
					await sleep(1000, this.signal);
					continue;
				}
				if (this.role !== "leader") {
					this.opts.logger.info("Outbox relay: this node is the leader");
					this.scanAll = true;
				}
				this.role = "leader";
				if (Date.now() >= this.nextPurgeAt) await this.purge();
				await this.relayOnce();
				if (this.failures) this.opts.logger.info(`Outbox relay: Kafka reachable again after ${this.failures} failed attempt(s)`);
				this.kafkaOk = true;
				this.lastError = undefined;
				this.failures = 0;
				backoff = 200;
				if (!this.pending && !this.stopping) {
					await sleep(this.opts.pollMs ?? DEFAULT_POLL_MS, this.signal);
					// Woken by nothing: the fallback poll reads every schema.
					if (!this.pending) this.scanAll = true;
				}
			} catch (err) {
				this.failures++;
				this.kafkaOk = false;
				this.scanAll = true;
				this.lastError = err instanceof Error ? err.message : String(err);
				this.opts.broker.metrics.increment(APP_METRICS.relayErrors);
				if (this.failures === 1 || this.failures % 10 === 0)
					this.opts.logger.warn(`Outbox relay failed (attempt ${this.failures}), retrying in ${backoff} ms: ${this.lastError}`);
				await this.resetProducer();
				await sleep(backoff, this.signal);
				backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
			}
		}
	}

	/** True while this node holds the relay lock; tries to take it (and LISTENs) otherwise. */
	private async holdLeadership(): Promise<boolean> {
		if (!this.lockClient) {
			const client = new Client({
				connectionString: this.opts.databaseUrl,
				application_name: "eislager-outbox-relay",
				connectionTimeoutMillis: 3000,
			});
			client.on("error", () => undefined);
			client.on("end", () => {
				if (this.lockClient === client) {
					this.lockClient = undefined;
					if (this.role === "leader") this.opts.logger.warn("Outbox relay: lost the lock connection; stepping down");
					this.role = "standby";
				}
			});
			client.on("notification", (n: Notification) => {
				if (n.channel === OUTBOX_CHANNEL) this.wake(n.payload && parseWake(n.payload).schema);
			});
			await client.connect();
			// Marking rows sent need not wait for the WAL flush: a mark lost in a crash only means the
			// rows are sent again, which at-least-once delivery allows (consumers de-duplicate).
			await client.query("SET synchronous_commit = off");
			this.lockClient = client;
		}
		if (this.role === "leader") {
			// Still connected (the lock lives as long as the session)? Checked once a second at most.
			if (Date.now() - this.lockCheckedAt >= 1000) {
				await withTimeout(this.lockClient.query("SELECT 1"), 3000, "lock connection check");
				this.lockCheckedAt = Date.now();
			}
			return true;
		}
		const res = await this.lockClient.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(x'${RELAY_LOCK_KEY}'::bigint) AS locked`);
		if (!res.rows[0].locked) return false;
		// Listening from here on; the first pass as leader reads every schema, so nothing committed before is missed.
		await this.lockClient.query(`LISTEN ${OUTBOX_CHANNEL}`);
		return true;
	}

	private async releaseLeadership(): Promise<void> {
		const client = this.lockClient;
		this.lockClient = undefined;
		await this.resetProducer();
		if (client) await client.end().catch(() => undefined);
	}

	private async connectedProducer(): Promise<Producer> {
		if (!this.producer) {
			const producer = this.opts.kafka!.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: true });
			try {
				await withTimeout(producer.connect(), 10_000, "Kafka producer connect");
			} catch (err) {
				await producer.disconnect().catch(() => undefined);
				throw err;
			}
			this.producer = producer;
		}
		return this.producer;
	}

	private async resetProducer(): Promise<void> {
		const producer = this.producer;
		this.producer = undefined;
		if (producer) await withTimeout(producer.disconnect(), 5000, "Kafka producer disconnect").catch(() => undefined);
	}

	/** The leader's own connection (lock, LISTEN, reads and marks): no wait behind the services' pool. */
	private session(): Client {
		if (!this.lockClient) throw new Error("Outbox relay: the lock connection is closed");
		return this.lockClient;
	}

	/** The schemas this pass reads (and clears the wake-up state, so a notification during the pass counts). */
	private async schemasToRead(): Promise<string[]> {
		this.pending = false;
		if (this.scanAll) {
			this.scanAll = false;
			this.dirty.clear();
			this.schemas = await schemasWithTable(this.opts.db, "outbox");
			return this.schemas;
		}
		const list = [...this.dirty];
		this.dirty.clear();
		return list;
	}

	/**
	 * One pass: every unsent row of the schemas to read (up to `batchSize` each),
	 * in one `sendBatch`, then marked sent; returns how many were sent.
	 */
	async relayOnce(): Promise<number> {
		const limit = this.opts.batchSize ?? 500;
		const batch: { schema: string; seqs: string[] }[] = [];
		const byTopic = new Map<string, KafkaMessage[]>();
		for (const schema of await this.schemasToRead()) {
			const { rows } = await this.session().query<OutboxRow>(
				`SELECT seq, id, type, topic, aggregate_id, envelope FROM "${schema}".outbox WHERE sent_at IS NULL ORDER BY seq LIMIT $1`,
				[limit],
			);
			if (!rows.length) continue;
			// A full page: more may be waiting behind it.
			if (rows.length === limit) this.wake(schema);
			batch.push({ schema, seqs: rows.map((r) => r.seq) });
			for (const row of rows) {
				const messages = byTopic.get(row.topic) ?? [];
				const value = JSON.stringify(row.envelope);
				const headers: Record<string, string> = {
					[HEADERS.origin]: ORIGIN_OUTBOX,
					[HEADERS.namespace]: this.opts.namespace,
					[HEADERS.eventId]: row.id,
					[HEADERS.eventType]: row.type,
				};
				if (this.opts.signingKey) headers[HEADERS.signature] = signMessage(this.opts.signingKey, value);
				messages.push({ key: row.aggregate_id, value, headers });
				byTopic.set(row.topic, messages);
			}
		}
		if (!batch.length) return 0;
		try {
			const producer = await this.connectedProducer();
			await withTimeout(
				producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) }),
				20_000,
				"Kafka send",
			);
		} catch (err) {
			const message = (err instanceof Error ? err.message : String(err)).slice(0, 500);
			for (const { schema, seqs } of batch) {
				await this.lockClient
					?.query(`UPDATE "${schema}".outbox SET attempts = attempts + 1, last_error = $1 WHERE seq = ANY($2::bigint[])`, [
						message,
						seqs,
					])
					.catch(() => undefined);
			}
			throw err;
		}
		let total = 0;
		for (const { schema, seqs } of batch) {
			await this.session().query(
				`UPDATE "${schema}".outbox SET sent_at = now(), attempts = attempts + 1, last_error = NULL WHERE seq = ANY($1::bigint[])`,
				[seqs],
			);
			total += seqs.length;
		}
		for (const [topic, messages] of byTopic) this.opts.broker.metrics.increment(APP_METRICS.relayed, { topic }, messages.length);
		this.relayedTotal += total;
		return total;
	}

	/** Deletes sent rows older than the retention (in chunks, so no long lock). */
	async purge(): Promise<Record<string, number>> {
		this.nextPurgeAt = Date.now() + PURGE_EVERY_MS;
		const purged: Record<string, number> = {};
		// Internal consumer groups (lib/event-stream.ts) tail the outboxes: keep every row some group's cursor has not passed.
		const cursorSchemas = await schemasWithTable(this.opts.db, "stream_cursors");
		const cursors = cursorSchemas
			.map((c) => `SELECT txid, seq FROM "${c}".stream_cursors WHERE source_schema = :schema`)
			.join(" UNION ALL ");
		const consumed = cursors ? `AND NOT EXISTS (SELECT 1 FROM (${cursors}) c WHERE (c.txid, c.seq) < (o.txid, o.seq))` : "";
		for (const schema of await schemasWithTable(this.opts.db, "outbox")) {
			purged[schema] = 0;
			for (;;) {
				const [, meta] = await this.opts.db.query(
					`DELETE FROM "${schema}".outbox WHERE seq IN (SELECT seq FROM "${schema}".outbox o WHERE sent_at < now() - make_interval(days => :days) ${consumed} LIMIT 5000)`,
					{ replacements: { days: this.opts.retentionDays, schema } },
				);
				const count = (meta as { rowCount?: number }).rowCount ?? 0;
				purged[schema] += count;
				if (count < 5000) break;
			}
		}
		await this.opts.db.query(`DELETE FROM kafka_bridge.inbound_events WHERE received_at < now() - make_interval(days => :days)`, {
			replacements: { days: this.opts.retentionDays },
		});
		const total = Object.values(purged).reduce((a, b) => a + b, 0);
		if (total) this.opts.logger.info(`Outbox retention: purged ${total} sent row(s) older than ${this.opts.retentionDays} day(s)`);
		return purged;
	}
}
