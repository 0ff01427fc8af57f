/**
 * MetricSeries (middlewares/metrics.middleware.ts) updates a counter and a histogram the way
 * Moleculer's own `increment`/`observe` do, without hashing the labels per update: the same
 * updates through both leave the same Prometheus text, also mixed on one series and after the registry
 * dropped its items.
 */
import { ServiceBroker } from "moleculer";
import { metricsOptions, prometheusText } from "../../lib/metrics";
import { MetricSeries } from "../../middlewares/metrics.middleware";

function registry(): ServiceBroker {
	// One nodeID for both, so their default labels match.
	const broker = new ServiceBroker({ nodeID: "metric-series", logger: false, metrics: metricsOptions() });
	broker.metrics.register({ name: "t.total", type: "counter", labelNames: ["a", "b"] });
	broker.metrics.register({ name: "t.time", type: "histogram", labelNames: ["a", "b"], buckets: [0.25, 1, 5, 10], quantiles: false });
	return broker;
}

/** The two test metrics' lines of the Prometheus text. */
const lines = (broker: ServiceBroker) =>
	prometheusText(broker)
		.split("\n")
		.filter((l) => l.startsWith("t_"))
		.join("\n");

describe("MetricSeries", () => {
	it("leaves the same counter and histogram as Moleculer's increment and observe", async () => {
		const [ours, theirs] = [registry(), registry()];
		await Promise.all([ours.start(), theirs.start()]);
		try {
			const labels = { a: "x", b: "y" };
			const total = MetricSeries.of(ours, "t.total", labels)!;
			const time = MetricSeries.of(ours, "t.time", labels)!;
			const values = [0.5, 3, 7, 12, 5, 0.1];
			for (const v of values) {
				total.increment();
				time.observe(v);
				theirs.metrics.increment("t.total", labels);
				theirs.metrics.observe("t.time", v, labels);
			}
			expect(lines(ours)).toMatch(/^t_total\{.*a="x",b="y"\} 6$/m);
			expect(lines(ours)).toMatch(/^t_time_bucket\{.*a="x",b="y",le="5"\} 4$/m);
			expect(lines(ours)).toBe(lines(theirs));

			// Moleculer's own observe on the same series, after ours took its bucket counts over, still counts.
			for (const b of [ours, theirs]) b.metrics.observe("t.time", 0.2, labels);
			time.observe(1);
			theirs.metrics.observe("t.time", 1, labels);
			expect(lines(ours)).toMatch(/^t_time_bucket\{.*a="x",b="y",le="0.25"\} 2$/m);
			expect(lines(ours)).toMatch(/^t_time_bucket\{.*a="x",b="y",le="1"\} 4$/m);
			expect(lines(ours)).toBe(lines(theirs));

			// The registry drops its items (a reset): the next updates start over, as Moleculer's would.
			for (const b of [ours, theirs])
				for (const name of ["t.total", "t.time"]) (b.metrics.getMetric(name) as unknown as { clear(): void }).clear();
			total.increment();
			time.observe(2);
			theirs.metrics.increment("t.total", labels);
			theirs.metrics.observe("t.time", 2, labels);
			expect(lines(ours)).toMatch(/^t_total\{.*a="x",b="y"\} 1$/m);
			expect(lines(ours)).toBe(lines(theirs));
		} finally {
			await Promise.all([ours.stop(), theirs.stop()]);
		}
	});

	it("is null where metrics are off", () => {
		const broker = new ServiceBroker({ logger: false, metrics: { enabled: false } });
		expect(MetricSeries.of(broker, "t.total", {})).toBeNull();
	});
});
