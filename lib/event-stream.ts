/**
 * Durable internal event delivery: consumer groups tail the outbox tables.
 *
 * The outbox row IS the event (written in the same transaction as the change),
 * so a group that reads the outboxes by position misses nothing, whatever
 * happened to the broker emit after the commit. Per group:
 * - a cursor `(txid, seq)` per source schema in the consumer's own
 *   `stream_cursors`, moved in the same transaction as the group's effects and
 *   its `processed_events` rows: effects happen exactly once;
 * - it reads only rows of transactions older than every one still running
 *   (`txid < pg_snapshot_xmin(pg_current_snapshot())`), so a row that commits
 *   later can never appear behind the cursor;
 * - one reader cluster-wide: a session advisory lock on the process's stream
 *   connection (which also LISTENs for the writers' post-commit NOTIFY). When the
 *   holder dies its connection closes and a standby takes over within a second.
 *   The cursor row is locked and compared in every batch, so even two readers
 *   could not apply a batch twice;
 * - failures: deadlocks and serialization failures are retried with backoff; a
 *   failing batch is retried event by event; an event that fails
 *   `STREAM_MAX_ATTEMPTS` times is parked in `dead_letters` and the cursor moves
 *   on. The tries are counted in `stream_attempts`, each before the handler runs
 *   on the event alone, so they survive restarts and leader changes, and a try
 *   that kills the process counts too; and a reader's first batch from a
 *   position it did not move itself (it just became leader) runs event by event.
 *   So an event that crashes its process every time is dead-lettered, without
 *   running again, by the first leader that finds it already tried
 *   `STREAM_MAX_ATTEMPTS` times: a crash loop ends after that many restarts
 *   (one more when it first crashed a batch, a try not counted).
 *   An operator's replay request is picked up by the group's reader.
 * See docs/cluster.md ("Internal delivery").
 */
import { schemasWithTable } from "./database";
import { QueryTypes, type Sequelize, type Transaction } from "sequelize";
import type { LoggerInstance, ServiceBroker } from "moleculer";
import { emitters, type EventEnvelope, type EventName } from "./events";
import { APP_METRICS, registerStreamMetrics } from "./metrics";
import { sleep, type StreamHub } from "./stream-hub";
import { parseWake } from "./outbox-wake";

export { sleep, streamHub } from "./stream-hub";

/** The kafka-bridge's schema: envelopes accepted from Kafka, one more source for every group. */
export const INBOUND_SOURCE = "kafka_bridge";
/** NOTIFY payload on the outbox channel that wakes every group (a dead-letter replay was requested). */
export const REPLAY_WAKE = "dead_letters";
const POLL_MS = 2000;
/**
 * After a pass that handled events (and left no backlog), the reader lets the next ones gather this long
 * before it reads again, however many NOTIFYs arrive meanwhile: under a stream of sales a pass (horizon,
 * read, tail, one transaction) carries many events instead of the few of each commit, at most
 * this much later. A quiet group still reads the first event at once (the pass before it handled none).
 */
const GATHER_MS = 100;
const SOURCES_TTL_MS = 5000;
const MAX_BACKOFF_MS = 10_000;
const TX_RETRIES = 6;
const REPLAY_CHECK_MS = 10_000;
/** The leader drops processed ids older than `dedupDays` once an hour, a chunk per pass. */
const PRUNE_EVERY_MS = 3_600_000;
const PRUNE_CHUNK = 10_000;

/** One envelope per catalog type, as a union narrowed by `type`. */
export type EnvelopeOf<K extends EventName> = K extends EventName ? EventEnvelope<K> : never;

/** A durable subscription a service declares (mixins/event-stream.mixin.ts). */
export interface StreamSubscription<K extends EventName = EventName, This = unknown> {
	/** Consumer group: one cursor, one reader cluster-wide, the `processed_events` consumer name. */
	group: string;
	types: readonly K[];
	/** Events per batch (one transaction); default 200. */
	batchSize?: number;
	/** Applies events not seen before (in source order) inside `t`; throwing rolls the whole batch back. */
	handler(this: This, events: EnvelopeOf<K>[], t: Transaction): Promise<void>;
}

interface Position {
	txid: string;
	seq: string;
}

interface Row extends Position {
	id: string;
	type: string;
	envelope: EventEnvelope;
}

