/**
 * Group commit (issue #12): calls of one process that arrive while one is being written wait for it,
 * then go to PostgreSQL together, one round trip and one commit for all of them. A call that finds
 * nothing in flight goes alone at once: an idle caller waits for nobody.
 *
 * Each call keeps its own answer: the batch statement returns one outcome per call, in order.
 * If the batch statement itself fails with an ERROR from the server (a commit-time check, a
 * deadlock...), PostgreSQL has kept nothing of it, so each call runs again alone, in order, and gets
 * exactly the answer it would have had unbatched. A lost connection or a FATAL error (outcome
 * unknown: a connection ended at commit may have committed) is every call's error, as it would be
 * for one call.
 */
import { DatabaseError } from "pg";

/** One call's outcome inside a batch: its result, or its own error. */
export type Outcome<R> = { ok: R } | { error: Error };

export interface GroupCommitOptions<A, R> {
	/** One call alone: when nothing waits, and for each call of a batch the server refused as a whole. */
	one(args: A): Promise<R>;
	/** The calls together, in one round trip: one outcome per call, in their order. */
	many(batch: A[]): Promise<Outcome<R>[]>;
	/** Calls per batch at most. */
	max: number;
}

interface Pending<A, R> {
	args: A;
	resolve(result: R): void;
	reject(err: unknown): void;
}

export class GroupCommit<A, R> {
	private readonly queue: Pending<A, R>[] = [];
	private running = false;

	constructor(private readonly options: GroupCommitOptions<A, R>) {}

	run(args: A): Promise<R> {
		return new Promise<R>((resolve, reject) => {
			this.queue.push({ args, resolve, reject });
			if (!this.running) void this.drain();
		});
	}

	private async drain(): Promise<void> {
		this.running = true;
		try {
			while (this.queue.length) {
				const batch = this.queue.splice(0, this.options.max);
				if (batch.length === 1) await this.alone(batch[0]);
				else await this.together(batch);
			}
		} finally {
			this.running = false;
		}
	}

	private async alone(p: Pending<A, R>): Promise<void> {
		try {
			p.resolve(await this.options.one(p.args));
		} catch (err) {
			p.reject(err);
		}
	}

	private async together(batch: Pending<A, R>[]): Promise<void> {
		let outcomes: Outcome<R>[];
		try {
			outcomes = await this.options.many(batch.map((p) => p.args));
		} catch (err) {
			if (err instanceof DatabaseError && err.severity === "ERROR") for (const p of batch) await this.alone(p);
			else for (const p of batch) p.reject(err);
			return;
		}
		// A statement that answered for fewer or more calls than it was given: no call's answer can be trusted.
		if (outcomes.length !== batch.length) {
			const err = new Error(`A batch of ${batch.length} calls answered ${outcomes.length} outcomes`);
			for (const p of batch) p.reject(err);
			return;
		}
		batch.forEach((p, i) => {
			const outcome = outcomes[i];
			if ("error" in outcome) p.reject(outcome.error);
			else p.resolve(outcome.ok);
		});
	}
}

/** One GroupCommit per key (a schema's Sequelize instance: one pool per schema and process), built on first use. */
export function groupCommitPer<K extends object, A, R>(build: (key: K) => GroupCommit<A, R>): (key: K) => GroupCommit<A, R> {
	const instances = new WeakMap<K, GroupCommit<A, R>>();
	return (key) => {
		let instance = instances.get(key);
		if (!instance) instances.set(key, (instance = build(key)));
		return instance;
	};
}
