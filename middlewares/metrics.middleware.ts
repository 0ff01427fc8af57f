/**
 * Moleculer's metrics, with cheap per-call work and bounded labels.
 *
 * Moleculer's own Metrics middleware does, per action call: four metric updates
 * (total, active +1/-1, per-level count) and a histogram observation with
 * sliding-window quantiles, each hashing a freshly built label object, plus a
 * rate estimator per update. Here, per call: one counter increment and one
 * histogram observation with buckets only (Prometheus computes quantiles from
 * buckets), on label objects built once per action and caller; an error adds
 * one counter increment. Labels stay bounded: service, action, caller (a service
 * name), type (local/remote), and on errors the error's name/code/type.
 * Everything else (event, transit and transporter metrics, their registration)
 * is Moleculer's middleware unchanged. `moleculer.request.active` and
 * `moleculer.request.levels` are not kept: updating them costs two more writes per
 * call, and a gauge left registered but never updated would read 0 and lie. In-flight
 * work is rate(total) × mean latency (Little's law) from the two series kept.
 */
import { GATEWAY_SERVICE } from "../lib/actions";
import { Middlewares, type ActionHandler, type ActionSchema, type Context, type Middleware, type ServiceBroker } from "moleculer";

// Moleculer's names (its METRIC constants are untyped in 0.14).
const TOTAL = "moleculer.request.total";
const ERRORS = "moleculer.request.error.total";
const TIME = "moleculer.request.time";
const ACTIVE = "moleculer.request.active";
const LEVELS = "moleculer.request.levels";

type Labels = { service: string | null; action: string; caller: string | null; type: "local" | "remote" };

/** The slice of Moleculer's metric objects (0.14, untyped) the fast path below uses. */
interface MetricItem {
	value: number;
	sum: number;
	count: number;
	lastValue: number;
	timestamp: number;
	bucketValues?: Record<number, number>;
	rate?: { update(value: number): void };
	quantileValues?: { add(value: number): void };
}
interface MetricObject {
	values: Map<string, MetricItem>;
	buckets?: number[];
	hashingLabels(labels: object): string;
	increment(labels: object, value?: number): unknown;
	observe(value: number, labels: object): unknown;
	changed(value: number, labels: object): void;
}

/** Where a series' cumulative bucket counts live, on the `bucketValues` object of its item (see bucketCounts). */
const COUNTS = Symbol("bucket counts");
type BucketValues = Record<string, number> & { [COUNTS]?: Float64Array };

/**
 * The cumulative bucket counts of a histogram item as a Float64Array, installed behind its `bucketValues`.
 * Moleculer keeps them in a plain object keyed by bound ("1", "5" … "10000"); such sparse integer keys make V8
 * store them in a dictionary, and the 12 keyed increments of one observation cost ~1 µs (profile of the gateway,
 * twice per request). The object is replaced by one with a getter and setter per bound over the array: Moleculer's
 * snapshot (the Prometheus reporter, the REPL) and its own `observe` read and write it as before, and an
 * observation here adds to the array. Installed again if Moleculer resets the item (a new plain object).
 */
function bucketCounts(item: MetricItem, buckets: readonly number[]): Float64Array | undefined {
	const values = item.bucketValues as BucketValues | undefined;
	if (!values) return undefined;
	const installed = values[COUNTS];
	if (installed) return installed;
	const counts = new Float64Array(buckets.length);
	const view: BucketValues = {};
	buckets.forEach((bound, i) => {
		counts[i] = values[bound] ?? 0;
		Object.defineProperty(view, bound, {
			enumerable: true,
			get: () => counts[i],
			set: (n: number) => void (counts[i] = n),
		});
	});
	view[COUNTS] = counts;
	item.bucketValues = view;
	return counts;
}

/**
 * One label set of one counter or histogram, updated as Moleculer's own `increment`/`observe`
 * would (value, timestamp, rate, buckets, the registry's change notice), but with the label hash
 * computed once: Moleculer rebuilds it from the label object on every update (twice for a
 * counter), a string join per update that the gateway paid several times per request. The first
 * update, and any after the registry dropped the item, goes through Moleculer itself.
 */
export class MetricSeries {
	private readonly hash: string;
	constructor(
		private readonly metric: MetricObject,
		private readonly labels: object,
	) {
		this.hash = metric.hashingLabels(labels);
	}

