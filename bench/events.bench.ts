/**
 * `npm run bench:events`: end-to-end event lag, commit → Kafka consumer, through
 * the real outbox (a transaction writes the row, the kafka-bridge relays it),
 * at a steady rate; beside the raw kafkajs produce → consume lag on the same
 * broker in the same run (the floor any relay sits on).
 *
 * Environment: KAFKA_BROKERS (127.0.0.1:9092), BENCH_ADMIN_DATABASE_URL
 * (postgres://postgres@127.0.0.1:5432/postgres; a scratch database is created and
 * dropped), BENCH_RATE events/s (100), BENCH_SECONDS (10).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { Client } from "pg";
import { Kafka, logLevel, type Consumer } from "kafkajs";
import type { Service, ServiceBroker, ServiceSchema } from "moleculer";
import { loadConfig, setConfig } from "../lib/config";
import { createBroker, loadServices } from "../bin/broker";
import { EVENT_CATALOG } from "../lib/events";
import { benchSeconds, percentile } from "./stats";
import { DbMixin, type DbThis } from "../mixins/db.mixin";
import { OutboxMixin, type OutboxThis } from "../mixins/outbox.mixin";
import { defineAuthModels, type AuthModels } from "../services/auth/auth.model";

const BROKERS = (process.env.KAFKA_BROKERS || "127.0.0.1:9092").split(",");
const ADMIN_URL = process.env.BENCH_ADMIN_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const RATE = Number(process.env.BENCH_RATE ?? 100);
const SECONDS = benchSeconds(10);
const COUNT = Math.round(RATE * SECONDS);
const DRAIN_MS = 30_000;

const kafka = new Kafka({ clientId: `bench-${randomBytes(3).toString("hex")}`, brokers: BROKERS, logLevel: logLevel.NOTHING });

interface Result {
	label: string;
	sent: number;
	received: number;
	p50: number;
	p99: number;
	max: number;
	perSec: number;
	/** This process's CPU (writer or producer, relay, consumer) per event; PostgreSQL's and Kafka's not included. */
	cpuMsPerEvent: number;
}

function cpuMsSince(from: NodeJS.CpuUsage): number {
	const used = process.cpuUsage(from);
	return (used.user + used.system) / 1000;
}

function summarize(label: string, sent: number, lags: number[], firstSend: number, lastReceive: number, cpuMs: number): Result {
	const sorted = [...lags].sort((a, b) => a - b);
	return {
		label,
		sent,
		received: lags.length,
		p50: percentile(sorted, 50),
		p99: percentile(sorted, 99),
		max: sorted[sorted.length - 1] ?? NaN,
		perSec: lags.length / ((lastReceive - firstSend) / 1000),
		cpuMsPerEvent: cpuMs / Math.max(1, lags.length),
	};
}

/** A consumer that reads `topic` from its current end and reports each message's id. */
async function consumerAtEnd(topic: string, onMessage: (id: string, at: number) => void): Promise<Consumer> {
	const admin = kafka.admin();
	await admin.connect();
	if (!(await admin.listTopics()).includes(topic))
		await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] });
	let offsets: { partition: number; high: string }[] = [];
	for (let i = 0; ; i++) {
		try {
			offsets = await admin.fetchTopicOffsets(topic);
			break;
		} catch (err) {
			if (i > 20) throw err;
			await new Promise((r) => setTimeout(r, 300));
		}
	}
	await admin.disconnect();
	const consumer = kafka.consumer({ groupId: `bench-${randomBytes(6).toString("hex")}`, maxWaitTimeInMs: 10, heartbeatInterval: 1000 });
	await consumer.connect();
	await consumer.subscribe({ topics: [topic] });
	let ready!: () => void;
	const joined = new Promise<void>((r) => (ready = r));
	consumer.on(consumer.events.GROUP_JOIN, () => ready());
	await consumer.run({
		autoCommit: false,
		eachMessage: async ({ message }) => {
			const at = Date.now();
			try {
				const id = (JSON.parse(message.value!.toString()) as { id: string }).id;
				onMessage(id, at);
			} catch {
				/* not ours */
			}
		},
	});
	for (const p of offsets) consumer.seek({ topic, partition: p.partition, offset: p.high });
	await joined;
	return consumer;
}

/** Sends `COUNT` items at `RATE`/s, calling `send(i)` without waiting for the previous one. */
async function steady(send: (i: number) => Promise<void>): Promise<number> {
	const start = Date.now();
	const pending: Promise<void>[] = [];
	for (let i = 0; i < COUNT; i++) {
		const due = start + (i * 1000) / RATE;
		const wait = due - Date.now();
		if (wait > 0) await new Promise((r) => setTimeout(r, wait));
		pending.push(send(i));
	}
	await Promise.all(pending);
	return start;
}

