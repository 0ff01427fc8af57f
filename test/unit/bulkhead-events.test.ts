/**
 * The bulkhead bounds remote calls (a full queue is an honest 503) but never drops
 * an event: with the project's broker options (moleculer.config.ts) event handlers
 * and local calls are outside it, while Moleculer's own global bulkhead, the
 * default we replaced, rejects part of a burst of deliveries (QueueIsFullError).
 */
import { ServiceBroker, type BrokerOptions } from "moleculer";
import { brokerConfig } from "../../moleculer.config";
import { loadConfig } from "../../lib/config";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BURST = 800; // above the bulkhead's 50 running + 500 queued

async function burst(options: BrokerOptions) {
	const broker = new ServiceBroker({ ...options, logger: false, metrics: false, transporter: null });
	let handled = 0;
	broker.createService({
		name: "slow",
		events: {
			"slow.happened": async () => {
				await sleep(5);
				handled++;
			},
		},
	});
	await broker.start();
	const errors: string[] = [];
	await Promise.all(
		Array.from({ length: BURST }, () =>
			(broker.emit("slow.happened", {}) as unknown as Promise<void>).catch((err: Error) => void errors.push(err.name)),
		),
	);
	// Wait until every delivery is handled or handling has stopped (dropped ones never come).
	for (let last = -1; handled < BURST && handled !== last; ) {
		last = handled;
		await sleep(300);
	}
	await broker.stop();
	return { handled, errors };
}

describe("events are never behind the bulkhead", () => {
	it("with the project's broker options every event of a burst is handled", async () => {
		const r = await burst(brokerConfig(loadConfig({ NODE_ENV: "test" })));
		expect(r.errors).toEqual([]);
		expect(r.handled).toBe(BURST);
	});

	it("with Moleculer's global bulkhead the same burst loses events (what the options prevent)", async () => {
		const r = await burst({ bulkhead: { enabled: true, concurrency: 50, maxQueueSize: 500 } });
		expect(r.handled).toBeLessThan(BURST);
	});
});
