/**
 * Per-response HTTP figures of this gateway node (lib/business-metrics.ts): responses by method and
 * status class, and request duration (p99 in PromQL from the histogram buckets). Bounded labels:
 * the method (GET, POST, PUT, PATCH, DELETE, OTHER) and the class (1xx … 5xx), never a path or user.
 * Each label set's series is looked up once (MetricSeries: no label hashing per response).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Service, ServiceBroker } from "moleculer";
import { BUSINESS_METRICS as M, registerBusinessMetrics } from "../../lib/business-metrics";
import { MetricSeries } from "../../middlewares/metrics.middleware";

const METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE"]);

export function httpMetrics() {
	let registry: ServiceBroker | undefined;
	const series = new Map<string, MetricSeries | null>();
	const seriesOf = (broker: ServiceBroker, name: string, labels: Record<string, string>): MetricSeries | null => {
		const key = `${name} ${labels.method} ${labels.code ?? ""}`;
		let found = series.get(key);
		if (found === undefined) series.set(key, (found = MetricSeries.of(broker, name, labels)));
		return found;
	};
	return (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => {
		// moleculer-web puts the gateway service on the request before running `use` middlewares.
		const broker = (req as IncomingMessage & { $service?: Service }).$service?.broker;
		if (broker?.isMetricsEnabled()) {
			if (registry !== broker) {
				registerBusinessMetrics(broker);
				registry = broker;
				series.clear();
			}
			const start = performance.now();
			const method = METHODS.has(req.method ?? "") ? String(req.method) : "OTHER";
			res.once("finish", () => {
				seriesOf(broker, M.httpResponses, { method, code: `${Math.floor(res.statusCode / 100)}xx` })?.increment();
				seriesOf(broker, M.httpDuration, { method })?.observe((performance.now() - start) / 1000);
			});
		}
		next();
	};
}
