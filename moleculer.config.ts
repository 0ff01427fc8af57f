/**
 * Broker options from the environment, set on purpose:
 * - one process (no TRANSPORTER) or a cluster over NATS (the `nats` 2.29 client, which
 *   flushes writes at once: no added latency per remote call, moleculer issue 1237),
 *   JSON serializer (readable on the wire, fast enough: our payloads are small);
 * - NAMESPACE isolates clusters sharing one NATS; HEARTBEAT_TIMEOUT_SEC bounds how long
 *   a killed node is still believed alive (heartbeats every third of it);
 * - in-memory cacher unless CACHER=redis://...;
 * - a request timeout, retries only where an action is marked idempotent,
 *   a circuit breaker and a bulkhead on calls to other nodes so one slow service
 *   can't sink the rest (middlewares/remote-guards.middleware.ts: remote calls
 *   only, dependency failures only; Moleculer's built-ins, which would also wrap
 *   every local call and event, stay off: an event never waits in a bulkhead's
 *   queue, where a full queue would drop it);
 * - graceful shutdown that waits for in-flight requests;
 * - metrics on (Prometheus text served on /metrics by lib/health.ts or the gateway),
 *   with cheap per-call work (middlewares/metrics.middleware.ts in place of the
 *   built-in; hence the internal middlewares are listed below, with the order
 *   explained there).
 */
import os from "node:os";
import type { BrokerOptions, Errors, Middleware } from "moleculer";
import { isDependencyFailure, RemoteGuardsMiddleware } from "./middlewares/remote-guards.middleware";
import type { Config } from "./lib/config";
import { AuthorizationMiddleware } from "./middlewares/authorization.middleware";
import { MaintenanceMiddleware } from "./middlewares/maintenance.middleware";
import { AppLogMiddleware } from "./middlewares/app-log.middleware";
import { ServiceKeyMiddleware } from "./middlewares/service-key.middleware";
import { transporterOptions } from "./lib/transport";
import { metricsOptions } from "./lib/metrics";
import { AppValidator } from "./lib/validator";
import { ResponseStatusMiddleware } from "./middlewares/response-status.middleware";
import { InputScreenMiddleware } from "./middlewares/input-screen.middleware";
import { LeanMetricsMiddleware } from "./middlewares/metrics.middleware";
import { OwnershipMiddleware } from "./middlewares/ownership.middleware";

export function brokerConfig(cfg: Config, overrides: Partial<BrokerOptions> = {}): BrokerOptions {
	return {
		namespace: cfg.namespace,
		nodeID: cfg.nodeId ?? `${os.hostname()}-${(cfg.services ?? ["all"]).join("+")}-${process.pid}`,
		// NATS credentials from TRANSPORTER or NATS_CREDENTIALS (lib/transport.ts).
		transporter: transporterOptions(cfg),
		serializer: "JSON",
		cacher: cfg.cacher?.startsWith("redis")
			? { type: "Redis", options: { redis: cfg.cacher, prefix: "eislager-cache", ttl: 300 } }
			: { type: "Memory", options: { ttl: 60, maxParamsLength: 120 } },
		logger: {
			type: "Console",
			options: { level: cfg.logLevel, formatter: "short", colors: process.stdout.isTTY, moduleColors: false },
		},
		logLevel: cfg.logLevel,
		requestTimeout: cfg.requestTimeoutMs,
		// Off by default: a write must never run twice. Reads opt in with `retryPolicy: RETRY_READS` (lib/actions.ts).
		retryPolicy: {
			enabled: false,
			retries: 2,
			delay: 100,
			maxDelay: 1000,
			factor: 2,
			check: (err: Error | Errors.MoleculerError) => Boolean((err as Errors.MoleculerError).retryable),
		},
		circuitBreaker: { enabled: false },
		bulkhead: { enabled: false },
		registry: { strategy: "RoundRobin", preferLocal: true },
		heartbeatInterval: Math.max(1, Math.floor(cfg.heartbeatTimeoutSec / 3)),
		heartbeatTimeout: cfg.heartbeatTimeoutSec,
		tracking: { enabled: true, shutdownTimeout: 10_000 },
		validator: new AppValidator(),
		errorHandler: undefined,
		// Moleculer wraps the first middleware innermost and appends its own after the
		// user's (so its Validator and Cacher would run before any role check). The
		// order is spelled out instead: Authorization wraps the cache, the validator
		// and the hooks, so a caller who may not call an action learns nothing from it
		// (401/403 before any 422) and never gets a cached answer. The circuit breaker
		// and bulkhead guard remote calls only, and only dependency failures trip the
		// breaker; metrics are Moleculer's with cheap per-call work.
		internalMiddlewares: false,
		middlewares: [
			ResponseStatusMiddleware,
			AppLogMiddleware,
			"ActionHook",
			"Validator",
			InputScreenMiddleware,
			"Cacher",
			// Listed inside the role check: runs after it, before the cache and the handler.
			OwnershipMiddleware,
			AuthorizationMiddleware,
			MaintenanceMiddleware,
			"ContextTracker",
			RemoteGuardsMiddleware({
				circuitBreaker: { threshold: 0.5, minRequestCount: 20, windowTime: 60, halfOpenTime: 10_000, check: isDependencyFailure },
				bulkhead: { concurrency: 50, maxQueueSize: 500 },
			}),
			"Timeout",
			"Retry",
			"Fallback",
			"ErrorHandler",
			"Tracing",
			LeanMetricsMiddleware as unknown as Middleware,
			"Debounce",
			"Throttle",
			// Checks other nodes' packets before any context exists (proof of origin, SERVICE_KEY).
			ServiceKeyMiddleware(cfg.serviceKey),
		],
		metrics: metricsOptions(),
		...overrides,
	};
}
