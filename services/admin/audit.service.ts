/**
 * admin.audit: the platform audit trail and the compliance report (docs/spec.md section 4, "Audit & Compliance").
 *
 * Every DB-backed service writes its own `<schema>.audit_log` (mixins/audit.mixin.ts).
 * All schemas live in the one PostgreSQL database, so this service reads them
 * directly, read-only, with one UNION ALL over the schemas that have the table
 * (known schemas from migrations/index.ts that exist in the database): one query,
 * one consistent sort and pagination over the whole platform, no fan-out of
 * N actions, and schemas shared by several services (sales.*, inventory.*) are
 * naturally read once. It never writes to another service's schema. Like the
 * kafka-bridge's outbox relay, this reads only the cross-cutting tables the
 * shared mixins write (audit_log); domain figures (sign-in security) come
 * from the owning service's actions.
 * Served under /api/v1/admin and /api/admin.
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { RETRY_READS } from "../../lib/actions";
import { validationError } from "../../lib/errors";
import { toPage } from "../../lib/pagination";
import type { Ctx } from "../../lib/types";
import { schemasWithTable } from "../../lib/database";
import { MIGRATIONS } from "../../migrations";
import { defineAdminModels, type AdminModels } from "./admin.model";
import * as P from "./admin.params";
import { defineService, type ServiceDefinition } from "../../lib/service";
import { call } from "../../lib/contracts";

interface Methods {
	auditSchemas(): Promise<string[]>;
	searchAudit(params: P.AuditListParams): Promise<unknown>;
}
type This = Service & DbThis<AdminModels> & Methods;

const DAY_MS = 86_400_000;

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "admin.audit",
	mixins: [DbMixin({ schema: "admin", models: defineAdminModels }), AuditMixin],
	settings: { rest: "/admin" },

	actions: {
		list: {
			rest: "GET /audit-logs",
			roles: ["ADMIN"],
			retryPolicy: RETRY_READS,
			summary: "The platform audit trail (every service's audit log), newest first; filter by schema, actor, action, outcome, time",
			params: P.auditListParams,
			handler(ctx: Ctx<P.AuditListParams>) {
				return this.searchAudit(ctx.params);
			},
		},

		search: {
			rest: "POST /audit-logs/search",
			roles: ["ADMIN"],
			status: 200,
			summary: "Audit search with the filters in a JSON body (action and target match as substrings)",
			params: P.auditSearchParams,
			handler(ctx: Ctx<P.AuditListParams>) {
				return this.searchAudit(ctx.params);
			},
		},

		compliance: {
			rest: "GET /compliance/report",
			roles: ["ADMIN", "EXECUTIVE"],
			retryPolicy: RETRY_READS,
			summary:
				"Compliance report for a date range (default: last 30 days): audit coverage, failures, admin actions, sign-in security, data retention",
			params: P.complianceParams,
			async handler(ctx: Ctx<P.ComplianceParams>) {
				const to = ctx.params.to ? new Date(`${ctx.params.to}T00:00:00Z`).getTime() + DAY_MS : Date.now();
				const from = ctx.params.from ? new Date(`${ctx.params.from}T00:00:00Z`).getTime() : to - 30 * DAY_MS;
				if (from >= to) throw validationError("from", "'from' must be before 'to'.");
				const range = { from: new Date(from), to: new Date(to) };
				const schemas = await this.auditSchemas();
				const perSchema = await Promise.all(
					schemas.map(async (s) => {
						const [r] = await this.db.query<{
							total: number;
							failures: number;
							admin: number;
							actors: number;
							oldest: Date | null;
							allRows: number;
						}>(
							`SELECT count(*) FILTER (WHERE created_at >= :from AND created_at < :to)::int AS total,
							        count(*) FILTER (WHERE created_at >= :from AND created_at < :to AND outcome = 'FAILURE')::int AS failures,
							        count(*) FILTER (WHERE created_at >= :from AND created_at < :to AND actor_role = 'ADMIN')::int AS admin,
							        count(DISTINCT actor_id) FILTER (WHERE created_at >= :from AND created_at < :to)::int AS actors,
							        min(created_at) AS oldest, count(*)::int AS "allRows"
							   FROM "${s}".audit_log`,
							{ type: QueryTypes.SELECT, replacements: range },
						);
						return {
							schema: s,
							entries: r.total,
							failures: r.failures,
							adminActions: r.admin,
							distinctActors: r.actors,
							retainedEntries: r.allRows,
							oldestEntryAt: r.oldest ? new Date(r.oldest).toISOString() : null,
						};
					}),
				);
				const topAdmin = schemas.length
					? await this.db.query<{ action: string; count: number }>(
							`SELECT action, count(*)::int AS count FROM (${schemas.map((s) => `SELECT action FROM "${s}".audit_log WHERE actor_role = 'ADMIN' AND created_at >= :from AND created_at < :to`).join(" UNION ALL ")}) a
							  GROUP BY action ORDER BY count DESC, action LIMIT 20`,
							{ type: QueryTypes.SELECT, replacements: range },
						)
					: [];
				// Sign-in figures come from auth itself (null while no auth node serves).
				const signIn = await call(ctx, "auth.signInSecurity", {}).catch(() => null);
				const [logs] = await this.db.query<{ total: number; oldest: Date | null; errors: number }>(
					`SELECT count(*)::int AS total, min(created_at) AS oldest, count(*) FILTER (WHERE level = 'error' AND created_at >= :from AND created_at < :to)::int AS errors FROM admin.app_logs`,
					{ type: QueryTypes.SELECT, replacements: range },
				);
				const sum = (k: "entries" | "failures" | "adminActions") => perSchema.reduce((n, s) => n + s[k], 0);
				return {
					from: range.from.toISOString(),
					to: range.to.toISOString(),
					generatedAt: new Date().toISOString(),
					audit: {
						schemas: perSchema,
						totalEntries: sum("entries"),
						failedActions: sum("failures"),
						adminActions: sum("adminActions"),
						topAdminActions: topAdmin,
					},
					signIn,
					applicationLog: {
						errorsInRange: logs.errors,
						retainedEntries: logs.total,
						oldestEntryAt: logs.oldest ? new Date(logs.oldest).toISOString() : null,
					},
				};
			},
		},
	},

	methods: {
		/** Known schemas (migrations/index.ts) whose audit_log exists in this database. */
		async auditSchemas(): Promise<string[]> {
			return (await schemasWithTable(this.db, "audit_log")).filter((s) => s in MIGRATIONS);
		},

		async searchAudit(params: P.AuditListParams) {
			const all = await this.auditSchemas();
			const schemas = params.schema ? all.filter((s) => s === params.schema) : all;
			if (!schemas.length) return toPage([], 0, params);
			const cond = [
				params.actorId ? "actor_id = :actorId" : null,
				params.action ? "action ILIKE :action" : null,
				params.target ? "target ILIKE :target" : null,
				params.outcome ? "outcome = :outcome" : null,
				params.from ? "created_at >= :from" : null,
				params.to ? "created_at < :to" : null,
			].filter(Boolean);
			const where = cond.length ? `WHERE ${cond.join(" AND ")}` : "";
			const like = (v?: string) => (v ? `%${v.replace(/[\\%_]/g, "\\$&")}%` : null);
			const union = schemas
				.map(
					(s) =>
						`SELECT '${s}' AS schema, id, actor_id, actor_role, action, target, request_id, ip, outcome, error_code, created_at FROM "${s}".audit_log ${where}`,
				)
				.join(" UNION ALL ");
			const dir = params.sort === "createdAt" ? "ASC" : "DESC";
			const rows = await this.db.query<Record<string, unknown> & { total: number }>(
				`SELECT schema, id::text, actor_id AS "actorId", actor_role AS "actorRole", action, target, request_id AS "requestId", ip, outcome,
				        error_code AS "errorCode", created_at AS "createdAt", count(*) OVER ()::int AS total
				   FROM (${union}) a ORDER BY a.created_at ${dir}, a.schema, a.id ${dir} LIMIT :limit OFFSET :offset`,
				{
					type: QueryTypes.SELECT,
					replacements: {
						actorId: params.actorId ?? null,
						action: like(params.action),
						target: like(params.target),
						outcome: params.outcome ?? null,
						from: params.from ? new Date(params.from) : null,
						to: params.to ? new Date(params.to) : null,
						limit: params.pageSize,
						offset: (params.page - 1) * params.pageSize,
					},
				},
			);
			return toPage(
				rows.map(({ total: _t, ...r }) => r),
				rows[0]?.total ?? 0,
				params,
			);
		},
	},
};

export default defineService(schema);
