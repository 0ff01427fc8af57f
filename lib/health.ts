/**
 * Per-node health: `/health` (the process lives), `/ready` (its dependencies
 * answer: every local service's database, Redis when configured, the
 * transporter, plus checks a service contributes with a `readinessChecks()`
 * method, e.g. the kafka-bridge's Kafka link) and `/metrics` (Prometheus text).
 *
 * Every node, the gateway included, serves them on its operator port
 * (lib/topology.ts, METRICS_PORT overrides) through `startHealthServer`: they are
 * operator data (dependency errors, per-action counters, host facts), never
 * served on the public port, whose /health says only "ok" (services/gateway).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Service, ServiceBroker } from "moleculer";
import type { Sequelize } from "sequelize";
import { config } from "./config";
import { redisClient } from "./redis";
import { APP_METRICS, prometheusText, registerAppMetrics } from "./metrics";
import { MIGRATIONS } from "../migrations";

const CHECK_TIMEOUT_MS = 1500;

export type CheckResult = { ok: boolean; error?: string };

export interface Readiness {
	ready: boolean;
	nodeID: string;
	checks: Record<string, CheckResult>;
}

/** A service may report extra dependencies (name → ok). */
export interface ReadinessProvider {
	readinessChecks(): Promise<Record<string, CheckResult>> | Record<string, CheckResult>;
}

type DbService = Service & { db?: Sequelize; dbSchema?: string };

function withTimeout<T>(promise: Promise<T>, ms = CHECK_TIMEOUT_MS): Promise<T> {
	let timer: NodeJS.Timeout | undefined;
	const timeout = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
	});
	return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function check(fn: () => Promise<unknown>): Promise<CheckResult> {
	try {
		await withTimeout(fn());
		return { ok: true };
	} catch (err) {
		return { ok: false, error: err instanceof Error ? err.message : String(err) };
	}
}

function localServices(broker: ServiceBroker): DbService[] {
	return broker.services as DbService[];
}

/** Local Sequelize instances, one per schema. */
function databases(broker: ServiceBroker): Map<string, Sequelize> {
	const dbs = new Map<string, Sequelize>();
	for (const svc of localServices(broker)) {
		if (svc.db && svc.dbSchema && !dbs.has(svc.dbSchema)) dbs.set(svc.dbSchema, svc.db);
	}
	return dbs;
}

export async function readiness(broker: ServiceBroker): Promise<Readiness> {
	const checks: Record<string, CheckResult> = {};
	checks.broker = broker.started ? { ok: true } : { ok: false, error: "starting" };
	const transit = (broker as unknown as { transit?: { connected: boolean; disconnecting: boolean } }).transit;
	if (transit) checks.transporter = transit.connected && !transit.disconnecting ? { ok: true } : { ok: false, error: "not connected" };
	const redis = config().redisUrl ? redisClient() : undefined;
	if (redis) checks.redis = await check(() => redis.ping());
	await Promise.all(
		[...databases(broker)].map(async ([schema, db]) => {
			if (!MIGRATIONS[schema]?.some((m) => m.name === "000-common-tables")) return void reportPool(broker, schema, db);
			checks[`database:${schema}`] = await check(() => db.query("SELECT 1"));
		}),
	);
	for (const svc of localServices(broker)) {
		const provider = svc as Service & Partial<ReadinessProvider>;
		if (typeof provider.readinessChecks !== "function") continue;
		try {
			Object.assign(checks, await withTimeout(Promise.resolve(provider.readinessChecks())));
		} catch (err) {
			checks[svc.fullName] = { ok: false, error: err instanceof Error ? err.message : String(err) };
		}
	}
	const ready = Object.values(checks).every((c) => c.ok);
	registerAppMetrics(broker);
	broker.metrics.set(APP_METRICS.ready, ready ? 1 : 0);
	return { ready, nodeID: broker.nodeID, checks };
}

