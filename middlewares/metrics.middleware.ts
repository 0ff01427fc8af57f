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
import { Middlewares, type ActionHandler, type ActionSchema, type Context, type Middleware, type ServiceBroker } from "moleculer";

// Moleculer's names (its METRIC constants are untyped in 0.14).
const TOTAL = "moleculer.request.total";
const ERRORS = "moleculer.request.error.total";
const TIME = "moleculer.request.time";
const ACTIVE = "moleculer.request.active";
const LEVELS = "moleculer.request.levels";

type Labels = { service: string | null; action: string; caller: string | null; type: "local" | "remote" };

function leanHandler(broker: ServiceBroker, type: Labels["type"], next: ActionHandler, action: ActionSchema): ActionHandler {
	if (!broker.isMetricsEnabled()) return next;
	const metrics = broker.metrics;
	const service = (action.service as { fullName?: string } | undefined)?.fullName ?? null;
	const name = String(action.name);
	const byCaller = new Map<string | null, Labels>();
	return function leanMetrics(ctx: Context) {
		const caller = ctx.caller ?? null;
		let labels = byCaller.get(caller);
		if (!labels) {
			labels = { service, action: name, caller, type };
			byCaller.set(caller, labels);
		}
		metrics.increment(TOTAL, labels);
		const start = performance.now();
		return (next(ctx) as Promise<unknown>).then(
			(res) => {
				metrics.observe(TIME, performance.now() - start, labels);
				return res;
			},
			(err: { name?: string; code?: unknown; type?: string } | undefined) => {
				metrics.observe(TIME, performance.now() - start, labels);
				metrics.increment(ERRORS, { ...labels, errorName: err?.name ?? null, errorCode: err?.code ?? null, errorType: err?.type ?? null });
				throw err;
			},
		);
	} as ActionHandler;
}

/** A middleware factory (Moleculer calls it with the broker); used in place of the built-in "Metrics". */
export function LeanMetricsMiddleware(broker: ServiceBroker): Middleware {
	const builtIn = (Middlewares as unknown as { Metrics: (b: ServiceBroker) => Middleware & { created?(b: ServiceBroker): void } }).Metrics.call(broker, broker);
	return {
		...builtIn,
		created(b: ServiceBroker) {
			builtIn.created?.(b);
			if (!b.isMetricsEnabled()) return;
			const store = (b.metrics as unknown as { store: Map<string, unknown> }).store;
			for (const unkept of [ACTIVE, LEVELS]) store.delete(unkept);
			// The same names and labels, without per-update rate estimation and sliding-window quantiles.
			b.metrics.register({ name: TOTAL, type: "counter", labelNames: ["service", "action", "type", "caller"], unit: "request", description: "Number of requests" });
			b.metrics.register({ name: TIME, type: "histogram", labelNames: ["service", "action", "type", "caller"], buckets: true, quantiles: false, unit: "millisecond", description: "Request times in milliseconds" });
		},
		localAction(next: ActionHandler, action: ActionSchema) {
			return leanHandler(broker, "local", next, action);
		},
		remoteAction(next: ActionHandler, action: ActionSchema) {
			return leanHandler(broker, "remote", next, action);
		},
	};
}
