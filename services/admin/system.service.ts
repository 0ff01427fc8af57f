/**
 * admin.system: cluster health, metrics and the application log (docs/spec.md section 4, "System Monitoring").
 * Served under /api/v1/admin and /api/admin.
 */
import type { Context, Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { RETRY_READS } from "../../lib/actions";
import { INTERNAL_EVENTS, type AppLogEntry } from "../../lib/events";
import { toPage } from "../../lib/pagination";
import type { Ctx } from "../../lib/types";
import { defineAdminModels, type AdminModels } from "./admin.model";
import * as P from "./admin.params";
import { defineService, type ServiceDefinition } from "../../lib/service";

interface Methods {
	applyRetention(): Promise<number>;
}
type This = Service & DbThis<AdminModels> & Methods & { retentionTimer?: NodeJS.Timeout };

interface NodeInfo {
	id: string;
	available: boolean;
	local: boolean;
	hostname?: string;
	lastHeartbeatTime?: number;
	services?: { name: string }[];
}
interface ServiceInfo {
	name: string;
	fullName?: string;
	version?: string | number;
	available?: boolean;
	nodes?: string[];
}

const NODE_TIMEOUT_MS = 2000;
/** How often the application log is trimmed to the `logRetentionDays` setting. */
const RETENTION_EVERY_MS = 60 * 60 * 1000;

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "admin.system",
	mixins: [DbMixin({ schema: "admin", models: defineAdminModels }), AuditMixin],
	settings: { rest: "/admin" },

	actions: {
		health: {
			rest: "GET /system/health",
			roles: ["ADMIN"],
			summary: "Every node of the cluster (with its CPU, memory, uptime) and every service with the nodes running it",
			async handler(ctx: Ctx<Record<string, never>>) {
				const nodes = (await ctx.call("$node.list", { onlyAvailable: false, withServices: false })) as NodeInfo[];
				const services = (await ctx.call("$node.services", {
					onlySystem: false,
					skipInternal: true,
					withActions: false,
					grouping: true,
					onlyAvailable: false,
				})) as ServiceInfo[];
				const details = await Promise.all(
					nodes.map(async (n) => {
						if (!n.available) return { nodeID: n.id, status: "DOWN", local: n.local, hostname: n.hostname ?? null };
						try {
							const h = (await ctx.call("$node.health", {}, { nodeID: n.id, timeout: NODE_TIMEOUT_MS })) as {
								cpu?: { utilization?: number };
								mem?: { free?: number; total?: number; percent?: number };
								process?: { uptime?: number; memory?: { rss?: number; heapUsed?: number } };
								os?: { hostname?: string };
							};
							return {
								nodeID: n.id,
								status: "UP",
								local: n.local,
								hostname: h.os?.hostname ?? n.hostname ?? null,
								cpuPercent: h.cpu?.utilization ?? null,
								memoryPercent: h.mem?.percent ?? null,
								processRssBytes: h.process?.memory?.rss ?? null,
								uptimeSec: h.process?.uptime != null ? Math.round(h.process.uptime) : null,
							};
						} catch (err) {
							this.logger.warn("Node health check failed", { nodeID: n.id, err: (err as Error).message });
							return {
								nodeID: n.id,
								status: "UNREACHABLE",
								local: n.local,
								hostname: n.hostname ?? null,
								error: (err as Error).message,
							};
						}
					}),
				);
				const serviceList = services
					.filter((s) => !s.name.startsWith("$"))
					.map((s) => ({ name: s.fullName ?? s.name, available: s.available !== false, nodes: s.nodes ?? [] }))
					.sort((a, b) => a.name.localeCompare(b.name));
				const down = details.filter((d) => d.status !== "UP").length + serviceList.filter((s) => !s.available).length;
				return {
					status: down === 0 ? "UP" : "DEGRADED",
					checkedAt: new Date().toISOString(),
					nodes: details,
					services: serviceList,
				};
			},
		},

		metrics: {
			rest: "GET /system/metrics",
			roles: ["ADMIN"],
			summary: "A snapshot of every node's broker metrics (requests, latencies, errors, process figures)",
			async handler(ctx: Ctx<Record<string, never>>) {
				const nodes = ((await ctx.call("$node.list", { onlyAvailable: true })) as NodeInfo[]).map((n) => n.id);
				const perNode = await Promise.all(
					nodes.map(async (nodeID) => {
						try {
							const metrics = await ctx.call(
								"$node.metrics",
								{ excludes: ["moleculer.transporter.*"] },
								{ nodeID, timeout: NODE_TIMEOUT_MS },
							);
							return { nodeID, metrics };
						} catch (err) {
							return { nodeID, error: (err as Error).message, metrics: [] };
						}
					}),
				);
				return { collectedAt: new Date().toISOString(), nodes: perNode };
			},
		},

		logs: {
			rest: "GET /system/logs",
			roles: ["ADMIN"],
			retryPolicy: RETRY_READS,
			summary: "Application log: server-side action failures of every node (warn/error), newest first",
			params: P.logsParams,
			async handler(ctx: Ctx<P.LogsParams>) {
				const { page, pageSize, level, service } = ctx.params;
				const dir = ctx.params.sort === "createdAt" ? "ASC" : "DESC";
				const where = ["true", level ? "level = :level" : null, service ? "service = :service" : null]
					.filter(Boolean)
					.join(" AND ");
				const rows = await this.db.query<Record<string, unknown> & { total: number }>(
					`SELECT id::text, level, node_id AS "nodeID", service, action, message, code, type, request_id AS "requestId", created_at AS "createdAt",
					        count(*) OVER ()::int AS total
					   FROM admin.app_logs WHERE ${where} ORDER BY app_logs.created_at ${dir}, app_logs.id ${dir} LIMIT :limit OFFSET :offset`,
					{
						type: QueryTypes.SELECT,
						replacements: { level: level ?? null, service: service ?? null, limit: pageSize, offset: (page - 1) * pageSize },
					},
				);
				const total = rows[0]?.total ?? 0;
				return toPage(
					rows.map(({ total: _t, ...r }) => r),
					total,
					ctx.params,
				);
			},
		},

		/** Internal (operators, tests): trim the application log to `logRetentionDays` now; runs hourly anyway. */
		applyRetention: {
			visibility: "public",
			async handler() {
				return { deleted: await this.applyRetention() };
			},
		},

		clearLogs: {
			rest: "POST /system/logs/clear",
			roles: ["ADMIN"],
			audit: true,
			status: 200,
			summary: "Delete application log entries older than `before`; answers the number deleted",
			params: P.clearLogsParams,
			async handler(ctx: Ctx<P.ClearLogsParams>) {
				const before = new Date(ctx.params.before);
				const [, result] = (await this.db.query(`DELETE FROM admin.app_logs WHERE created_at < :before`, {
					replacements: { before },
				})) as [unknown, { rowCount?: number }];
				return { deleted: result?.rowCount ?? 0, before: before.toISOString() };
			},
		},
	},

	methods: {
		/** Deletes application log entries older than the `logRetentionDays` setting; answers how many. */
		async applyRetention(): Promise<number> {
			const [row] = await this.db.query<{ value: unknown }>(`SELECT value FROM admin.settings WHERE key = 'logRetentionDays'`, {
				type: QueryTypes.SELECT,
			});
			const days = typeof row?.value === "number" ? row.value : P.SETTINGS.logRetentionDays.default;
			const [, result] = (await this.db.query(`DELETE FROM admin.app_logs WHERE created_at < now() - make_interval(days => :days)`, {
				replacements: { days },
			})) as [unknown, { rowCount?: number }];
			return result?.rowCount ?? 0;
		},
	},

	started() {
		this.retentionTimer = setInterval(() => {
			this.applyRetention().catch((err: Error) => this.logger.warn("Application log retention failed", { err: err.message }));
		}, RETENTION_EVERY_MS);
		this.retentionTimer.unref();
	},

	stopped() {
		clearInterval(this.retentionTimer);
	},

	events: {
		[INTERNAL_EVENTS.appLog]: {
			async handler(ctx: Context<AppLogEntry>) {
				const e = ctx.params;
				try {
					await this.db.query(
						`INSERT INTO admin.app_logs (level, node_id, service, action, message, code, type, request_id, created_at)
						 VALUES (:level, :nodeID, :service, :action, :message, :code, :type, :requestId, :at)`,
						{ replacements: { ...e, at: new Date(e.at) } },
					);
				} catch (err) {
					this.logger.error("Could not store an application log entry", { err: (err as Error).message });
				}
			},
		},
	},
};

export default defineService(schema);
