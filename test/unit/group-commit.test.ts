/**
 * lib/group-commit.ts: an idle call goes alone at once; calls that arrive meanwhile go together, in
 * order, each with its own answer; a batch the server refused as a whole (an ERROR) runs again call
 * by call; any other failure (connection lost, FATAL: outcome unknown) is every call's error.
 */
import { DatabaseError } from "pg";
import { GroupCommit, groupCommitPer, type Outcome } from "../../lib/group-commit";

/** A promise settled from outside: the "round trip" each test controls. */
function deferred<T>() {
	let resolve!: (v: T) => void;
	let reject!: (e: unknown) => void;
	const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
	return { promise, resolve, reject };
}

function serverError(severity: string): DatabaseError {
	const err = new DatabaseError("boom", 0, "error");
	err.severity = severity;
	err.code = "40P01";
	return err;
}

/** A GroupCommit over numbers whose round trips stay open until the test settles them. */
function harness(max = 10) {
	const alone: { args: number; trip: ReturnType<typeof deferred<string>> }[] = [];
	const together: { batch: number[]; trip: ReturnType<typeof deferred<Outcome<string>[]>> }[] = [];
	const gc = new GroupCommit<number, string>({
		max,
		one(args) {
			const trip = deferred<string>();
			alone.push({ args, trip });
			return trip.promise;
		},
		many(batch) {
			const trip = deferred<Outcome<string>[]>();
			together.push({ batch, trip });
			return trip.promise;
		},
	});
	return { gc, alone, together };
}

const tick = () => new Promise((r) => setImmediate(r));

/** Call 1 goes alone and is answered; `waiting` arrived meanwhile and are now in flight as one batch. Their answers. */
async function batchInFlight(h: ReturnType<typeof harness>, waiting: number[]): Promise<Promise<string>[]> {
	const first = h.gc.run(1);
	const rest = waiting.map((n) => h.gc.run(n));
	h.alone[0].trip.resolve("a1");
	await first;
	await tick();
	expect(h.together.map((t) => t.batch)).toEqual([waiting]);
	return rest;
}

describe("GroupCommit", () => {
	it("sends an idle call alone at once", async () => {
		const { gc, alone, together } = harness();
		const answer = gc.run(1);
		expect(alone.map((a) => a.args)).toEqual([1]);
		alone[0].trip.resolve("one");
		await expect(answer).resolves.toBe("one");
		expect(together).toHaveLength(0);
	});

	it("sends the calls that waited together, in order, each with its own outcome", async () => {
		const { gc, alone, together } = harness();
		const first = gc.run(1);
		const rest = [2, 3, 4].map((n) => gc.run(n));
		const settled = Promise.allSettled(rest);
		expect(together).toHaveLength(0);
		alone[0].trip.resolve("a1");
		await first;
		await tick();
		expect(together.map((t) => t.batch)).toEqual([[2, 3, 4]]);
		together[0].trip.resolve([{ ok: "t2" }, { error: new Error("refused 3") }, { ok: "t4" }]);
		expect(await settled).toEqual([
			{ status: "fulfilled", value: "t2" },
			{ status: "rejected", reason: new Error("refused 3") },
			{ status: "fulfilled", value: "t4" },
		]);
		expect(alone).toHaveLength(1);
	});

	it("cuts batches at max", async () => {
		const { gc, alone, together } = harness(2);
		const all = [1, 2, 3, 4, 5].map((n) => gc.run(n));
		alone[0].trip.resolve("a1");
		await tick();
		expect(together.map((t) => t.batch)).toEqual([[2, 3]]);
		together[0].trip.resolve([{ ok: "t2" }, { ok: "t3" }]);
		await tick();
		expect(together.map((t) => t.batch)).toEqual([
			[2, 3],
			[4, 5],
		]);
		together[1].trip.resolve([{ ok: "t4" }, { ok: "t5" }]);
		await expect(Promise.all(all)).resolves.toEqual(["a1", "t2", "t3", "t4", "t5"]);
	});

	it("runs each call of a batch alone, in order, when the server refused the batch with an ERROR", async () => {
		const h = harness();
		const { alone, together } = h;
		const rest = await batchInFlight(h, [2, 3]);
		together[0].trip.reject(serverError("ERROR"));
		await tick();
		expect(alone.map((a) => a.args)).toEqual([1, 2]);
		alone[1].trip.resolve("a2");
		await tick();
		expect(alone.map((a) => a.args)).toEqual([1, 2, 3]);
		alone[2].trip.reject(new Error("refused 3 alone"));
		expect(await Promise.allSettled(rest)).toEqual([
			{ status: "fulfilled", value: "a2" },
			{ status: "rejected", reason: new Error("refused 3 alone") },
		]);
	});

	it.each([
		["a FATAL error", serverError("FATAL")],
		["a lost connection", new Error("Connection terminated unexpectedly")],
	])("gives %s to every call of the batch, without running them again", async (_what, failure) => {
		const h = harness();
		const { gc, alone, together } = h;
		const rest = await batchInFlight(h, [2, 3]);
		together[0].trip.reject(failure);
		expect(await Promise.allSettled(rest)).toEqual([
			{ status: "rejected", reason: failure },
			{ status: "rejected", reason: failure },
		]);
		expect(alone).toHaveLength(1);
		// And the next call finds nothing in flight: alone again.
		void gc.run(4);
		expect(alone.map((a) => a.args)).toEqual([1, 4]);
	});

	it("gives every call of the batch an error when the statement answered for another number of calls", async () => {
		const h = harness();
		const rest = await batchInFlight(h, [2, 3]);
		h.together[0].trip.resolve([{ ok: "t2" }]);
		const settled = await Promise.allSettled(rest);
		expect(settled.map((r) => r.status)).toEqual(["rejected", "rejected"]);
		expect((settled[0] as PromiseRejectedResult).reason.message).toBe("A batch of 2 calls answered 1 outcomes");
	});

	it("keeps one instance per key", () => {
		const per = groupCommitPer(
			(_key: object) => new GroupCommit<number, number>({ max: 1, one: async (n) => n, many: async () => [] }),
		);
		const a = {};
		const b = {};
		expect(per(a)).toBe(per(a));
		expect(per(a)).not.toBe(per(b));
	});
});
