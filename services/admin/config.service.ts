/**
 * admin.config: system configuration key/values, themes and maintenance windows
 * (docs/spec.md section 4, "System Configuration"). Served under /api/v1/admin and /api/admin.
 * The admin schema is the source of truth; after every change the new snapshot
 * is broadcast (`INTERNAL_EVENTS.settingsChanged`) and every node replaces its
 * local copy (lib/settings.ts), which the gateway (maintenance), auth
 * (registrationOpen) and sales (lowStockThreshold) read. Advance notices of
 * maintenance windows: ./maintenance.ts.
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { RETRY_READS, respondCreated, respondNoContent } from "../../lib/actions";
import { notFound, validationError } from "../../lib/errors";
import { config } from "../../lib/config";
import { INTERNAL_EVENTS } from "../../lib/events";
import { applySettings, type SettingsSnapshot, type SystemSettings } from "../../lib/settings";
import type { Ctx } from "../../lib/types";
import { sendDueNotices } from "./maintenance";
import { defineAdminModels, type AdminModels } from "./admin.model";
import * as P from "./admin.params";
import { defineService, type ServiceDefinition } from "../../lib/service";
import { call } from "../../lib/contracts";

interface Methods {
	currentSettings(): Promise<SystemSettings>;
	upcomingMaintenance(): Promise<unknown[]>;
	readSnapshot(): Promise<SettingsSnapshot>;
	/** Reads the snapshot and sends it to every node (this one included). */
	publishSnapshot(): Promise<void>;
	/** Sends the advance notices due now (one run at a time per node). */
	tickNotices(): Promise<unknown>;
}
type This = Service & DbThis<AdminModels> & Methods & { noticeTimer?: NodeJS.Timeout; noticing?: Promise<unknown> };

/** How often each admin node looks for advance notices due. */
const NOTICE_TICK_MS = 5000;

const MAINTENANCE_COLUMNS = `id, starts_at AS "startsAt", ends_at AS "endsAt", message, created_by AS "createdBy", created_at AS "createdAt"`;

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "admin.config",
	mixins: [DbMixin({ schema: "admin", models: defineAdminModels }), AuditMixin],
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
				await this.publishSnapshot();
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
					{
						type: QueryTypes.SELECT,
						replacements: { startsAt, endsAt, message: ctx.params.message, by: ctx.meta.user?.id ?? null },
					},
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
				await this.publishSnapshot();
				void this.tickNotices();
				respondCreated(ctx, "/api/v1/admin/config");
				return { ...row, announced };
			},
		},

		liftMaintenance: {
			rest: "DELETE /config/maintenance/:id",
			roles: ["ADMIN"],
			audit: true,
			status: 204,
			summary: "Cancel a maintenance window, or end one in progress: the gateway serves everyone again at once",
			params: P.maintenanceIdParams,
			async handler(ctx: Ctx<P.MaintenanceIdParams>) {
				const lifted = await this.db.query(
					`UPDATE admin.maintenance_windows SET deleted_at = now(), updated_at = now() WHERE id = :id AND deleted_at IS NULL RETURNING id`,
					{
						type: QueryTypes.SELECT,
						replacements: { id: ctx.params.id },
					},
				);
				if (!lifted.length) throw notFound("Maintenance window", ctx.params.id);
				(ctx.locals as { auditTarget?: string }).auditTarget = ctx.params.id;
				await this.publishSnapshot();
				return respondNoContent(ctx);
			},
		},

		public: {
			rest: "GET /config/public",
			auth: "public",
			retryPolicy: RETRY_READS,
			summary:
				"What a client needs before sign-in: siteName, theme (with its colours), defaultLanguage, supportEmail, registrationOpen and the upcoming maintenance windows",
			async handler() {
				const { settings, maintenance } = await this.readSnapshot();
				return {
					siteName: settings.siteName,
					theme: P.THEMES.find((t) => t.id === settings.theme) ?? P.THEMES[0],
					defaultLanguage: settings.defaultLanguage,
					supportEmail: settings.supportEmail,
					registrationOpen: settings.registrationOpen,
					maintenance,
				};
			},
		},

		/** Internal: the snapshot every node keeps a copy of (lib/settings.ts). */
		snapshot: {
			visibility: "public",
			retryPolicy: RETRY_READS,
			handler() {
				return this.readSnapshot();
			},
		},
	},

	methods: {
		async currentSettings() {
			const rows = await this.db.query<{ key: string; value: unknown }>(`SELECT key, value FROM admin.settings`, {
				type: QueryTypes.SELECT,
			});
			const stored = new Map(rows.map((r) => [r.key, r.value]));
			return Object.fromEntries(
				Object.entries(P.SETTINGS).map(([k, v]) => [k, stored.has(k) ? stored.get(k) : v.default]),
			) as unknown as SystemSettings;
		},

		async readSnapshot(): Promise<SettingsSnapshot> {
			// The database clock first: a snapshot read later always carries a larger version.
			const [{ version }] = await this.db.query<{ version: number }>(
				`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS version`,
				{ type: QueryTypes.SELECT },
			);
			const [settings, windows] = await Promise.all([
				this.currentSettings(),
				this.db.query<{ id: string; startsAt: Date; endsAt: Date; message: string }>(
					`SELECT id, starts_at AS "startsAt", ends_at AS "endsAt", message FROM admin.maintenance_windows WHERE deleted_at IS NULL AND ends_at > now() ORDER BY starts_at LIMIT 20`,
					{ type: QueryTypes.SELECT },
				),
			]);
			return {
				settings,
				maintenance: windows.map((w) => ({
					id: w.id,
					startsAt: w.startsAt.toISOString(),
					endsAt: w.endsAt.toISOString(),
					message: w.message,
				})),
				version,
			};
		},

		tickNotices() {
			this.noticing ??= sendDueNotices(this.db, this.broker, config().maintenanceNoticeMinutes)
				.catch((err: unknown) => this.logger.warn("Maintenance notices failed; retried on the next tick", err))
				.finally(() => (this.noticing = undefined));
			return this.noticing;
		},

		async publishSnapshot() {
			const snapshot = await this.readSnapshot();
			applySettings(this.broker, snapshot);
			await this.broker.broadcast(INTERNAL_EVENTS.settingsChanged, snapshot);
		},

		upcomingMaintenance() {
			return this.db.query(
				`SELECT ${MAINTENANCE_COLUMNS} FROM admin.maintenance_windows WHERE deleted_at IS NULL AND ends_at > now() ORDER BY starts_at LIMIT 20`,
				{ type: QueryTypes.SELECT },
			);
		},
	},

	async started() {
		// Nodes that started before this one hold defaults until they hear from it.
		await this.publishSnapshot().catch((err: unknown) =>
			this.logger.warn("Settings broadcast at start failed; nodes refresh on their own", err),
		);
		this.noticeTimer = setInterval(() => {
			void this.tickNotices();
		}, NOTICE_TICK_MS);
		this.noticeTimer.unref();
	},

	async stopped() {
		if (this.noticeTimer) clearInterval(this.noticeTimer);
		await this.noticing;
	},
};

export default defineService(schema);