	/** The series of `name` with `labels` in `broker`'s registry, or null when metrics are off. */
	static of(broker: ServiceBroker, name: string, labels: object): MetricSeries | null {
		const metric = broker.isMetricsEnabled() ? (broker.metrics.getMetric(name) as unknown as MetricObject | null) : null;
		return metric ? new MetricSeries(metric, labels) : null;
	}

	increment(): void {
		const item = this.metric.values.get(this.hash);
		if (!item) return void this.metric.increment(this.labels, 1);
		item.value += 1;
		item.timestamp = Date.now();
		item.rate?.update(item.value);
		this.metric.changed(item.value, this.labels);
	}

	observe(value: number): void {
		const item = this.metric.values.get(this.hash);
		if (!item) return void this.metric.observe(value, this.labels);
		item.timestamp = Date.now();
		item.sum += value;
		item.count++;
		item.lastValue = value;
		const buckets = this.metric.buckets;
		const counts = buckets && bucketCounts(item, buckets);
		if (counts && buckets) for (let i = 0; i < buckets.length; i++) if (value <= buckets[i]) counts[i] += 1;
		item.quantileValues?.add(value);
		item.rate?.update(item.count);
		this.metric.changed(value, this.labels);
	}
}

/** Moleculer-web's request action: each HTTP request passes through it once, and the gateway's HTTP metrics count those (services/gateway/http-metrics.ts). */
const GATEWAY_REST = `${GATEWAY_SERVICE}.rest`;

function leanHandler(broker: ServiceBroker, type: Labels["type"], next: ActionHandler, action: ActionSchema): ActionHandler {
	if (!broker.isMetricsEnabled()) return next;
	const name = String(action.name);
	// Its calls are the HTTP requests, already counted and timed per method and status class; the actions it calls are metered below.
	if (name === GATEWAY_REST) return next;
	const metrics = broker.metrics;
	const service = (action.service as { fullName?: string } | undefined)?.fullName ?? null;
	const byCaller = new Map<string | null, { labels: Labels; total: MetricSeries | null; time: MetricSeries | null }>();
	return function leanMetrics(ctx: Context) {
		const caller = ctx.caller ?? null;
		let series = byCaller.get(caller);
		if (!series) {
			const labels: Labels = { service, action: name, caller, type };
			series = { labels, total: MetricSeries.of(broker, TOTAL, labels), time: MetricSeries.of(broker, TIME, labels) };
			byCaller.set(caller, series);
		}
		const { labels, total, time } = series;
		total?.increment();
		const start = performance.now();
		return (next(ctx) as Promise<unknown>).then(
			(res) => {
				time?.observe(performance.now() - start);
				return res;
			},
			(err: { name?: string; code?: unknown; type?: string } | undefined) => {
				time?.observe(performance.now() - start);
				metrics.increment(ERRORS, {
					...labels,
					errorName: err?.name ?? null,
					errorCode: err?.code ?? null,
					errorType: err?.type ?? null,
				});
				throw err;
			},
		);
	} as ActionHandler;
}

/** A middleware factory (Moleculer calls it with the broker); used in place of the built-in "Metrics". */
export function LeanMetricsMiddleware(broker: ServiceBroker): Middleware {
	const builtIn = (
		Middlewares as unknown as { Metrics: (b: ServiceBroker) => Middleware & { created?(b: ServiceBroker): void } }
	).Metrics.call(broker, broker);
	return {
		...builtIn,
		created(b: ServiceBroker) {
			builtIn.created?.(b);
			if (!b.isMetricsEnabled()) return;
			const store = (b.metrics as unknown as { store: Map<string, unknown> }).store;
			for (const unkept of [ACTIVE, LEVELS]) store.delete(unkept);
			// The same names and labels, without per-update rate estimation and sliding-window quantiles.
			b.metrics.register({
				name: TOTAL,
				type: "counter",
				labelNames: ["service", "action", "type", "caller"],
				unit: "request",
				description: "Number of requests",
			});
			b.metrics.register({
				name: TIME,
				type: "histogram",
				labelNames: ["service", "action", "type", "caller"],
				buckets: true,
				quantiles: false,
				unit: "millisecond",
				description: "Request times in milliseconds",
			});
		},
		localAction(next: ActionHandler, action: ActionSchema) {
			return leanHandler(broker, "local", next, action);
		},
		remoteAction(next: ActionHandler, action: ActionSchema) {
			return leanHandler(broker, "remote", next, action);
		},
	};
}
