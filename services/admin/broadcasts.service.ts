/**
 * admin.broadcasts: system-wide announcements (docs/spec.md section 4, "Broadcasts & Announcements").
 * A broadcast is written as a DRAFT, SENT once (everyone connected gets a
 * SYSTEM_ANNOUNCEMENT through communications.notifications.announce), then ARCHIVED.
 * Served under /api/v1/admin and /api/admin.
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { DbMixin, type DbThis, type EntityThis } from "../../mixins/db.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { RETRY_READS, respondCreated } from "../../lib/actions";
import { conflict, notFound } from "../../lib/errors";
import { findOptions, toPage } from "../../lib/pagination";
import type { Ctx } from "../../lib/types";
import { defineAdminModels, type AdminModels, type Broadcast, type BroadcastStatus } from "./admin.model";
import * as P from "./admin.params";
import { defineService, type ServiceDefinition } from "../../lib/service";
import { call } from "../../lib/contracts";

/** What a broadcast shows (moleculer-db `fields`). */
const FIELDS = ["id", "title", "message", "status", "createdBy", "sentAt", "archivedAt", "createdAt", "updatedAt"] as const;
type This = Service & DbThis<AdminModels> & EntityThis<Broadcast, (typeof FIELDS)[number]>;

/** Allowed status changes. */
const NEXT: Record<BroadcastStatus, BroadcastStatus[]> = { DRAFT: ["SENT", "ARCHIVED"], SENT: ["ARCHIVED"], ARCHIVED: [] };

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "admin.broadcasts",
	mixins: [DbMixin({ schema: "admin", models: defineAdminModels, entity: "Broadcast", fields: FIELDS }), AuditMixin],
	settings: { rest: "/admin" },

	actions: {
		create: {
			rest: "POST /broadcasts",
			roles: ["ADMIN"],
			audit: true,
			summary: "Write a broadcast (DRAFT); send it with PUT /broadcasts/:id/status",
			params: P.createBroadcastParams,
			async handler(ctx: Ctx<P.CreateBroadcastParams>) {
				const b = await this.adapter.insert({
					title: ctx.params.title,
					message: ctx.params.message,
					createdBy: ctx.meta.user?.id ?? null,
					sentAt: null,
					archivedAt: null,
				});
				respondCreated(ctx, `/api/v1/admin/broadcasts/${b.id}`);
				return this.entityJson(ctx, b);
			},
		},

		list: {
			rest: "GET /broadcasts",
			roles: ["ADMIN"],
			retryPolicy: RETRY_READS,
			summary: "Broadcasts, newest first; filter by status",
			params: P.listBroadcastsParams,
			async handler(ctx: Ctx<P.ListBroadcastsParams>) {
				const where = ctx.params.status ? { status: ctx.params.status } : {};
				const { rows, count } = await this.models.Broadcast.findAndCountAll({ where, ...findOptions(ctx.params, "-createdAt") });
				return toPage(await this.entityJson(ctx, rows), count, ctx.params);
			},
		},

		get: {
			rest: "GET /broadcasts/:id",
			roles: ["ADMIN"],
			summary: "One broadcast",
			params: { id: P.broadcastStatusParams.id },
			async handler(ctx: Ctx<{ id: string }>) {
				const b = await this.adapter.findById(ctx.params.id);
				if (!b) throw notFound("Broadcast", ctx.params.id);
				return this.entityJson(ctx, b);
			},
		},

		setStatus: {
			rest: "PUT /broadcasts/:id/status",
			roles: ["ADMIN"],
			audit: true,
			summary: "DRAFT → SENT (announced to everyone connected) → ARCHIVED; a draft may also be archived unsent",
			params: P.broadcastStatusParams,
			async handler(ctx: Ctx<P.BroadcastStatusParams>) {
				const status = ctx.params.status as BroadcastStatus;
				return this.transaction(async (t) => {
					const b = await this.models.Broadcast.findByPk(ctx.params.id, { transaction: t, lock: t.LOCK.UPDATE });
					if (!b) throw notFound("Broadcast", ctx.params.id);
					const current = b.status as BroadcastStatus;
					if (!NEXT[current].includes(status)) {
						throw conflict(`A ${current} broadcast can't become ${status}`, "INVALID_STATUS_TRANSITION", {
							from: current,
							to: status,
							allowed: NEXT[current],
						});
					}
					const now = new Date();
					await b.update(
						{ status, ...(status === "SENT" && { sentAt: now }), ...(status === "ARCHIVED" && { archivedAt: now }) },
						{ transaction: t },
					);
					// Inside the transaction: if the announcement can't be delivered the broadcast stays a DRAFT and can be sent again.
					if (status === "SENT")
						await call(ctx, "communications.notifications.announce", { title: b.title, message: b.message, broadcastId: b.id });
					return this.entityJson(ctx, b);
				});
			},
		},
	},
};

export default defineService(schema);
