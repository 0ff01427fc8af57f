/**
 * Wakes the outbox readers (the Kafka relay, internal consumer groups) after a
 * commit: `NOTIFY eislager_outbox, '<schema>:<TYPE>,<TYPE>'` (the event types written,
 * so a consumer group reads only when one of its types is new: parseWake), sent by the
 * writer's process once its transaction has committed, never from inside it.
 *
 * Why not a trigger in the writer's transaction: PostgreSQL takes a server-wide
 * lock for a notifying transaction from just before its commit until the commit
 * record is flushed, so a NOTIFY inside every sale serialised all outbox-writing
 * commits of the server (the POS function alone fell from ~1,000 to ~300 tps).
 * Here the NOTIFY is its own one-statement transaction on the schema's pool, with
 * `synchronous_commit` off for it alone (nothing to flush under the lock), and
 * wake-ups are folded: the commits announced in one event-loop turn share one,
 * and while one is in flight, the next collects every schema that committed meanwhile.
 *
 * A broker without a transporter is the whole cluster: every reader runs in this process
 * (`npm start`'s default). There the wake-up goes to them directly (`listenLocally`), with
 * no NOTIFY: it saved a PostgreSQL round trip, and the listening connection's read, per
 * commit burst (docs/performance.md). With a transporter, readers may run on other nodes,
 * and the NOTIFY carries it to every process, this one included, as before.
 *
 * A wake-up is a hint, not the delivery: a writer that dies between its commit and
 * this NOTIFY only delays its rows until the readers' fallback poll.
 */
import type { Sequelize } from "sequelize";

export const OUTBOX_CHANNEL = "eislager_outbox";

interface Waker {
	/** Schema → the event types committed since the last NOTIFY. */
	pending: Map<string, Set<string>>;
	running: boolean;
	/** Some commit since the last wake-up came from a broker with a transporter: NOTIFY, other nodes may read. */
	notify: boolean;
}

/** A wake-up's payload: the schema, and the types written unless unknown (`<schema>` alone wakes every reader of it). */
export interface Wake {
	schema: string;
	types?: string[];
}

export function parseWake(payload: string): Wake {
	const colon = payload.indexOf(":");
	return colon < 0 ? { schema: payload } : { schema: payload.slice(0, colon), types: payload.slice(colon + 1).split(",") };
}

const wakers = new WeakMap<Sequelize, Waker>();

/** This process's outbox readers (stream hubs, the Kafka relay) that take wake-ups without a NOTIFY. */
const localListeners = new Set<(payload: string) => void>();

/** Wake-ups of brokers without a transporter reach `listener` (a payload as `parseWake` reads it); returns the unsubscribe. */
export function listenLocally(listener: (payload: string) => void): () => void {
	localListeners.add(listener);
	return () => void localListeners.delete(listener);
}

/**
 * After a commit that wrote `type` into `schema`'s outbox. `otherNodes`: the writer's broker has a
 * transporter, so readers may run in other processes (NOTIFY); otherwise this process's readers are woken directly.
 */
export function wakeOutboxReaders(db: Sequelize, schema: string, type: string, otherNodes: boolean, onError: (err: unknown) => void): void {
	let waker = wakers.get(db);
	if (!waker) {
		waker = { pending: new Map(), running: false, notify: false };
		wakers.set(db, waker);
	}
	let types = waker.pending.get(schema);
	if (!types) waker.pending.set(schema, (types = new Set()));
	types.add(type);
	waker.notify ||= otherNodes;
	if (!waker.running) {
		// Started on the next turn: the commits announced in this one (a POS batch's sales) share one NOTIFY.
		waker.running = true;
		const w = waker;
		setImmediate(() => void flush(db, w, onError));
	}
}

async function flush(db: Sequelize, waker: Waker, onError: (err: unknown) => void): Promise<void> {
	try {
		while (waker.pending.size) {
			const payloads = [...waker.pending].map(([schema, types]) => `${schema}:${[...types].join(",")}`);
			waker.pending.clear();
			const notify = waker.notify;
			waker.notify = false;
			if (!notify) {
				wakeLocally(payloads, onError);
				continue;
			}
			await db
				.query(
					`SELECT set_config('synchronous_commit', 'off', true), pg_notify(:channel, p) FROM unnest(ARRAY[:payloads]::text[]) AS p`,
					{
						replacements: { channel: OUTBOX_CHANNEL, payloads },
					},
				)
				.catch(onError);
		}
	} finally {
		waker.running = false;
	}
}

function wakeLocally(payloads: string[], onError: (err: unknown) => void): void {
	for (const payload of payloads)
		for (const listener of localListeners) {
			try {
				listener(payload);
			} catch (err) {
				onError(err);
			}
		}
}
