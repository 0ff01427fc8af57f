/**
 * analytics.forecast: GET /api/v1/analytics/inventory/waste-forecast?shopId=&days=7 (issue #15).
 * The lots and sales it needs live in sales, so sales computes it (sales.forecast.wasteForecast)
 * and this route scopes the caller and adds flavor names. EXECUTIVE/ADMIN any shop; a CLERK
 * the shops they are manager or clerk of (another: 403).
 */
import type { Context, ServiceSettingSchema } from "moleculer";
import { RETRY_READS } from "../../lib/actions";
import { STRICT, isoDate, uuid, type Infer } from "../../lib/params";
import type { Meta } from "../../lib/types";
import { AnalyticsBase, type BaseThis } from "./base";
import { defineService, type ServiceDefinition } from "../../lib/service";

const wasteForecastParams = {
	...STRICT,
	shopId: uuid,
	days: { type: "number", integer: true, min: 1, max: 60, default: 7, convert: true },
	asOf: { ...isoDate, optional: true },
} as const;
type WasteForecastParams = Infer<typeof wasteForecastParams>;

interface Forecast {
	lots: { flavorId: string }[];
}

const schema: ServiceDefinition<ServiceSettingSchema, BaseThis> = {
	name: "analytics.forecast",
	mixins: [AnalyticsBase()],
	settings: { rest: "/analytics" },

	actions: {
		wasteForecast: {
			rest: "GET /inventory/waste-forecast",
			roles: ["CLERK", "EXECUTIVE", "ADMIN"],
			retryPolicy: RETRY_READS,
			summary:
				"Per lot expiring within ?days= (default 7): projected unsold at expiry (on hand − expected sales, trailing 28-day weekday velocity, FEFO), value at cost, suggested action (TRANSFER/MARKDOWN/ORDER_LESS); ?asOf= for backtests",
			params: wasteForecastParams,
			async handler(ctx: Context<WasteForecastParams, Meta>) {
				await this.dir().shopScope(ctx, ctx.params.shopId);
				const forecast = await ctx.call<Forecast & Record<string, unknown>, WasteForecastParams>(
					"sales.forecast.wasteForecast",
					ctx.params,
				);
				return { ...forecast, lots: await this.withFlavors(ctx, forecast.lots) };
			},
		},
	},
};

export default defineService(schema);