function reportPool(broker: ServiceBroker, schema: string, db: Sequelize): void {
	const pool = (db.connectionManager as unknown as { pool?: { size: number; available: number; using: number; waiting: number } }).pool;
	if (!pool) return;
	for (const state of ["size", "available", "using", "waiting"] as const)
		broker.metrics.set(APP_METRICS.dbPool, pool[state], { schema, state });
}

/** Refreshes pool and outbox gauges of this node's schemas, then renders every metric. */
export async function metricsText(broker: ServiceBroker): Promise<string> {
	registerAppMetrics(broker);
	await Promise.all(
		[...databases(broker)].map(async ([schema, db]) => {
			if (!MIGRATIONS[schema]?.some((m) => m.name === "000-common-tables")) return void reportPool(broker, schema, db);
			reportPool(broker, schema, db);
			try {
				const [rows] = await withTimeout(
					db.query(
						`SELECT count(*)::int AS n, COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float AS age FROM "${schema}".outbox WHERE sent_at IS NULL`,
					),
				);
				const row = (rows as { n: number; age: number }[])[0];
				broker.metrics.set(APP_METRICS.outboxBacklog, row.n, { schema });
				broker.metrics.set(APP_METRICS.outboxOldestSec, row.age, { schema });
			} catch {
				// Database down or no outbox yet: /ready says so; keep the last values.
			}
		}),
	);
	// Services may refresh their own gauges (the kafka-bridge: every schema's outbox backlog).
	for (const svc of localServices(broker)) {
		const refresh = (svc as Service & { refreshMetrics?: () => Promise<void> }).refreshMetrics;
		if (typeof refresh === "function") await withTimeout(refresh.call(svc)).catch(() => undefined);
	}
	return prometheusText(broker);
}

export function liveness(broker: ServiceBroker): { status: "ok"; nodeID: string; uptime: number } {
	return { status: "ok", nodeID: broker.nodeID, uptime: Math.round(process.uptime()) };
}

async function answer(broker: ServiceBroker, path: string, res: http.ServerResponse): Promise<boolean> {
	const json = (status: number, body: unknown) => {
		res.statusCode = status;
		res.setHeader("Content-Type", "application/json; charset=utf-8");
		res.setHeader("Cache-Control", "no-store");
		res.end(JSON.stringify(body));
	};
	switch (path) {
		case "/health":
			json(200, liveness(broker));
			return true;
		case "/ready": {
			const r = await readiness(broker);
			json(r.ready ? 200 : 503, r);
			return true;
		}
		case "/metrics": {
			const text = await metricsText(broker);
			res.statusCode = 200;
			res.setHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
			res.setHeader("Cache-Control", "no-store");
			res.end(text);
			return true;
		}
		default:
			return false;
	}
}

export interface HealthServer {
	port: number;
	close(): Promise<void>;
}

/** The node's own health server (GET only, no body, bound to every interface for probes). */
export function startHealthServer(broker: ServiceBroker, port: number, host = "0.0.0.0"): Promise<HealthServer> {
	registerAppMetrics(broker);
	const server = http.createServer((req, res) => {
		const path = (req.url ?? "/").split("?")[0];
		if (req.method !== "GET" && req.method !== "HEAD") {
			res.statusCode = 405;
			return void res.end();
		}
		answer(broker, path, res)
			.then((served) => {
				if (!served) {
					res.statusCode = 404;
					res.setHeader("Content-Type", "application/json; charset=utf-8");
					res.end(JSON.stringify({ error: { code: "NOT_FOUND", message: "Not found" }, requestId: "" }));
				}
			})
			.catch(() => {
				if (!res.headersSent) res.statusCode = 500;
				res.end();
			});
	});
	server.keepAliveTimeout = 5000;
	return new Promise((resolve, reject) => {
		server.once("error", reject);
		server.listen(port, host, () => {
			server.off("error", reject);
			resolve({
				port: (server.address() as AddressInfo).port,
				close: () => new Promise((r) => server.close(() => r())),
			});
		});
	});
}
