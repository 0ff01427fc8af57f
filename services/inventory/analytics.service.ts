/**
 * inventory.analytics: factory production metrics (GET /factories/:factoryId/analytics,
 * computed in SQL: ./analytics.sql.ts) and consumption recorded from SALE_COMPLETED
 * (units sold per shop, flavor and day), readable at GET /consumption. Sales arrive
 * through the durable stream (mixins/event-stream.mixin.ts), a batch at a time:
 * one upsert per batch, its rows in key order, so it never deadlocks.
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes, type Transaction } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { EventStreamMixin, stream, type EnvelopeOf } from "../../mixins/event-stream.mixin";
import { forbidden, notFound, validationError } from "../../lib/errors";
import { saleDay } from "../../lib/events";
import { RETRY_READS } from "../../lib/actions";
import { config } from "../../lib/config";
import { pageParams, toPage } from "../../lib/pagination";
import { STRICT, isoDate, uuid, type Infer } from "../../lib/params";
import type { Ctx } from "../../lib/types";
import { defineInventoryModels, type InventoryModels } from "./inventory.model";
import { seesInternals } from "./access";
import { addDays, today } from "./dates";
import { factoryAnalytics } from "./analytics.sql";
import { defineService, type ServiceDefinition } from "../../lib/service";

const analyticsParams = {
	...STRICT,
	factoryId: uuid,
	from: { ...isoDate, optional: true },
	to: { ...isoDate, optional: true },
	period: { type: "enum", values: ["day", "week", "month"], default: "week" },
} as const;
const consumptionParams = {
	...STRICT,
	...pageParams(["day", "quantity", "revenue"] as const, 50),
	shopId: { ...uuid, optional: true },
	flavorId: { ...uuid, optional: true },
	from: { ...isoDate, optional: true },
	to: { ...isoDate, optional: true },
} as const;

type This = Service & DbThis<InventoryModels>;

/** from/to default to the 30 days up to today; from after to is 422. */
function range(from: string | undefined, to: string | undefined): { from: string; to: string } {
	const end = to ?? today();
	const start = from ?? addDays(end, -29);
	if (start > end) throw validationError("from", "'from' must not be after 'to'.", "dateOrder");
	return { from: start, to: end };
}

