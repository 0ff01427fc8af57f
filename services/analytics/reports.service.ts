/**
 * analytics.reports: custom reports (docs/spec.md section 6, "Custom Reports"). EXECUTIVE/ADMIN only.
 * A report is computed once and stored with its JSON result; schedules (DAILY at 00:00 UTC,
 * WEEKLY on Monday 00:00 UTC) are run by a timer every minute, or by the internal `runDue` action.
 */
import type { ServiceSettingSchema } from "moleculer";
import { Op } from "sequelize";
import { AuditMixin } from "../../mixins/audit.mixin";
import { RETRY_READS, respondCreated } from "../../lib/actions";
import { notFound, validationError } from "../../lib/errors";
import type { Ctx, Role } from "../../lib/types";
import { AnalyticsBase, type BaseThis } from "./base";
import { dateRange } from "./scope";
import { computeReport, firstRun, nextRun, periodBefore, type ReportFilters } from "./reports";
import type { Report, ReportSchedule } from "./analytics.model";
import * as P from "./analytics.params";
import { defineService, type ServiceDefinition } from "../../lib/service";

const RUN_EVERY_MS = 60_000;
const ROLES: readonly Role[] = ["EXECUTIVE", "ADMIN"];

interface Methods {
	runDue(now: Date): Promise<{ generated: string[] }>;
}
type This = BaseThis & Methods & { timer?: NodeJS.Timeout; running?: Promise<unknown> };

const reportJson = (r: Report) => ({
	id: r.id,
	type: r.type,
	from: r.dateFrom,
	to: r.dateTo,
	filters: r.filters,
	scheduleId: r.scheduleId,
	createdBy: r.createdBy,
	createdAt: r.createdAt.toISOString(),
	result: r.result,
});
const scheduleJson = (s: ReportSchedule) => ({
	id: s.id,
	type: s.type,
	interval: s.interval,
	filters: s.filters,
	createdBy: s.createdBy,
	nextRunAt: s.nextRunAt.toISOString(),
	lastRunAt: s.lastRunAt ? s.lastRunAt.toISOString() : null,
	createdAt: s.createdAt.toISOString(),
});

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "analytics.reports",
	mixins: [AnalyticsBase(), AuditMixin],
	settings: { rest: "/analytics" },

	actions: {
		generate: {
			rest: "POST /reports/generate",
			roles: ROLES,
			audit: true,
			summary:
				"Compute a report (SALES, PRODUCTS, REVENUE, INVENTORY, WASTE, LOCATIONS) for from–to (UTC days) and filters { shopId?, factoryId? }; stored, 201",
			params: P.generateParams,
			async handler(ctx: Ctx<P.GenerateParams>) {
				const range = dateRange(ctx.params);
				const filters = (ctx.params.filters ?? {}) as ReportFilters;
				const result = await computeReport(this.db, ctx.params.type, range, filters);
				const report = await this.models.Report.create({
					type: ctx.params.type,
					dateFrom: range.from,
					dateTo: range.to,
					filters,
					result,
					createdBy: ctx.meta.user?.id ?? null,
					scheduleId: null,
				});
				respondCreated(ctx, `/api/v1/analytics/reports/${report.id}`);
				return reportJson(report);
			},
		},
		scheduled: {
			rest: "GET /reports/scheduled",
			roles: ROLES,
			retryPolicy: RETRY_READS,
			summary: "Scheduled reports with their next and last run",
			params: {},
			async handler() {
				const rows = await this.models.ReportSchedule.findAll({
					order: [
						["createdAt", "DESC"],
						["id", "ASC"],
					],
				});
				return { rows: rows.map(scheduleJson), total: rows.length };
			},
		},
		get: {
			rest: "GET /reports/:reportId",
			roles: ROLES,
			retryPolicy: RETRY_READS,
			summary: "One stored report with its computed result",
			params: P.reportIdParams,
			async handler(ctx: Ctx<P.ReportIdParams>) {
				const report = await this.models.Report.findByPk(ctx.params.reportId);
				if (!report) throw notFound("Report", ctx.params.reportId);
				return reportJson(report);
			},
		},
		schedule: {
			rest: "POST /reports/schedule",
			roles: ROLES,
			audit: true,
			summary:
				"Schedule a recurring report: { type, interval: DAILY|WEEKLY, filters }; each run covers the completed day or week before it; 201",
			params: P.scheduleParams,
			async handler(ctx: Ctx<P.ScheduleParams>) {
				const s = await this.models.ReportSchedule.create({
					type: ctx.params.type,
					interval: ctx.params.interval,
					filters: (ctx.params.filters ?? {}) as ReportFilters,
					createdBy: ctx.meta.user?.id ?? null,
					nextRunAt: firstRun(ctx.params.interval, new Date()),
					lastRunAt: null,
					deletedAt: null,
				});
				respondCreated(ctx, `/api/v1/analytics/reports/scheduled`);
				return scheduleJson(s);
			},
		},

		// ---- internal (no REST route) ----

		/** Generates every schedule due at `now` (default: the current time); returns the new report ids. */
		runDue: {
			visibility: "public",
			params: P.runDueParams,
			async handler(ctx: Ctx<P.RunDueParams>) {
				const now = ctx.params.now ? new Date(ctx.params.now) : new Date();
				if (Number.isNaN(now.getTime())) throw validationError("now", "'now' must be an ISO date-time");
				return this.runDue(now);
			},
		},
	},

	methods: {
		async runDue(now: Date) {
			const generated: string[] = [];
			for (;;) {
				// One schedule per transaction, locked: several analytics nodes never run the same one twice.
				const id = await this.transaction(async (t) => {
					const s = await this.models.ReportSchedule.findOne({
						where: { nextRunAt: { [Op.lte]: now } },
						order: [["nextRunAt", "ASC"]],
						lock: t.LOCK.UPDATE,
						skipLocked: true,
						transaction: t,
					});
					if (!s) return null;
					const range = periodBefore(s.interval, s.nextRunAt);
					const result = await computeReport(this.db, s.type, range, s.filters as ReportFilters);
					const report = await this.models.Report.create(
						{
							type: s.type,
							dateFrom: range.from,
							dateTo: range.to,
							filters: s.filters,
							result,
							createdBy: s.createdBy,
							scheduleId: s.id,
						},
						{ transaction: t },
					);
					await s.update({ lastRunAt: now, nextRunAt: nextRun(s.interval, s.nextRunAt, now) }, { transaction: t });
					return report.id;
				});
				if (!id) break;
				generated.push(id);
			}
			if (generated.length) this.logger.info(`Scheduled reports: ${generated.length} generated`);
			return { generated };
		},
	},

	started() {
		this.timer = setInterval(() => {
			if (this.running) return;
			this.running = this.runDue(new Date())
				.catch((err: unknown) => this.logger.error("Scheduled reports failed", err))
				.finally(() => (this.running = undefined));
		}, RUN_EVERY_MS);
		this.timer.unref();
	},

	async stopped() {
		if (this.timer) clearInterval(this.timer);
		await this.running;
	},
};

export default defineService(schema);
