/**
 * Broker options from the environment, set on purpose:
 * - one process (no TRANSPORTER) or a cluster over NATS, JSON serializer;
 * - in-memory cacher unless CACHER=redis://...;
 * - a request timeout, retries only where an action is marked idempotent,
 *   a circuit breaker and a bulkhead so one slow service can't sink the rest;
 * - graceful shutdown that waits for in-flight requests.
 */
import os from "node:os";
import type { BrokerOptions, Errors } from "moleculer";
import type { Config } from "./lib/config";
import { AuthorizationMiddleware } from "./middlewares/authorization.middleware";

export function brokerConfig(cfg: Config, overrides: Partial<BrokerOptions> = {}): BrokerOptions {
	return {
		namespace: "eislager",
		nodeID: cfg.nodeId ?? `${os.hostname()}-${(cfg.services ?? ["all"]).join("+")}-${process.pid}`,
		transporter: cfg.transporter ?? null,
		serializer: "JSON",
		cacher: cfg.cacher?.startsWith("redis") ? { type: "Redis", options: { redis: cfg.cacher, prefix: "eislager-cache", ttl: 300 } } : { type: "Memory", options: { ttl: 60, maxParamsLength: 120 } },
		logger: { type: "Console", options: { level: cfg.logLevel, formatter: "short", colors: process.stdout.isTTY, moduleColors: false } },
		logLevel: cfg.logLevel,
		requestTimeout: cfg.requestTimeoutMs,
		// Off by default: a write must never run twice. Reads opt in with `retryPolicy: RETRY_READS` (lib/actions.ts).
		retryPolicy: { enabled: false, retries: 2, delay: 100, maxDelay: 1000, factor: 2, check: (err: Error | Errors.MoleculerError) => Boolean((err as Errors.MoleculerError).retryable) },
		circuitBreaker: { enabled: true, threshold: 0.5, minRequestCount: 20, windowTime: 60, halfOpenTime: 10_000, check: (err: Error | Errors.MoleculerError) => ((err as Errors.MoleculerError).code ?? 500) >= 500 },
		bulkhead: { enabled: true, concurrency: 50, maxQueueSize: 500 },
		registry: { strategy: "RoundRobin", preferLocal: true },
		heartbeatInterval: 5,
		heartbeatTimeout: 15,
		tracking: { enabled: true, shutdownTimeout: 10_000 },
		validator: true,
		errorHandler: undefined,
		middlewares: [AuthorizationMiddleware],
		metrics: { enabled: true, reporter: [] },
		...overrides,
	};
}