class CursorMoved extends Error {}

/** What a try that never returned left on record: its process died or was stopped while the handler ran. */
const DID_NOT_RETURN = "did not return (the process died or was stopped while the handler ran)";

/** Rows after the cursor whose transactions are older than every one still running. */
const RANGE = `(txid, seq) > (CAST(:txid AS xid8), CAST(:seq AS bigint)) AND txid < CAST(:horizon AS xid8)`;
// Positions are selected as text (`txid::text AS txid`), and ORDER BY resolves a bare name to an output column
// first: order by the table's columns (`o.txid`), never the alias, or "100000" sorts before "99999" and a batch
// that straddles a power of ten skips rows.

function sqlState(err: unknown): string | undefined {
	const e = err as { parent?: { code?: string }; original?: { code?: string }; code?: string };
	return e?.parent?.code ?? e?.original?.code ?? (typeof e?.code === "string" ? e.code : undefined);
}

/** Connection lost or server shutting down (SQLSTATE classes 08 and 57P0x, or no connection at all). */
function unavailable(err: unknown): boolean {
	const state = sqlState(err);
	const name = (err as { name?: string })?.name ?? "";
	return (
		(state !== undefined && (state.startsWith("08") || state.startsWith("57P0"))) ||
		/^Sequelize(Connection|ConnectionRefused|ConnectionTimedOut|HostNotReachable|ConnectionAcquireTimeout)Error$/.test(name)
	);
}

function message(err: unknown): string {
	return (err instanceof Error ? err.message : String(err)).slice(0, 1000);
}

export interface ReaderOptions {
	db: Sequelize;
	/** The consumer's schema (its stream_cursors, processed_events, dead_letters). */
	schema: string;
	subscription: StreamSubscription;
	/** `this` of the handler (the service). */
	self: unknown;
	hub: StreamHub;
	broker: ServiceBroker;
	logger: LoggerInstance;
	maxAttempts: number;
	delayMs: number;
	/** Days the group keeps the ids of the events it processed (STREAM_DEDUP_DAYS); unset, it keeps them for ever. */
	dedupDays?: number;
}

/** One consumer group's reader: leads or stands by, and tails every source outbox while leading. */
export class StreamReader {
	role: "starting" | "standby" | "leader" | "stopped" = "starting";
	readonly group: string;
	deliveredTotal = 0;
	private stopping = false;
	private loop: Promise<void> | undefined;
	private readonly signal: { wake?: () => void } = {};
	/** Ends the gathering pause early on stop only (NOTIFYs do not). */
	private readonly stopSignal: { wake?: () => void } = {};
	private pending = false;
	private sources: { list: string[]; at: number } = { list: [], at: 0 };
	private cursors = new Map<string, Position>();
	/** After a failed batch, and for the first batch of a position read from the table: one event at a time up to this position. */
	private singleUntil = new Map<string, Position>();
	/** Dead letters are looked at when a replay was requested (NOTIFY), else every REPLAY_CHECK_MS. */
	private replayWanted = true;
	private replayCheckedAt = 0;
	private prunedAt = 0;
	private readonly types: string[];
	/** Where our types can come from: the schemas that emit them (catalog), and inbound Kafka envelopes. */
	private readonly catalogSources: string[];
	private registered = false;

	constructor(private readonly opts: ReaderOptions) {
		this.group = opts.subscription.group;
		this.types = [...opts.subscription.types];
		this.catalogSources = [...new Set([INBOUND_SOURCE, ...this.types.flatMap((t) => emitters(t as EventName))])];
	}

	start(): void {
		registerStreamMetrics(this.opts.broker);
		this.opts.hub.add(this);
		this.loop = this.run();
	}

	async stop(): Promise<void> {
		this.stopping = true;
		this.wake();
		this.stopSignal.wake?.();
		await Promise.race([this.loop?.catch(() => undefined), sleep(5000)]);
		await this.opts.hub.remove(this);
		this.role = "stopped";
	}

	wake(): void {
		this.pending = true;
		this.signal.wake?.();
	}

