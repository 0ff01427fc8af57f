/**
 * Broker options from the environment, set on purpose:
 * - one process (no TRANSPORTER) or a cluster over NATS (the `nats` 2.29 client, which
 *   flushes writes at once: no added latency per remote call, moleculer issue 1237),
 *   JSON serializer (readable on the wire, fast enough: our payloads are small);
 * - NAMESPACE isolates clusters sharing one NATS; HEARTBEAT_TIMEOUT_SEC bounds how long
 *   a killed node is still believed alive (heartbeats every third of it);
 * - in-memory cacher unless CACHER=redis://...;
 * - a request timeout, retries only where an action is marked idempotent,
 *   a circuit breaker and a bulkhead (actions only: events never wait in its queue) so one slow service can't sink the rest;
 * - graceful shutdown that waits for in-flight requests;
 * - metrics on (Prometheus text served on /metrics by lib/health.ts or the gateway).
 */
import os from "node:os";
import type { BrokerOptions, Errors } from "moleculer";
import type { Config } from "./lib/config";
import { AuthorizationMiddleware } from "./middlewares/authorization.middleware";
import { AppLogMiddleware } from "./middlewares/app-log.middleware";
import { EventsUnboundedMiddleware } from "./middlewares/events-unbounded.middleware";
import { metricsOptions } from "./lib/metrics";

export function brokerConfig(cfg: Config, overrides: Partial<BrokerOptions> = {}): BrokerOptions {
	return {
		namespace: cfg.namespace,
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
		heartbeatInterval: Math.max(1, Math.floor(cfg.heartbeatTimeoutSec / 3)),
		heartbeatTimeout: cfg.heartbeatTimeoutSec,
		tracking: { enabled: true, shutdownTimeout: 10_000 },
		validator: true,
		errorHandler: undefined,
		middlewares: [EventsUnboundedMiddleware, AuthorizationMiddleware, AppLogMiddleware],
		metrics: metricsOptions(),
		...overrides,
	};
}
