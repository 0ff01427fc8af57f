/**
 * The bulkhead bounds actions (a full queue is an honest 503) but never drops an
 * event: middlewares/events-unbounded.middleware.ts takes event handlers out of it.
 */
import { ServiceBroker, type Middleware } from "moleculer";
import { EventsUnboundedMiddleware } from "../../middlewares/events-unbounded.middleware";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function run(middlewares: Middleware[]) {
	const broker = new ServiceBroker({ logger: false, bulkhead: { enabled: true, concurrency: 1, maxQueueSize: 1 }, middlewares });
	let handled = 0;
	broker.createService({
		name: "slow",
		actions: { work: async () => sleep(20) },
		events: {
			"slow.happened": async () => {
				await sleep(20);
				handled++;
			},
		},
	});
	await broker.start();
	const errors: string[] = [];
	const actions = await Promise.allSettled(Array.from({ length: 5 }, () => broker.call("slow.work")));
	await Promise.all(Array.from({ length: 10 }, () => (broker.emit("slow.happened", {}) as unknown as Promise<void>).catch((err: Error) => void errors.push(err.name))));
	for (let i = 0; i < 100 && handled + errors.length < 10; i++) await sleep(20);
	await broker.stop();
	return { handled, eventErrors: errors, actionRejections: actions.filter((a) => a.status === "rejected").map((a) => ((a as PromiseRejectedResult).reason as Error).name) };
}

describe("events are never behind the bulkhead", () => {
	it("with the middleware every event is handled, while actions still meet a full queue", async () => {
		const r = await run([EventsUnboundedMiddleware]);
		expect(r.handled).toBe(10);
		expect(r.eventErrors).toEqual([]);
		expect(r.actionRejections.length).toBeGreaterThan(0);
		expect(new Set(r.actionRejections)).toEqual(new Set(["QueueIsFullError"]));
	});

	it("without it the bulkhead would drop events (what the middleware prevents)", async () => {
		const r = await run([]);
		expect(r.handled).toBeLessThan(10);
	});
});