	/** A NOTIFY on the outbox channel: wake when it concerns one of our sources and types (or is new to us). */
	notified(payload: string): void {
		if (payload === REPLAY_WAKE) {
			this.replayWanted = true;
			return this.wake();
		}
		const { schema, types } = parseWake(payload);
		// Other groups' events only: the cursor moves past them on our next pass (or poll).
		if (types && !types.some((t) => this.types.includes(t))) return;
		if (this.sources.list.includes(schema)) this.wake();
		else if (!this.sources.list.length || !schema || this.sourceWanted(schema)) {
			this.sources.at = 0;
			this.wake();
		}
	}

	/** The schemas whose outbox may hold our types, as the catalog has them now. */
	private async wantedSources(): Promise<string[]> {
		return (await schemasWithTable(this.opts.db, "outbox")).filter((s) => this.sourceWanted(s));
	}

	private sourceWanted(schema: string): boolean {
		return this.catalogSources.includes(schema);
	}

	/**
	 * A cursor row for every source the catalog names, whether its outbox exists yet or not, written by leader and
	 * standby alike at start: the outbox retention (kafka-bridge purge) keeps a source's rows that some cursor has
	 * not passed, and a group with no row for a source would have its unread events purged.
	 */
	private async registerCursors(): Promise<void> {
		await this.opts.db.query(
			`INSERT INTO "${this.opts.schema}".stream_cursors ("group", source_schema) SELECT :group, unnest(ARRAY[:sources]::text[]) ON CONFLICT DO NOTHING`,
			{ replacements: { group: this.group, sources: this.catalogSources } },
		);
		this.registered = true;
	}

	private async run(): Promise<void> {
		let backoff = 200;
		let failures = 0;
		while (!this.stopping) {
			try {
				if (!this.registered) await this.registerCursors();
				if (!(await this.opts.hub.lead(this.group))) {
					this.role = "standby";
					await sleep(1000, this.signal);
					continue;
				}
				if (this.role !== "leader") {
					this.opts.logger.info(`Event stream "${this.group}": this node reads`);
					this.cursors.clear();
				}
				this.role = "leader";
				this.pending = false;
				const done = await this.pass();
				failures = 0;
				backoff = 200;
				if (done === 0 && !this.pending) await sleep(POLL_MS, this.signal);
				else if (done > 0 && done < (this.opts.subscription.batchSize ?? 200)) await sleep(GATHER_MS, this.stopSignal);
			} catch (err) {
				if (err instanceof CursorMoved) {
					// Another reader moved it (a leader that lost its lock mid-batch): re-read and go on.
					this.cursors.clear();
					await sleep(50, this.signal);
					continue;
				}
				const state = sqlState(err);
				if ((state === "42P01" || state === "3F000") && failures++ < 100) {
					// A source schema's migrations have not run yet (another service's, in this process or on another node).
					await sleep(100, this.signal);
					continue;
				}
				failures++;
				if (failures < 10 || failures % 10 === 0)
					this.opts.logger.warn(
						`Event stream "${this.group}" failed (attempt ${failures}), retrying in ${backoff} ms: ${message(err)}`,
					);
				await sleep(backoff, this.signal);
				backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
			}
		}
	}

	/** One pass: requested replays, then one batch from each source. Returns how many events it handled. */
	private async pass(): Promise<number> {
		let done = 0;
		if (this.replayWanted || Date.now() - this.replayCheckedAt > REPLAY_CHECK_MS) {
			this.replayWanted = false;
			this.replayCheckedAt = Date.now();
			done += await this.replays();
		}
		if (this.opts.dedupDays && Date.now() - this.prunedAt > PRUNE_EVERY_MS) await this.prune(this.opts.dedupDays);
		const [{ horizon }] = await this.opts.db.query<{ horizon: string }>(
			"SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon",
			{ type: QueryTypes.SELECT },
		);
		for (const source of await this.currentSources()) {
			if (this.stopping) break;
			done += await this.drain(source, horizon);
		}
		return done;
	}

	private async currentSources(): Promise<string[]> {
		if (Date.now() - this.sources.at < SOURCES_TTL_MS) return this.sources.list;
		const list = await this.wantedSources();
		this.sources = { list, at: Date.now() };
		return list;
	}

