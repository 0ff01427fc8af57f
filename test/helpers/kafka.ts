/**
 * Kafka for tests: a clear failure when the broker is unreachable (never a silent
 * skip), a reader that collects a topic's messages from offsets captured before
 * the action, and a cross-process lock so the fault test (which stops Kafka)
 * never runs while another Kafka test does.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { Client } from "pg";
import { Kafka, logLevel, type Consumer, type KafkaMessage, type Producer } from "kafkajs";
import type { EventName } from "../../lib/events";
import { createFactory } from "../integration/inventory/helpers";
import { startTestApp, type TestApp, type TestUser } from "./app";
import { ADMIN_DATABASE_URL } from "./db";
import { eventually } from "./eventually";

export const KAFKA_BROKERS = process.env.KAFKA_BROKERS || "127.0.0.1:9092";

export function testKafka(): Kafka {
	return new Kafka({
		clientId: `test-${randomBytes(3).toString("hex")}`,
		brokers: KAFKA_BROKERS.split(","),
		logLevel: logLevel.NOTHING,
		connectionTimeout: 2000,
		retry: { retries: 8, initialRetryTime: 300 },
	});
}

/** Throws a clear message when Kafka is not reachable. */
export async function requireKafka(timeoutMs = 20_000): Promise<void> {
	const admin = testKafka().admin();
	const deadline = Date.now() + timeoutMs;
	let last: unknown;
	while (Date.now() < deadline) {
		try {
			await admin.connect();
			await admin.describeCluster();
			await admin.disconnect();
			return;
		} catch (err) {
			last = err;
			await new Promise((r) => setTimeout(r, 500));
		}
	}
	await admin.disconnect().catch(() => undefined);
	throw new Error(
		`Kafka is not reachable at ${KAFKA_BROKERS} (${String((last as Error)?.message ?? last)}): start it with "bash scripts/kafka.sh start" (.ci/run does)`,
	);
}

export type Offsets = { partition: number; offset: string }[];

export async function endOffsets(topic: string): Promise<Offsets> {
	const admin = testKafka().admin();
	await admin.connect();
	try {
		const existing = await admin.listTopics();
		if (!existing.includes(topic))
			await admin
				.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] })
				.catch(() => undefined);
		// A topic created a moment ago may not have its leaders yet.
		for (let attempt = 1; ; attempt++) {
			try {
				return (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, offset: p.high }));
			} catch (err) {
				if (attempt >= 20) throw err;
				await new Promise((r) => setTimeout(r, 300));
			}
		}
	} finally {
		await admin.disconnect();
	}
}

export interface Collected {
	topic: string;
	partition: number;
	message: KafkaMessage;
	value: { id: string; type: string; data: Record<string, unknown> } & Record<string, unknown>;
	receivedAt: number;
}

/** Reads `topic` from the given offsets with a throw-away consumer group. */
export class TopicReader {
	readonly messages: Collected[] = [];
	private consumer: Consumer | undefined;

	constructor(
		readonly topic: string,
		private readonly from: Offsets,
	) {}

	async start(): Promise<this> {
		const consumer = testKafka().consumer({
			groupId: `test-reader-${randomBytes(6).toString("hex")}`,
			sessionTimeout: 10_000,
			heartbeatInterval: 1000,
			maxWaitTimeInMs: 100,
		});
		this.consumer = consumer;
		await consumer.connect();
		await consumer.subscribe({ topics: [this.topic], fromBeginning: false });
		await consumer.run({
			autoCommit: false,
			eachMessage: async ({ topic, partition, message }) => {
				let value: Collected["value"];
				try {
					value = JSON.parse(message.value?.toString("utf8") ?? "null");
				} catch {
					return;
				}
				this.messages.push({ topic, partition, message, value, receivedAt: Date.now() });
			},
		});
		for (const p of this.from) consumer.seek({ topic: this.topic, partition: p.partition, offset: p.offset });
		return this;
	}

	/** Waits until `done(messages)` holds; throws with what arrived otherwise. */
	async waitFor(done: (messages: Collected[]) => boolean, timeoutMs: number, what: string): Promise<Collected[]> {
		const deadline = Date.now() + timeoutMs;
		while (Date.now() < deadline) {
			if (done(this.messages)) return this.messages;
			await new Promise((r) => setTimeout(r, 100));
		}
		throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what} on "${this.topic}": got ${this.messages.length} message(s)`);
	}

	async stop(): Promise<void> {
		await this.consumer?.disconnect().catch(() => undefined);
	}
}

/** Starts a reader at the topic's current end. */
export async function readerAtEnd(topic: string): Promise<TopicReader> {
	return new TopicReader(topic, await endOffsets(topic)).start();
}

/** Serializes Kafka tests across jest workers: shared for ordinary tests, exclusive for the one that stops Kafka. */
export async function kafkaTestLock(mode: "shared" | "exclusive"): Promise<() => Promise<void>> {
	const client = new Client({ connectionString: ADMIN_DATABASE_URL });
	await client.connect();
	await client.query(mode === "shared" ? "SELECT pg_advisory_lock_shared(454253414641)" : "SELECT pg_advisory_lock(454253414641)");
	return async () => {
		await client.end().catch(() => undefined);
	};
}

/** An inventory + kafka-bridge app that accepts `event` from Kafka signed with `key`, a factory with its maker, and a producer. */
export interface InboundWorld {
	app: TestApp;
	exec: TestUser;
	maker: TestUser;
	factoryId: string;
	producer: Producer;
	stop(): Promise<void>;
}

export async function startInboundWorld(event: EventName, key: string): Promise<InboundWorld> {
	const unlock = await kafkaTestLock("shared");
	let app: TestApp | undefined;
	let producer: Producer | undefined;
	const stop = async () => {
		await producer?.disconnect();
		await app?.stop();
		await unlock();
	};
	try {
		await requireKafka();
		app = await startTestApp({
			services: ["auth", "inventory", "kafka-bridge"],
			env: { KAFKA_BROKERS, NAMESPACE: `t${randomUUID().slice(0, 8)}`, KAFKA_INBOUND_EVENTS: event, KAFKA_INBOUND_KEY: key },
		});
		const started = app;
		const exec = await app.createUser("EXECUTIVE");
		const maker = await app.createUser("MANUFACTURER");
		const factoryId = await createFactory(app, exec.token, maker.id);
		producer = testKafka().producer();
		await producer.connect();
		// The bridge's consumer holds its partitions before a test sends (a test's own wait starts from there).
		await eventually(
			async () => {
				const status = await started.broker.call<{ inboundJoined: boolean; lastError: string | null }>("kafka-bridge.status");
				// Not joined yet: the bridge's last Kafka error, if any, is what a timeout reports.
				if (!status.inboundJoined && status.lastError) throw new Error(status.lastError);
				return status.inboundJoined;
			},
			"the bridge's inbound consumer to join its group",
			120_000,
			250,
		);
		return { app, exec, maker, factoryId, producer, stop };
	} catch (err) {
		// Never keep the shared lock (and the exclusive fault test waiting) after a failed set-up.
		await stop().catch(() => undefined);
		throw err;
	}
}
