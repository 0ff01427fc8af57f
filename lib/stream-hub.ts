/**
 * The process's stream connection, one per broker (lib/event-stream.ts): it
 * LISTENs on the outbox channel (writers NOTIFY the schema after each commit,
 * lib/outbox-wake.ts; this process's writers without a transporter wake its readers
 * directly) and holds the session advisory locks of the consumer groups this
 * process leads. When it closes, every lock goes with it and each group is
 * taken over by a standby (here or on another node).
 */
import { Client } from "pg";
import type { LoggerInstance, ServiceBroker } from "moleculer";
import { listenLocally, OUTBOX_CHANNEL } from "./outbox-wake";
import { reserveDbConnections } from "./database";

/** First key of the two-int advisory locks of consumer groups ("EIST"); the second is hashtext(group). */
export const LOCK_CLASS = 0x45495354;

/** What the hub needs of a reader. */
export interface HubReader {
	readonly group: string;
	notified(payload: string): void;
}

/** Resolves after `ms` (or at once when `signal.wake()` is called); never keeps the process alive. */
export function sleep(ms: number, signal?: { wake?: () => void }): Promise<void> {
	return new Promise((resolve) => {
		const timer = setTimeout(done, ms);
		timer.unref();
		function done() {
			clearTimeout(timer);
			if (signal) signal.wake = undefined;
			resolve();
		}
		if (signal) signal.wake = done;
	});
}

/**
 * The process's stream connection (one per broker): LISTENs on the outbox
 * channel and holds the advisory locks of the groups this process leads.
 */
export class StreamHub {
	private client: Client | undefined;
	private connecting: Promise<Client> | undefined;
	private readonly held = new Set<string>();
	private readonly readers = new Set<HubReader>();
	private checkedAt = 0;
	/** The stream connection counts against the process's DB_POOL_MAX while any reader runs. */
	private releaseSlot: (() => void) | undefined;
	/** Wake-ups of this process's writers without a transporter (no NOTIFY), while any reader runs. */
	private stopListening: (() => void) | undefined;

	constructor(
		private readonly url: string,
		private readonly logger: LoggerInstance,
	) {}

	add(reader: HubReader): void {
		this.releaseSlot ??= reserveDbConnections(1, this.url);
		this.stopListening ??= listenLocally((payload) => this.notify(payload));
		this.readers.add(reader);
	}

	async remove(reader: HubReader): Promise<void> {
		this.readers.delete(reader);
		if (this.held.delete(reader.group) && this.client)
			await this.client.query("SELECT pg_advisory_unlock($1::int, hashtext($2))", [LOCK_CLASS, reader.group]).catch(() => undefined);
		if (this.readers.size === 0) {
			await this.connecting?.catch(() => undefined);
			const c = this.client;
			this.client = undefined;
			this.held.clear();
			await c?.end().catch(() => undefined);
			this.releaseSlot?.();
			this.releaseSlot = undefined;
			this.stopListening?.();
			this.stopListening = undefined;
		}
	}

	private notify(payload: string): void {
		for (const r of this.readers) r.notified(payload);
	}

	private async connection(): Promise<Client> {
		if (this.client) return this.client;
		this.connecting ??= (async () => {
			const c = new Client({ connectionString: this.url, application_name: "eislager-streams", connectionTimeoutMillis: 3000 });
			c.on("error", () => undefined);
			c.on("notification", (n) => this.notify(n.payload ?? ""));
			c.on("end", () => {
				if (this.client !== c) return;
				this.client = undefined;
				if (this.held.size)
					this.logger.warn(`Event streams: lost the stream connection; stepping down from ${[...this.held].join(", ")}`);
				this.held.clear();
			});
			await c.connect();
			if (this.readers.size === 0) {
				// Every reader stopped while we connected.
				await c.end().catch(() => undefined);
				throw new Error("event streams stopped");
			}
			await c.query(`LISTEN ${OUTBOX_CHANNEL}`);
			this.client = c;
			return c;
		})().finally(() => (this.connecting = undefined));
		return this.connecting;
	}

	/** True while this process holds the group's lock; tries to take it otherwise. */
	async lead(group: string): Promise<boolean> {
		const c = await this.connection();
		if (this.held.has(group)) {
			// The lock lives as long as the session: check the session once a second at most.
			if (Date.now() - this.checkedAt >= 1000) {
				const check = c.query("SELECT 1");
				const timeout = sleep(3000).then(() => Promise.reject(new Error("stream connection check timed out")));
				try {
					await Promise.race([check, timeout]);
				} catch (err) {
					this.held.clear();
					this.client = undefined;
					void c.end().catch(() => undefined);
					throw err;
				}
				this.checkedAt = Date.now();
			}
			return this.held.has(group);
		}
		const res = await c.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1::int, hashtext($2)) AS locked", [LOCK_CLASS, group]);
		if (res.rows[0].locked) this.held.add(group);
		return res.rows[0].locked;
	}
}

const hubs = new WeakMap<ServiceBroker, StreamHub>();

export function streamHub(broker: ServiceBroker, url: string): StreamHub {
	let hub = hubs.get(broker);
	if (!hub) {
		hub = new StreamHub(url, broker.getLogger("event-stream"));
		hubs.set(broker, hub);
	}
	return hub;
}