	/**
	 * The group's position in `source`. Read from the table (this reader just became leader, or another one moved
	 * it), it may be where a reader died in the middle of a batch, perhaps killed by one of its events: the next
	 * batch (at most batchSize of our events) is read one event at a time, each try counted before it runs.
	 */
	private async cursor(source: string, horizon: string): Promise<Position> {
		const known = this.cursors.get(source);
		if (known) return known;
		const [row] = await this.opts.db.query<Position>(
			`SELECT txid::text AS txid, seq::text AS seq FROM "${this.opts.schema}".stream_cursors WHERE "group" = :group AND source_schema = :source`,
			{
				type: QueryTypes.SELECT,
				replacements: { group: this.group, source },
			},
		);
		const pos = row ?? { txid: "0", seq: "0" };
		const [end] = await this.opts.db.query<Position>(
			`SELECT txid::text AS txid, seq::text AS seq FROM (SELECT txid, seq FROM "${source}".outbox WHERE ${RANGE} AND type IN (:types) ORDER BY txid, seq LIMIT :limit) batch ORDER BY batch.txid DESC, batch.seq DESC LIMIT 1`,
			{
				type: QueryTypes.SELECT,
				replacements: { ...pos, horizon, types: this.types, limit: this.opts.subscription.batchSize ?? 200 },
			},
		);
		if (end) this.singleUntil.set(source, end);
		else this.singleUntil.delete(source);
		this.cursors.set(source, pos);
		return pos;
	}

	/** Reads and applies one batch of `source` below the horizon; returns the number of events read. */
	private async drain(source: string, horizon: string): Promise<number> {
		const from = await this.cursor(source, horizon);
		const single = this.singleUntil.get(source);
		if (single && !after(single, from)) this.singleUntil.delete(source);
		const limit = this.singleUntil.has(source) ? 1 : (this.opts.subscription.batchSize ?? 200);
		const replacements = { txid: from.txid, seq: from.seq, horizon, types: this.types, limit };
		const rows = await this.opts.db.query<Row>(
			`SELECT txid::text AS txid, seq::text AS seq, id, type, envelope FROM "${source}".outbox o WHERE ${RANGE} AND type IN (:types) ORDER BY o.txid, o.seq LIMIT :limit`,
			{ type: QueryTypes.SELECT, replacements },
		);
		let to: Position | undefined = rows[rows.length - 1];
		if (rows.length < limit) {
			// Everything of ours below the horizon is in hand: move past other types' rows too.
			const [tail] = await this.opts.db.query<Position>(
				`SELECT txid::text AS txid, seq::text AS seq FROM "${source}".outbox o WHERE ${RANGE} ORDER BY o.txid DESC, o.seq DESC LIMIT 1`,
				{
					type: QueryTypes.SELECT,
					replacements,
				},
			);
			to = tail ?? to;
		}
		if (!to) return 0;
		// An event read alone has its try counted first, in its own statement: a try that kills the process counts too.
		const counted = limit === 1 && rows.length === 1;
		if (counted) {
			const { attempts, priorError } = await this.countAttempt(rows[0]);
			if (attempts > this.opts.maxAttempts) {
				// Tried enough already, its last try perhaps the death of its process: park it without running it again.
				const lastError = priorError ?? `its last try ${DID_NOT_RETURN}`;
				await this.deadLetter(source, from, rows[0], attempts - 1, lastError);
				return 1;
			}
		}
		// A slow handler on purpose (tests, drills): the pause grows with the batch.
		if (rows.length && this.opts.delayMs) await sleep(this.opts.delayMs * rows.length);
		try {
			await this.apply(source, from, rows, to, counted);
		} catch (err) {
			// Not a try at the event (another reader moved the cursor), or nothing said about it (the database itself
			// unreachable): take the count back.
			if (counted && (err instanceof CursorMoved || unavailable(err))) await this.uncount(rows[0]);
			if (err instanceof CursorMoved || rows.length === 0) throw err;
			if (rows.length > 1) {
				this.opts.logger.warn(
					`Event stream "${this.group}": a batch of ${rows.length} from ${source} failed (${message(err)}); retrying event by event`,
				);
				this.singleUntil.set(source, to);
				return rows.length;
			}
			// The database itself unreachable says nothing about the event: retry without counting.
			if (unavailable(err)) throw err;
			await this.failed(source, from, rows[0], err, counted);
		}
		return rows.length;
	}