/** A batch of sales folded into one row per (shop, flavor, day), sorted by that key. */
export function consumptionRows(
	events: EnvelopeOf<"SALE_COMPLETED">[],
): { shopId: string; flavorId: string; day: string; quantity: number; revenue: number; sales: number }[] {
	const rows = new Map<string, { shopId: string; flavorId: string; day: string; quantity: number; revenue: number; sales: number }>();
	for (const event of events) {
		const sale = event.data;
		const day = saleDay(event);
		const counted = new Set<string>();
		for (const line of sale.items) {
			const key = `${sale.shopId}|${line.flavorId}|${day}`;
			const row = rows.get(key) ?? { shopId: sale.shopId, flavorId: line.flavorId, day, quantity: 0, revenue: 0, sales: 0 };
			row.quantity += line.quantity;
			row.revenue += line.lineTotal;
			if (!counted.has(key)) row.sales += 1;
			counted.add(key);
			rows.set(key, row);
		}
	}
	return [...rows].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
}

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "inventory.analytics",
	mixins: [DbMixin({ schema: "inventory", models: defineInventoryModels }), EventStreamMixin],
	settings: { rest: "/inventory" },

	actions: {
		factory: {
			rest: "GET /factories/:factoryId/analytics",
			roles: ["EXECUTIVE", "ADMIN", "MANUFACTURER"],
			retryPolicy: RETRY_READS,
			summary:
				"Production per flavor and period, stock value, expiring soon, waste, budget spent vs allocated, demand (?from&to&period=day|week|month)",
			params: analyticsParams,
			async handler(ctx: Ctx<Infer<typeof analyticsParams>>) {
				const factory = await this.models.Factory.findByPk(ctx.params.factoryId);
				if (!factory) throw notFound("Factory", ctx.params.factoryId);
				if (!seesInternals(ctx.meta.user, factory))
					throw forbidden("Only this factory's manager or an executive may see its analytics");
				const { from, to } = range(ctx.params.from, ctx.params.to);
				return factoryAnalytics(this.db, this.dbSchema, {
					factoryId: factory.id,
					from,
					to,
					period: ctx.params.period,
					asOf: today(),
					defaultWarningDays: config().expiryWarningDays,
					budgetAllocated: factory.budgetAllocated,
				});
			},
		},

		consumption: {
			rest: "GET /consumption",
			roles: ["EXECUTIVE", "ADMIN", "MANUFACTURER"],
			retryPolicy: RETRY_READS,
			summary: "Units sold per shop, flavor and day (recorded from completed sales); filter by shopId, flavorId, from, to",
			params: consumptionParams,
			async handler(ctx: Ctx<Infer<typeof consumptionParams>>) {
				const { from, to } = range(ctx.params.from, ctx.params.to);
				const { shopId, flavorId, page, pageSize } = ctx.params;
				const sort = ctx.params.sort ?? "-day";
				const orderBy = `${sort.replace(/^-/, "")} ${sort.startsWith("-") ? "DESC" : "ASC"}`; // allow-listed by the params schema
				const filters = [
					"day BETWEEN CAST(:from AS DATE) AND CAST(:to AS DATE)",
					...(shopId ? ["shop_id = :shopId"] : []),
					...(flavorId ? ["flavor_id = :flavorId"] : []),
				].join(" AND ");
				const replacements = {
					from,
					to,
					shopId: shopId ?? null,
					flavorId: flavorId ?? null,
					limit: pageSize,
					offset: (page - 1) * pageSize,
				};
				const table = `"${this.dbSchema}".consumption_daily`;
				const [rows, [{ total }]] = await Promise.all([
					this.db.query<{ shop_id: string; flavor_id: string; day: string; quantity: string; revenue: string; sales: number }>(
						`SELECT shop_id, flavor_id, to_char(day, 'YYYY-MM-DD') AS day, quantity, revenue, sales FROM ${table}
						 WHERE ${filters} ORDER BY ${orderBy}, shop_id, flavor_id LIMIT :limit OFFSET :offset`,
						{ replacements, type: QueryTypes.SELECT },
					),
					this.db.query<{ total: string }>(`SELECT COUNT(*) AS total FROM ${table} WHERE ${filters}`, {
						replacements,
						type: QueryTypes.SELECT,
					}),
				]);
				return toPage(
					rows.map((r) => ({
						shopId: r.shop_id,
						flavorId: r.flavor_id,
						day: r.day,
						quantity: Number(r.quantity),
						revenue: Number(r.revenue),
						sales: r.sales,
					})),
					Number(total),
					ctx.params,
				);
			},
		},
	},

	streams: [
		stream({
			group: "inventory.consumption",
			types: ["SALE_COMPLETED"],
			async handler(this: This, events, t: Transaction) {
				const rows = consumptionRows(events);
				if (!rows.length) return;
				// One statement; PostgreSQL takes the row locks in VALUES order, which is the sorted key order.
				const values = rows.map((_, i) => `(:s${i}, :f${i}, CAST(:d${i} AS DATE), :q${i}, :r${i}, :n${i})`).join(", ");
				const replacements = Object.fromEntries(
					rows.flatMap((r, i) => [
						[`s${i}`, r.shopId],
						[`f${i}`, r.flavorId],
						[`d${i}`, r.day],
						[`q${i}`, r.quantity],
						[`r${i}`, r.revenue],
						[`n${i}`, r.sales],
					]),
				);
				await this.db.query(
					`INSERT INTO "${this.dbSchema}".consumption_daily (shop_id, flavor_id, day, quantity, revenue, sales) VALUES ${values}
					 ON CONFLICT (shop_id, flavor_id, day) DO UPDATE
					 SET quantity = consumption_daily.quantity + EXCLUDED.quantity, revenue = consumption_daily.revenue + EXCLUDED.revenue,
					     sales = consumption_daily.sales + EXCLUDED.sales, updated_at = now()`,
					{ replacements, transaction: t },
				);
			},
		}),
	],
};

export default defineService(schema);
