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
 * A wake-up is a hint, not the delivery: a writer that dies between its commit and
 * this NOTIFY only delays its rows until the readers' fallback poll.
 */
import type { Sequelize } from "sequelize";

export const OUTBOX_CHANNEL = "eislager_outbox";

interface Waker {
	/** Schema → the event types committed since the last NOTIFY. */
	pending: Map<string, Set<string>>;
	running: boolean;
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

export function wakeOutboxReaders(db: Sequelize, schema: string, type: string, onError: (err: unknown) => void): void {
	let waker = wakers.get(db);
	if (!waker) {
		waker = { pending: new Map(), running: false };
		wakers.set(db, waker);
	}
	let types = waker.pending.get(schema);
	if (!types) waker.pending.set(schema, (types = new Set()));
	types.add(type);
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
