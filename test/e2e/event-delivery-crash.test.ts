/**
 * A poison event that kills its consumer's process (lib/event-stream.ts, durable attempts):
 * a real node process (test/helpers/poison-consumer.ts) runs a consumer group whose handler
 * exits the process when it meets one event. Restarted each time it dies, as a supervisor
 * would, the group must count each fatal try in `stream_attempts`, dead-letter the event
 * after STREAM_MAX_ATTEMPTS of them without running its handler again, and deliver the events
 * behind it exactly once. Each restart is a new leader, so the count surviving restarts is
 * also the count surviving a leader change. The restarts are bounded: a regression fails
 * instead of looping.
 * Needs `dist/` (npm test builds first; locally run `npx tsc -p .`).
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { Client } from "pg";
import { envelope, type EventEnvelope } from "../../lib/events";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { closeDelivery, deliverDurably, untilReadable } from "../helpers/events";
import { eventually } from "../helpers/eventually";

jest.setTimeout(180_000);

const CONSUMER_JS = path.resolve(__dirname, "..", "..", "dist", "test", "helpers", "poison-consumer.js");
const MAX_ATTEMPTS = 3;
const MAX_RUNS = MAX_ATTEMPTS + 2;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sale(totalAmount: number): EventEnvelope<"SALE_COMPLETED"> {
	return envelope("SALE_COMPLETED", {
		transactionId: randomUUID(),
		shopId: randomUUID(),
		clerkId: randomUUID(),
		patronId: null,
		items: [{ flavorId: randomUUID(), quantity: 1, unitPrice: totalAmount, lineTotal: totalAmount }],
		totalAmount,
		paymentMethod: "CASH",
		createdAt: new Date().toISOString(),
	});
}

describe("a poison event that kills its consumer's process", () => {
	let db: TestDatabase;
	let pg: Client;
	let output: string[] = [];
	let stopCurrent: (() => Promise<void>) | undefined;
	let poison: EventEnvelope<"SALE_COMPLETED">;

	beforeAll(async () => {
		if (!fs.existsSync(CONSUMER_JS)) throw new Error(`${CONSUMER_JS} is missing: build first (npx tsc -p .; npm test does)`);
		db = await createTestDatabase();
		pg = new Client({ connectionString: db.url });
		await pg.connect();
		// Not unique on purpose: a second delivery of an event would show as a second row.
		await pg.query("CREATE TABLE public.test_deliveries (event_id UUID NOT NULL, delivered_at TIMESTAMPTZ NOT NULL DEFAULT now())");
	});
	afterAll(async () => {
		await stopCurrent?.();
		await closeDelivery();
		await pg?.end();
		await db?.drop();
	});

	/** One run of the consumer process (a supervisor's restart); `stopCurrent` stops it. */
	function startConsumer(poisonId: string) {
		output = [];
		const child = spawn(process.execPath, [CONSUMER_JS], {
			env: {
				...process.env,
				NODE_ENV: "test",
				DATABASE_URL: db.url,
				POISON_EVENT_ID: poisonId,
				STREAM_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
				LOG_LEVEL: "warn",
				TRANSPORTER: "",
				CACHER: "",
				REDIS_URL: "",
			},
			stdio: ["ignore", "pipe", "pipe"],
		});
		const keep = (chunk: Buffer) => output.push(...chunk.toString().split("\n").filter(Boolean));
		child.stdout!.on("data", keep);
		child.stderr!.on("data", keep);
		const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
		stopCurrent = async () => {
			if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
			const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
			await exited;
			clearTimeout(timer);
		};
		return { child, exited };
	}

	/** Waits until the running consumer has delivered a new event (its reader is past whatever came before). */
	async function deliveredThrough(what: string): Promise<void> {
		const barrier = sale(Math.floor(Math.random() * 1000) + 100);
		await deliverDurably(db.url, barrier);
		await eventually(
			async () => (await pg.query("SELECT 1 FROM public.test_deliveries WHERE event_id = $1", [barrier.id])).rowCount,
			what,
		);
	}

	it(`is dead-lettered after ${MAX_ATTEMPTS} crashes, and the events behind it are delivered exactly once`, async () => {
		const before = [sale(1), sale(2), sale(3)];
		poison = sale(4242);
		const behind = [sale(5), sale(6), sale(7), sale(8), sale(9)];
		// One transaction each, all readable before the first consumer starts: the batch it dies in holds them all.
		for (const e of [...before, poison, ...behind]) await deliverDurably(db.url, e);
		await untilReadable(db.url, behind[behind.length - 1]);

		const deadLettered = async () =>
			(
				await pg
					.query<{
						attempts: number;
						last_error: string | null;
					}>(`SELECT attempts, last_error FROM analytics.dead_letters WHERE "group" = 'test.poison' AND event_id = $1`, [
						poison.id,
					])
					.catch(() => ({ rows: [] }))
			).rows[0];
		const deliveredAll = async () =>
			Number(
				(
					await pg.query<{ n: string }>(
						"SELECT count(DISTINCT event_id) AS n FROM public.test_deliveries WHERE event_id = ANY($1)",
						[behind.map((e) => e.id)],
					)
				).rows[0].n,
			) === behind.length;

		let crashes = 0;
		let done = false;
		for (let run = 1; run <= MAX_RUNS && !done; run++) {
			const { child, exited } = startConsumer(poison.id);
			// This run ends when the process dies, or when the poison is parked and everything behind it delivered.
			const deadline = Date.now() + 60_000;
			while (child.exitCode === null && child.signalCode === null && Date.now() < deadline) {
				if ((await deadLettered()) && (await deliveredAll())) {
					done = true;
					break;
				}
				await sleep(200);
			}
			if (done) break;
			if (child.exitCode === null && child.signalCode === null)
				throw new Error(`run ${run}: the consumer neither died nor got past the poison event in 60 s:\n${output.join("\n")}`);
			const code = await exited;
			// It died of the poison event, nothing else.
			if (code !== 1 || !output.some((line) => line.includes("the poison event is in a batch")))
				throw new Error(`run ${run}: the consumer exited with ${code}, not killed by the poison event:\n${output.join("\n")}`);
			crashes++;
		}

		if (!done)
			throw new Error(
				`after ${MAX_RUNS} runs (${crashes} crashes) the poison event is still not dead-lettered: the group is stuck in a crash loop\n${output.join("\n")}`,
			);
		// Exactly STREAM_MAX_ATTEMPTS fatal tries; the run after them parked the event without running its handler.
		expect(crashes).toBe(MAX_ATTEMPTS);
		const parked = await deadLettered();
		expect(parked?.attempts).toBe(MAX_ATTEMPTS);
		expect(parked?.last_error).toMatch(/did not return/);
		// The last run stays up: once a later event is through, every event but the poison one was delivered exactly once.
		const barrier = sale(10);
		await deliverDurably(db.url, barrier);
		await eventually(
			async () => (await pg.query("SELECT 1 FROM public.test_deliveries WHERE event_id = $1", [barrier.id])).rowCount,
			"an event written after the dead-lettering",
		);
		const counts = await pg.query<{ event_id: string; n: string }>(
			"SELECT event_id, count(*) AS n FROM public.test_deliveries GROUP BY event_id",
		);
		const delivered = Object.fromEntries(counts.rows.map((r) => [r.event_id, Number(r.n)]));
		expect(delivered).toEqual(Object.fromEntries([...before, ...behind, barrier].map((e) => [e.id, 1])));
		// Nothing left to count: the parked event's attempts row went with its dead-lettering, the others' with their delivery.
		expect((await pg.query('SELECT "group", event_id, attempts FROM analytics.stream_attempts')).rows).toEqual([]);
		const cursor = await pg.query<{ seq: string }>(
			`SELECT seq::text FROM analytics.stream_cursors WHERE "group" = 'test.poison' AND source_schema = 'kafka_bridge'`,
		);
		const last = await pg.query<{ seq: string }>("SELECT seq::text FROM kafka_bridge.outbox WHERE id = $1", [barrier.id]);
		expect(cursor.rows[0]?.seq).toBe(last.rows[0].seq);
	});

	it("a replay that kills the process is taken once: the next run stays up and the dead letter says what happened", async () => {
		// The handler still dies on it: an operator asks for a replay too early.
		await pg.query(`UPDATE analytics.dead_letters SET replay_requested_at = now() WHERE "group" = 'test.poison' AND event_id = $1`, [
			poison.id,
		]);
		await pg.query("SELECT pg_notify('eislager_outbox', 'dead_letters')");
		// The consumer left running by the test above replays it and dies.
		const death = await eventually(
			async () => output.some((line) => line.includes("the poison event is in a batch of 1")),
			"the replay's crash",
			30_000,
		);
		expect(death).toBe(true);
		await stopCurrent?.();
		// Restarted, it stays up (it does not replay again) and delivers what comes next.
		const restarted = startConsumer(poison.id);
		await deliveredThrough("an event after the restart");
		expect(restarted.child.exitCode).toBeNull();
		const row = await pg.query<{ attempts: number; last_error: string; replay_requested_at: Date | null; replayed_at: Date | null }>(
			`SELECT attempts, last_error, replay_requested_at, replayed_at FROM analytics.dead_letters WHERE "group" = 'test.poison' AND event_id = $1`,
			[poison.id],
		);
		expect(row.rows[0]).toMatchObject({ attempts: MAX_ATTEMPTS + 1, replay_requested_at: null, replayed_at: null });
		expect(row.rows[0].last_error).toMatch(/^replay did not return .*; before: its last try did not return/);
	});
});
