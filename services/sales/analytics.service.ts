/**
 * sales.analytics: one shop's performance for a date range, computed in SQL
 * (docs/spec.md section 2, GET /shops/:shopId/analytics). Days are UTC.
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { validationError } from "../../lib/errors";
import { RETRY_READS } from "../../lib/actions";
import type { Ctx } from "../../lib/types";
import { defineSalesModels, type SalesModels } from "./sales.model";
import * as P from "./sales.params";
import { defineService, type ServiceDefinition } from "../../lib/service";

type This = Service & DbThis<SalesModels>;

const DAY_MS = 86_400_000;
const MAX_RANGE_DAYS = 366;

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "sales.analytics",
	mixins: [DbMixin({ schema: "sales", models: defineSalesModels })],
	settings: { rest: "/sales" },

	actions: {
		shop: {
			rest: "GET /shops/:shopId/analytics",
			roles: ["CLERK", "EXECUTIVE", "ADMIN"],
			access: { shop: "shopId" },
			retryPolicy: RETRY_READS,
			summary:
				"Revenue, transaction count, average basket, top flavors and daily figures for ?from=&to= (UTC days; default the last 30)",
			params: P.analyticsParams,
			async handler(ctx: Ctx<P.AnalyticsParams>) {
				const { shopId, top } = ctx.params;
				const to = ctx.params.to ?? new Date().toISOString().slice(0, 10);
				const from = ctx.params.from ?? new Date(Date.parse(to) - 29 * DAY_MS).toISOString().slice(0, 10);
				if (from > to) throw validationError("from", "'from' must not be after 'to'", "range");
				if ((Date.parse(to) - Date.parse(from)) / DAY_MS >= MAX_RANGE_DAYS)
					throw validationError("from", `The range may span at most ${MAX_RANGE_DAYS} days`, "range");
				const r = { shopId, from, to, top };
				const range = `t.shop_id = :shopId AND t.occurred_at >= (:from::date AT TIME ZONE 'UTC') AND t.occurred_at < ((:to::date + 1) AT TIME ZONE 'UTC')`;
				const [totals] = await this.db.query<{ revenue: string; transactionCount: number; itemsSold: string }>(
					`SELECT COALESCE(sum(t.total_amount), 0) AS revenue, count(*)::int AS "transactionCount",
					        COALESCE((SELECT sum(i.quantity) FROM sales.transaction_items i JOIN sales.transactions t ON t.id = i.transaction_id WHERE ${range}), 0) AS "itemsSold"
					   FROM sales.transactions t WHERE ${range}`,
					{ replacements: r, type: QueryTypes.SELECT },
				);
				const topFlavors = await this.db.query<{ flavorId: string; name: string; quantity: string; revenue: string }>(
					`SELECT i.flavor_id AS "flavorId", max(i.flavor_name) AS name, sum(i.quantity) AS quantity, sum(i.line_total) AS revenue
					   FROM sales.transaction_items i JOIN sales.transactions t ON t.id = i.transaction_id
					  WHERE ${range} GROUP BY i.flavor_id ORDER BY sum(i.quantity) DESC, sum(i.line_total) DESC, i.flavor_id LIMIT :top`,
					{ replacements: r, type: QueryTypes.SELECT },
				);
				const byDay = await this.db.query<{ date: string; revenue: string; transactionCount: number }>(
					`SELECT to_char(d.day, 'YYYY-MM-DD') AS date, COALESCE(sum(t.total_amount), 0) AS revenue, count(t.id)::int AS "transactionCount"
					   FROM generate_series(:from::date, :to::date, interval '1 day') d(day)
					   LEFT JOIN sales.transactions t ON t.shop_id = :shopId AND t.occurred_at >= (d.day AT TIME ZONE 'UTC') AND t.occurred_at < ((d.day + interval '1 day') AT TIME ZONE 'UTC')
					  GROUP BY d.day ORDER BY d.day`,
					{ replacements: r, type: QueryTypes.SELECT },
				);
				const revenue = Number(totals.revenue);
				return {
					shopId,
					from,
					to,
					revenue,
					transactionCount: totals.transactionCount,
					averageBasket: totals.transactionCount ? Math.round(revenue / totals.transactionCount) : 0,
					itemsSold: Number(totals.itemsSold),
					topFlavors: topFlavors.map((f) => ({
						flavorId: f.flavorId,
						name: f.name,
						quantity: Number(f.quantity),
						revenue: Number(f.revenue),
					})),
					byDay: byDay.map((d) => ({ date: d.date, revenue: Number(d.revenue), transactionCount: d.transactionCount })),
				};
			},
		},
	},
};

export default defineService(schema);
