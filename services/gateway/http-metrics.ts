/**
 * Per-response HTTP figures of this gateway node (lib/business-metrics.ts): responses by method and
 * status class, and request duration (p99 in PromQL from the histogram buckets). Bounded labels:
 * the method (GET, POST, PUT, PATCH, DELETE, OTHER) and the class (1xx … 5xx), never a path or user.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Service } from "moleculer";
import { BUSINESS_METRICS as M, registerBusinessMetrics } from "../../lib/business-metrics";

const METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE"]);

export function httpMetrics() {
	return (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => {
		// moleculer-web puts the gateway service on the request before running `use` middlewares.
		const broker = (req as IncomingMessage & { $service?: Service }).$service?.broker;
		if (broker?.isMetricsEnabled()) {
			registerBusinessMetrics(broker);
			const start = performance.now();
			const method = METHODS.has(req.method ?? "") ? String(req.method) : "OTHER";
			res.once("finish", () => {
				broker.metrics.increment(M.httpResponses, { method, code: `${Math.floor(res.statusCode / 100)}xx` });
				broker.metrics.observe(M.httpDuration, (performance.now() - start) / 1000, { method });
			});
		}
		next();
	};
}
