/** kafkajs client for the bridge: short timeouts and few retries (the bridge's own loop backs off). */
import { Kafka, logLevel, type Admin, type LogEntry } from "kafkajs";
import type { LoggerInstance } from "moleculer";
import { EVENT_CATALOG, EVENT_NAMES } from "../../lib/events";

export const CATALOG_TOPICS = [...new Set(EVENT_NAMES.map((n) => EVENT_CATALOG[n].topic))];

/** Headers the relay sets on every message it publishes from an outbox. */
export const HEADERS = {
	origin: "eislager-origin",
	namespace: "eislager-namespace",
	eventId: "eislager-event-id",
	eventType: "eislager-event-type",
	/** `sha256=<hex HMAC of the value>` with KAFKA_INBOUND_KEY (inbound-gate.ts). */
	signature: "eislager-signature",
} as const;
export const ORIGIN_OUTBOX = "outbox";

export function createKafka(brokers: string[], clientId: string, logger: LoggerInstance): Kafka {
	return new Kafka({
		clientId,
		brokers,
		connectionTimeout: 2000,
		requestTimeout: 10_000,
		retry: { initialRetryTime: 200, retries: 3, maxRetryTime: 2000 },
		// kafkajs is chatty while a broker is down; the bridge reports failures itself.
		logLevel: logLevel.WARN,
		logCreator: () => (entry: LogEntry) => {
			const text = `kafkajs ${entry.namespace}: ${entry.log.message}`;
			if (entry.level <= logLevel.WARN) logger.debug(text);
			else logger.trace(text);
		},
	});
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
	let timer: NodeJS.Timeout | undefined;
	const timeout = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
	});
	return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Creates the missing ones of `topics` (the catalog's by default; 3 partitions, as auto-creation would) and waits
 * for their leaders; rejects when that fails (callers decide whether a start waits for it).
 */
export async function ensureTopics(admin: Admin, topics: readonly string[] = CATALOG_TOPICS): Promise<void> {
	const existing = new Set(await admin.listTopics());
	const missing = topics.filter((t) => !existing.has(t));
	if (missing.length)
		await admin.createTopics({
			waitForLeaders: true,
			topics: missing.map((topic) => ({ topic, numPartitions: 3, replicationFactor: 1 })),
		});
}

export function sleep(ms: number, signal?: { wake?: () => void }): Promise<void> {
	return new Promise((resolve) => {
		const timer = setTimeout(done, ms);
		function done() {
			clearTimeout(timer);
			if (signal) signal.wake = undefined;
			resolve();
		}
		if (signal) signal.wake = done;
	});
}
