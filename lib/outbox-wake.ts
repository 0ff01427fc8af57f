/**
 * Wakes the outbox readers (the Kafka relay, internal consumer groups) after a
 * commit: `NOTIFY eislager_outbox, '<schema>'`, sent by the writer's process once
 * its transaction has committed, never from inside it.
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
	pending: Set<string>;
	running: boolean;
}

const wakers = new WeakMap<Sequelize, Waker>();

export function wakeOutboxReaders(db: Sequelize, schema: string, onError: (err: unknown) => void): void {
	let waker = wakers.get(db);
	if (!waker) {
		waker = { pending: new Set(), running: false };
		wakers.set(db, waker);
	}
	waker.pending.add(schema);
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
			const schemas = [...waker.pending];
			waker.pending.clear();
			await db
				.query(
					`SELECT set_config('synchronous_commit', 'off', true), pg_notify(:channel, s) FROM unnest(ARRAY[:schemas]::text[]) AS s`,
					{
						replacements: { channel: OUTBOX_CHANNEL, schemas },
					},
				)
				.catch(onError);
		}
	} finally {
		waker.running = false;
	}
}