async function waitFor(done: () => boolean, ms: number): Promise<void> {
	const deadline = Date.now() + ms;
	while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

async function rawKafka(): Promise<Result> {
	const topic = `bench-raw-${randomBytes(4).toString("hex")}`;
	const sentAt = new Map<string, number>();
	const lags: number[] = [];
	let last = 0;
	const consumer = await consumerAtEnd(topic, (id, at) => {
		const t = sentAt.get(id);
		if (t !== undefined) {
			lags.push(at - t);
			last = at;
			sentAt.delete(id);
		}
	});
	// The same producer settings as the relay: idempotent, acks=all, one request in flight.
	const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
	await producer.connect();
	const cpu = process.cpuUsage();
	const start = await steady(async (i) => {
		const id = randomUUID();
		sentAt.set(id, Date.now());
		await producer.send({ topic, acks: -1, messages: [{ key: String(i % 16), value: JSON.stringify({ id, n: i }) }] });
	});
	await waitFor(() => lags.length >= COUNT, DRAIN_MS);
	const cpuMs = cpuMsSince(cpu);
	await producer.disconnect();
	await consumer.disconnect();
	const admin = kafka.admin();
	await admin.connect();
	await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
	await admin.disconnect();
	return summarize("raw kafkajs produce → consume", COUNT, lags, start, last, cpuMs);
}

type BenchThis = Service & DbThis<AuthModels> & OutboxThis;

async function outboxEndToEnd(dbUrl: string): Promise<Result> {
	const cfg = setConfig(
		loadConfig({
			...process.env,
			NODE_ENV: "production",
			JWT_SECRET: randomBytes(32).toString("hex"),
			DATABASE_URL: dbUrl,
			KAFKA_BROKERS: BROKERS.join(","),
			LOG_LEVEL: "warn",
			DB_POOL_MAX: "10",
		}),
	);
	// No bulkhead queue limit: a slow moment should show as lag, not as rejected writes.
	const broker: ServiceBroker = createBroker(cfg, { nodeID: `bench-${process.pid}`, bulkhead: { enabled: false } });
	loadServices(broker, ["kafka-bridge"]);
	const committedAt = new Map<string, number>();
	// A writer like any service's: the outbox row in the same transaction as the change.
	const writer: ServiceSchema = {
		name: "bench-writer",
		mixins: [DbMixin({ schema: "auth", models: defineAuthModels }), OutboxMixin],
		actions: {
			async write(this: BenchThis, ctx) {
				const userId = randomUUID();
				const event = await this.transaction((t) =>
					this.publish(t, null, "USER_LOGIN", { userId, role: "PATRON", method: "password", ip: null }, userId),
				);
				committedAt.set(event.id, Date.now());
				return ctx.params;
			},
		},
	};
	broker.createService(writer);
	await broker.start();
	const lags: number[] = [];
	const early: Map<string, number> = new Map();
	let last = 0;
	const consumer = await consumerAtEnd(EVENT_CATALOG.USER_LOGIN.topic, (id, at) => {
		const t = committedAt.get(id);
		if (t === undefined) return void early.set(id, at);
		lags.push(at - t);
		last = at;
	});
	const cpu = process.cpuUsage();
	const start = await steady(async () => {
		await broker.call("bench-writer.write");
	});
	await waitFor(() => lags.length + early.size >= COUNT, DRAIN_MS);
	// A message can arrive before its writer saw the commit return: count it with lag 0.
	for (const [id, at] of early) if (committedAt.has(id)) lags.push(Math.max(0, at - committedAt.get(id)!));
	const cpuMs = cpuMsSince(cpu);
	await consumer.disconnect();
	await broker.stop();
	return summarize("outbox commit → Kafka consumer (kafka-bridge)", COUNT, lags, start, last, cpuMs);
}

async function main(): Promise<void> {
	const dbName = `eislager_bench_${randomBytes(4).toString("hex")}`;
	const admin = new Client({ connectionString: ADMIN_URL });
	await admin.connect();
	await admin.query(`CREATE DATABASE ${dbName}`);
	const url = new URL(ADMIN_URL);
	url.pathname = `/${dbName}`;
	console.log(`bench:events: ${COUNT} events at ${RATE}/s for ${SECONDS}s on Kafka ${BROKERS.join(",")}\n`);
	try {
		const raw = await rawKafka();
		console.log(`raw kafkajs: p50 ${raw.p50} ms, p99 ${raw.p99} ms (${raw.received}/${raw.sent})`);
		const e2e = await outboxEndToEnd(url.toString());
		const rows = [raw, e2e];
		const pad = (s: string, n: number) => s.padEnd(n);
		console.log(
			`${pad("path", 48)} ${pad("received", 10)} ${pad("events/s", 9)} ${pad("p50 ms", 8)} ${pad("p99 ms", 8)} ${pad("max ms", 8)} CPU ms/event`,
		);
		for (const r of rows) {
			console.log(
				`${pad(r.label, 48)} ${pad(`${r.received}/${r.sent}`, 10)} ${pad(r.perSec.toFixed(0), 9)} ${pad(String(r.p50), 8)} ${pad(String(r.p99), 8)} ${pad(String(r.max), 8)} ${r.cpuMsPerEvent.toFixed(2)}`,
			);
		}
		console.log(
			`\noutbox vs raw: p50 ×${(e2e.p50 / Math.max(1, raw.p50)).toFixed(1)}, p99 ×${(e2e.p99 / Math.max(1, raw.p99)).toFixed(1)}, CPU ×${(e2e.cpuMsPerEvent / raw.cpuMsPerEvent).toFixed(1)} ` +
				`(relay woken at each commit: in-process here, no transporter; LISTEN eislager_outbox in a cluster; one sendBatch per wake-up; target p99 < 100 ms)`,
		);
		if (e2e.received < e2e.sent || raw.received < raw.sent) process.exitCode = 1;
	} finally {
		await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
		await admin.end();
	}
	process.exit(process.exitCode ?? 0);
}

main().catch((err: unknown) => {
	console.error(`bench:events failed: ${err instanceof Error ? err.stack : String(err)}`);
	process.exit(1);
});
