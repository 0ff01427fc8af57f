/**
 * admin.deadLetters: events internal consumer groups gave up on (lib/event-stream.ts),
 * across every schema, and their replay after a fix. Served under /api/v1/admin/system.
 *
 * `dead_letters` is a cross-cutting table like `audit_log`: every consumer schema
 * has one and this service reads them all with one `UNION ALL`. A replay only
 * flags the row (`replay_requested_at`) and wakes the readers (NOTIFY on the
 * outbox channel): the group's own reader runs its handler again, in its own
 * service, once; on failure the row stays listed with the new error.
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { RETRY_READS } from "../../lib/actions";
import { notFound } from "../../lib/errors";
import { REPLAY_WAKE } from "../../lib/event-stream";
import { toPage } from "../../lib/pagination";
import type { Ctx } from "../../lib/types";
import { schemasWithTable } from "../../lib/database";
import { OUTBOX_CHANNEL } from "../../lib/outbox-wake";
import { defineAdminModels, type AdminModels } from "./admin.model";
import * as P from "./admin.params";
import { defineService, type ServiceDefinition } from "../../lib/service";
import type { Params, Result } from "../../lib/contracts";

type This = Service & DbThis<AdminModels>;

const COLUMNS = `id::text, "group", source_schema AS "sourceSchema", event_id AS "eventId", type, envelope, attempts, last_error AS "lastError",
	created_at AS "createdAt", replay_requested_at AS "replayRequestedAt", replayed_at AS "replayedAt"`;

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "admin.deadLetters",
	mixins: [DbMixin({ schema: "admin", models: defineAdminModels }), AuditMixin],
	settings: { rest: "/admin" },

	actions: {
		list: {
			rest: "GET /system/dead-letters",
			roles: ["ADMIN"],
			retryPolicy: RETRY_READS,
			summary:
				"Events an internal consumer group dead-lettered after STREAM_MAX_ATTEMPTS tries, every schema, newest first (filter by group, replayed)",
			params: P.deadLettersParams,
			async handler(ctx: Ctx<P.DeadLettersParams>): Promise<Result<"admin.deadLetters.list">> {
				const { page, pageSize, group, replayed } = ctx.params;
				const schemas = await schemasWithTable(this.db, "dead_letters");
				if (!schemas.length) return toPage([], 0, ctx.params);
				const dir = ctx.params.sort === "createdAt" ? "ASC" : "DESC";
				const where = [
					"true",
					group ? `"group" = :group` : null,
					replayed === undefined ? null : replayed ? "replayed_at IS NOT NULL" : "replayed_at IS NULL",
				]
					.filter(Boolean)
					.join(" AND ");
				const rows = await this.db.query<Record<string, unknown> & { total: number }>(
					`SELECT *, count(*) OVER ()::int AS total FROM (${schemas.map((s) => `SELECT '${s}' AS schema, ${COLUMNS} FROM "${s}".dead_letters WHERE ${where}`).join(" UNION ALL ")}) d
					 ORDER BY "createdAt" ${dir}, schema, d.id::bigint LIMIT :limit OFFSET :offset`,
					{ type: QueryTypes.SELECT, replacements: { group: group ?? null, limit: pageSize, offset: (page - 1) * pageSize } },
				);
				return toPage(
					rows.map(({ total: _t, ...r }) => r),
					rows[0]?.total ?? 0,
					ctx.params,
				);
			},
		},

		replay: {
			rest: "POST /system/dead-letters/:schema/:id/replay",
			roles: ["ADMIN"],
			audit: true,
			status: 202,
			summary:
				"Re-deliver a dead letter to its consumer group (after a fix); the group's reader applies it once, or lists it again with the new error",
			params: P.replayDeadLetterParams,
			async handler(ctx: Ctx<Params<"admin.deadLetters.replay">>): Promise<Result<"admin.deadLetters.replay">> {
				const { schema: s, id } = ctx.params;
				if (!(await schemasWithTable(this.db, "dead_letters")).includes(s)) throw notFound("Dead letter", `${s}/${id}`);
				const [row] = await this.db.query<Record<string, unknown>>(
					`UPDATE "${s}".dead_letters SET replay_requested_at = now(), replayed_at = NULL WHERE id = :id RETURNING '${s}' AS schema, ${COLUMNS}`,
					{ type: QueryTypes.SELECT, replacements: { id } },
				);
				if (!row) throw notFound("Dead letter", `${s}/${id}`);
				await this.db.query("SELECT pg_notify(:channel, :payload)", {
					replacements: { channel: OUTBOX_CHANNEL, payload: REPLAY_WAKE },
				});
				return row;
			},
		},
	},
};

export default defineService(schema);