	/**
	 * One transaction: check the cursor, record the ids, run the handler on the fresh events, move the cursor
	 * (and drop the event's attempts row when its try was `counted`).
	 */
	private async apply(source: string, from: Position, rows: Row[], to: Position, counted: boolean): Promise<void> {
		const s = this.opts.schema;
		await this.transaction(async (t) => {
			await this.lockCursor(t, source, from);
			let fresh: EventEnvelope[] = [];
			if (rows.length) {
				const inserted = await this.opts.db.query<{ event_id: string }>(
					`INSERT INTO "${s}".processed_events (event_id, consumer) SELECT unnest(ARRAY[:ids]::uuid[]), :group ON CONFLICT DO NOTHING RETURNING event_id`,
					{ type: QueryTypes.SELECT, transaction: t, replacements: { ids: rows.map((r) => r.id), group: this.group } },
				);
				const ids = new Set(inserted.map((r) => r.event_id));
				// Rows come in txid order; within the batch hand them over in seq (insert) order, which is the
				// order writers of one aggregate inserted them in while holding its row lock (docs/cluster.md).
				fresh = rows
					.filter((r) => ids.has(r.id))
					.sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : BigInt(a.seq) > BigInt(b.seq) ? 1 : 0))
					.map((r) => r.envelope);
			}
			if (fresh.length) await this.opts.subscription.handler.call(this.opts.self, fresh as EnvelopeOf<EventName>[], t);
			if (counted) await this.forgetAttempts(t, rows[0]);
			await this.moveCursor(t, source, to);
			t.afterCommit(() => {
				this.cursors.set(source, to);
				this.deliveredTotal += fresh.length;
				if (fresh.length) this.opts.broker.metrics.increment(APP_METRICS.streamDelivered, { group: this.group }, fresh.length);
			});
		});
	}

	/**
	 * Counts a try at `row` before it runs (its own autocommit statement, so a try that kills the process counts).
	 * `last_error` is cleared for the try under way: `priorError` is what the previous try reported, null when
	 * it never returned.
	 */
	private async countAttempt(row: Row): Promise<{ attempts: number; priorError: string | null }> {
		const s = this.opts.schema;
		const [counted] = await this.opts.db.query<{ attempts: number; priorError: string | null }>(
			`WITH prior AS (SELECT last_error FROM "${s}".stream_attempts WHERE "group" = :group AND event_id = :id)
			 INSERT INTO "${s}".stream_attempts ("group", event_id, attempts) VALUES (:group, :id, 1)
			 ON CONFLICT ("group", event_id) DO UPDATE SET attempts = stream_attempts.attempts + 1, last_error = NULL, updated_at = now()
			 RETURNING attempts, (SELECT last_error FROM prior) AS "priorError"`,
			{ type: QueryTypes.SELECT, replacements: { group: this.group, id: row.id } },
		);
		return counted;
	}

	/** Takes back a try counted for nothing (best effort: with the database unreachable, the try stays counted). */
	private async uncount(row: Row): Promise<void> {
		const s = this.opts.schema;
		await this.opts.db
			.query(
				`WITH gone AS (DELETE FROM "${s}".stream_attempts WHERE "group" = :group AND event_id = :id AND attempts <= 1)
				 UPDATE "${s}".stream_attempts SET attempts = attempts - 1 WHERE "group" = :group AND event_id = :id AND attempts > 1`,
				{ replacements: { group: this.group, id: row.id } },
			)
			.catch(() => undefined);
	}

	private async forgetAttempts(t: Transaction, row: Row): Promise<void> {
		await this.opts.db.query(`DELETE FROM "${this.opts.schema}".stream_attempts WHERE "group" = :group AND event_id = :id`, {
			transaction: t,
			replacements: { group: this.group, id: row.id },
		});
	}

	/**
	 * A single event failed: keep its error (and count the try, unless it was `counted` before it ran); at the
	 * limit, dead-letter it and move on.
	 */
	private async failed(source: string, from: Position, row: Row, err: unknown, counted: boolean): Promise<void> {
		const s = this.opts.schema;
		const error = message(err);
		const [{ attempts }] = await this.opts.db.query<{ attempts: number }>(
			`INSERT INTO "${s}".stream_attempts ("group", event_id, attempts, last_error) VALUES (:group, :id, 1, :error)
			 ON CONFLICT ("group", event_id) DO UPDATE SET attempts = stream_attempts.attempts + :more, last_error = EXCLUDED.last_error, updated_at = now()
			 RETURNING attempts`,
			{ type: QueryTypes.SELECT, replacements: { group: this.group, id: row.id, error, more: counted ? 0 : 1 } },
		);
		// Its next tries (or the dead-lettering, if that fails now) run alone, each counted before it runs.
		if (!counted) this.singleUntil.set(source, row);
		if (attempts < this.opts.maxAttempts) throw err;
		await this.deadLetter(source, from, row, attempts, error);
	}

	/** One transaction: park the event in dead_letters, drop its attempts row, move the cursor past it. */
	private async deadLetter(source: string, from: Position, row: Row, attempts: number, error: string): Promise<void> {
		const s = this.opts.schema;
		await this.transaction(async (t) => {
			await this.lockCursor(t, source, from);
			await this.opts.db.query(
				`INSERT INTO "${s}".dead_letters ("group", source_schema, event_id, type, envelope, attempts, last_error) VALUES (:group, :source, :id, :type, :envelope, :attempts, :error)
				 ON CONFLICT ("group", event_id) DO UPDATE SET attempts = dead_letters.attempts + EXCLUDED.attempts, last_error = EXCLUDED.last_error,
				   created_at = now(), replay_requested_at = NULL, replayed_at = NULL`,
				{
					transaction: t,
					replacements: {
						group: this.group,
						source,
						id: row.id,
						type: row.type,
						envelope: JSON.stringify(row.envelope),
						attempts,
						error,
					},
				},
			);
			await this.forgetAttempts(t, row);
			await this.moveCursor(t, source, row);
			t.afterCommit(() => void this.cursors.set(source, row));
		});
		this.opts.logger.error(
			`Event stream "${this.group}": ${row.type} ${row.id} failed ${attempts} times and was dead-lettered: ${error}`,
		);
	}

	/** Dead letters an operator asked to replay: run the handler once more; on failure they stay listed. */
	private async replays(): Promise<number> {
		const s = this.opts.schema;
		const due = await this.opts.db.query<{ id: string; event_id: string; envelope: EventEnvelope; last_error: string | null }>(
			`SELECT id, event_id, envelope, last_error FROM "${s}".dead_letters WHERE "group" = :group AND replay_requested_at IS NOT NULL AND replayed_at IS NULL ORDER BY id LIMIT 20`,
			{ type: QueryTypes.SELECT, replacements: { group: this.group } },
		);
		for (const dl of due) {
			// The request is taken and the try counted before the handler runs: a replay that kills the process
			// is not run again at every restart, and the row says what became of it.
			const [claimed] = await this.opts.db.query(
				`UPDATE "${s}".dead_letters SET replay_requested_at = NULL, attempts = attempts + 1, last_error = :note || COALESCE('; before: ' || last_error, '')
				 WHERE id = :id AND replay_requested_at IS NOT NULL AND replayed_at IS NULL RETURNING id`,
				{ type: QueryTypes.SELECT, replacements: { id: dl.id, note: `replay ${DID_NOT_RETURN}` } },
			);
			if (!claimed) continue; // another reader took it
			try {
				await this.transaction(async (t) => {
					const fresh = await this.opts.db.query(
						`INSERT INTO "${s}".processed_events (event_id, consumer) VALUES (:id, :group) ON CONFLICT DO NOTHING RETURNING event_id`,
						{
							type: QueryTypes.SELECT,
							transaction: t,
							replacements: { id: dl.event_id, group: this.group },
						},
					);
					if (fresh.length)
						await this.opts.subscription.handler.call(this.opts.self, [dl.envelope] as EnvelopeOf<EventName>[], t);
					// Replayed: the error it was parked for stays on record.
					await this.opts.db.query(`UPDATE "${s}".dead_letters SET replayed_at = now(), last_error = :prior WHERE id = :id`, {
						transaction: t,
						replacements: { id: dl.id, prior: dl.last_error },
					});
				});
				this.opts.logger.info(`Event stream "${this.group}": dead letter ${dl.event_id} replayed`);
			} catch (err) {
				await this.opts.db.query(`UPDATE "${s}".dead_letters SET last_error = :error WHERE id = :id`, {
					replacements: { id: dl.id, error: message(err) },
				});
				this.opts.logger.warn(`Event stream "${this.group}": replay of ${dl.event_id} failed again: ${message(err)}`);
			}
		}
		if (due.length === 20) this.replayWanted = true;
		return due.length;
	}

	/**
	 * Drops a chunk of the group's processed ids older than `days` (a BRIN index on processed_at finds them): past the
	 * outbox retention no source row is left to read again. A full chunk leaves the rest to the next pass. Best effort:
	 * a failure is logged and tried again in an hour, and never holds up delivery.
	 */
	private async prune(days: number): Promise<void> {
		const s = this.opts.schema;
		this.prunedAt = Date.now();
		try {
			const [, meta] = await this.opts.db.query(
				`DELETE FROM "${s}".processed_events WHERE ctid = ANY (ARRAY(
				   SELECT ctid FROM "${s}".processed_events WHERE consumer = :group AND processed_at < now() - make_interval(days => :days) LIMIT :chunk))`,
				{ replacements: { group: this.group, days, chunk: PRUNE_CHUNK } },
			);
			if (((meta as { rowCount?: number }).rowCount ?? 0) === PRUNE_CHUNK) this.prunedAt = 0;
		} catch (err) {
			this.opts.logger.warn(`Event stream "${this.group}": could not drop old processed ids (${message(err)}); next try in an hour`);
		}
	}

	private async lockCursor(t: Transaction, source: string, from: Position): Promise<void> {
		const [cur] = await this.opts.db.query<Position>(
			`SELECT txid::text AS txid, seq::text AS seq FROM "${this.opts.schema}".stream_cursors WHERE "group" = :group AND source_schema = :source FOR UPDATE`,
			{ type: QueryTypes.SELECT, transaction: t, replacements: { group: this.group, source } },
		);
		if (!cur || cur.txid !== from.txid || cur.seq !== from.seq) throw new CursorMoved(`cursor of "${this.group}" on ${source} moved`);
	}

	private async moveCursor(t: Transaction, source: string, to: Position): Promise<void> {
		await this.opts.db.query(
			`UPDATE "${this.opts.schema}".stream_cursors SET txid = CAST(:txid AS xid8), seq = :seq, updated_at = now() WHERE "group" = :group AND source_schema = :source`,
			{
				transaction: t,
				replacements: { txid: to.txid, seq: to.seq, group: this.group, source },
			},
		);
	}

	/** A transaction, retried with backoff on deadlock (40P01) and serialization failure (40001). */
	private async transaction(fn: (t: Transaction) => Promise<void>): Promise<void> {
		for (let attempt = 1; ; attempt++) {
			try {
				return await this.opts.db.transaction(fn);
			} catch (err) {
				const state = sqlState(err);
				if ((state !== "40P01" && state !== "40001") || attempt >= TX_RETRIES) throw err;
				await sleep(Math.min(25 * 2 ** attempt, 1000) * (0.5 + Math.random()));
			}
		}
	}

	/**
	 * Events of our types committed after the group's cursor, over its sources (the group's lag). The sources are
	 * read afresh: a standby's list is the one it saw last, perhaps before a source's migrations ran.
	 */
	async lag(): Promise<number> {
		const s = this.opts.schema;
		let total = 0;
		for (const source of await this.wantedSources()) {
			const [cur] = await this.opts.db.query<Position>(
				`SELECT txid::text AS txid, seq::text AS seq FROM "${s}".stream_cursors WHERE "group" = :group AND source_schema = :source`,
				{
					type: QueryTypes.SELECT,
					replacements: { group: this.group, source },
				},
			);
			const [row] = await this.opts.db.query<{ n: number }>(
				`SELECT count(*)::int AS n FROM "${source}".outbox WHERE type IN (:types) AND (txid, seq) > (CAST(:txid AS xid8), CAST(:seq AS bigint))`,
				{ type: QueryTypes.SELECT, replacements: { types: this.types, txid: cur?.txid ?? "0", seq: cur?.seq ?? "0" } },
			);
			total += row.n;
		}
		return total;
	}
}

function after(a: Position, b: Position): boolean {
	const ta = BigInt(a.txid);
	const tb = BigInt(b.txid);
	return ta > tb || (ta === tb && BigInt(a.seq) > BigInt(b.seq));
}
