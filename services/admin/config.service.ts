/**
 * admin.config: system configuration key/values, themes and maintenance windows
 * (docs/spec.md section 4, "System Configuration"). Served under /api/v1/admin and /api/admin.
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { RETRY_READS, respondCreated } from "../../lib/actions";
import { validationError } from "../../lib/errors";
import type { Ctx } from "../../lib/types";
import { defineAdminModels, type AdminModels } from "./admin.model";
import * as P from "./admin.params";
import { defineService, type ServiceDefinition } from "../../lib/service";
import { call } from "../../lib/contracts";

interface Methods {
	currentSettings(): Promise<Record<string, unknown>>;
	upcomingMaintenance(): Promise<unknown[]>;
}
type This = Service & DbThis<AdminModels> & Methods;

const MAINTENANCE_COLUMNS = `id, starts_at AS "startsAt", ends_at AS "endsAt", message, created_by AS "createdBy", created_at AS "createdAt"`;

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "admin.config",
	mixins: [DbMixin({ schema: "admin", models: defineAdminModels, primary: "Broadcast" }), AuditMixin],
	settings: { rest: "/admin" },

	actions: {
		get: {
			rest: "GET /config",
			roles: ["ADMIN"],
			retryPolicy: RETRY_READS,
			summary: "System configuration (every key, defaults where unset) and the upcoming maintenance windows",
			async handler() {
				const [settings, maintenance] = await Promise.all([this.currentSettings(), this.upcomingMaintenance()]);
				return { settings, maintenance };
			},
		},

		update: {
			rest: "PUT /config",
			roles: ["ADMIN"],
			audit: true,
			summary: "Set one or more configuration keys (validated per key; unknown keys are ignored)",
			params: P.updateConfigParams,
			async handler(ctx: Ctx<P.UpdateConfigParams>) {
				const entries = Object.entries(ctx.params).filter(([k, v]) => k in P.SETTINGS && v !== undefined);
				if (!entries.length) throw validationError("settings", `Give at least one of: ${Object.keys(P.SETTINGS).join(", ")}.`);
				(ctx.locals as { auditTarget?: string }).auditTarget = entries.map(([k]) => k).join(",");
				await this.transaction(async (t) => {
					for (const [key, value] of entries) {
						await this.db.query(
							`INSERT INTO admin.settings (key, value, updated_by) VALUES (:key, CAST(:value AS jsonb), :by)
							 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_by = EXCLUDED.updated_by, updated_at = now()`,
							{ replacements: { key, value: JSON.stringify(value), by: ctx.meta.user?.id ?? null }, transaction: t },
						);
					}
				});
				return { settings: await this.currentSettings() };
			},
		},

		themes: {
			rest: "GET /config/themes",
			roles: ["ADMIN"],
			summary: "The available UI themes and the active one",
			async handler() {
				const settings = await this.currentSettings();
				return { active: settings.theme, themes: P.THEMES };
			},
		},

		maintenance: {
			rest: "POST /config/maintenance",
			roles: ["ADMIN"],
			audit: true,
			summary: "Schedule a maintenance window; everyone connected is told (SYSTEM_ANNOUNCEMENT)",
			params: P.maintenanceParams,
			async handler(ctx: Ctx<P.MaintenanceParams>) {
				const startsAt = new Date(ctx.params.startsAt);
				const endsAt = new Date(ctx.params.endsAt);
				if (Number.isNaN(startsAt.getTime())) throw validationError("startsAt", "The 'startsAt' field must be a valid date-time.");
				if (Number.isNaN(endsAt.getTime())) throw validationError("endsAt", "The 'endsAt' field must be a valid date-time.");
				if (endsAt <= startsAt) throw validationError("endsAt", "The window must end after it starts.");
				if (endsAt <= new Date()) throw validationError("endsAt", "The window must end in the future.");
				const [row] = await this.db.query<Record<string, unknown> & { id: string }>(
					`INSERT INTO admin.maintenance_windows (starts_at, ends_at, message, created_by) VALUES (:startsAt, :endsAt, :message, :by) RETURNING ${MAINTENANCE_COLUMNS}`,
					{ type: QueryTypes.SELECT, replacements: { startsAt, endsAt, message: ctx.params.message, by: ctx.meta.user?.id ?? null } },
				);
				let announced = true;
				try {
					await call(ctx, "communications.notifications.announce", {
						title: "Scheduled maintenance",
						message: `${ctx.params.message} (${startsAt.toISOString()} – ${endsAt.toISOString()})`,
					});
				} catch (err) {
					announced = false;
					this.logger.warn("Maintenance announcement failed", { id: row.id, err: (err as Error).message });
				}
				respondCreated(ctx, "/api/v1/admin/config");
				return { ...row, announced };
			},
		},
	},

	methods: {
		async currentSettings() {
			const rows = await this.db.query<{ key: string; value: unknown }>(`SELECT key, value FROM admin.settings`, { type: QueryTypes.SELECT });
			const stored = new Map(rows.map((r) => [r.key, r.value]));
			return Object.fromEntries(Object.entries(P.SETTINGS).map(([k, v]) => [k, stored.has(k) ? stored.get(k) : v.default]));
		},

		upcomingMaintenance() {
			return this.db.query(`SELECT ${MAINTENANCE_COLUMNS} FROM admin.maintenance_windows WHERE deleted_at IS NULL AND ends_at > now() ORDER BY starts_at LIMIT 20`, { type: QueryTypes.SELECT });
		},
	},
};

export default defineService(schema);
