/**
 * inventory.analytics: factory production metrics (GET /factories/:factoryId/analytics,
 * computed in SQL: ./analytics.sql.ts) and consumption recorded from SALE_COMPLETED
 * (units sold per shop, flavor and day, idempotent by event id), readable at GET /consumption.
 */
import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { ConsumerMixin, type ConsumerThis } from "../../mixins/consumer.mixin";
import { forbidden, notFound, validationError } from "../../lib/errors";
import { RETRY_READS } from "../../lib/actions";
import { config } from "../../lib/config";
import { pageParams, toPage } from "../../lib/pagination";
import { STRICT, isoDate, uuid, type Infer } from "../../lib/params";
import type { EventEnvelope, EventName } from "../../lib/events";
import type { Meta } from "../../lib/types";
import { defineInventoryModels, type InventoryModels } from "./inventory.model";
import { seesInternals } from "./access";
import { addDays, today } from "./dates";
import { factoryAnalytics } from "./analytics.sql";

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

type This = Service & DbThis<InventoryModels> & ConsumerThis;
type Ctx<P> = Context<P, Meta>;

/** from/to default to the 30 days up to today; from after to is 422. */
function range(from: string | undefined, to: string | undefined): { from: string; to: string } {
	const end = to ?? today();
	const start = from ?? addDays(end, -29);
	if (start > end) throw validationError("from", "'from' must not be after 'to'.", "dateOrder");
	return { from: start, to: end };
}

const schema: ServiceSchema<ServiceSettingSchema, This> = {
	name: "inventory.analytics",
	mixins: [DbMixin({ schema: "inventory", models: defineInventoryModels, primary: "Factory" }), ConsumerMixin],
	settings: { rest: "/inventory" },

	actions: {
		factory: {
			rest: "GET /factories/:factoryId/analytics",
			roles: ["EXECUTIVE", "ADMIN", "MANUFACTURER"],
			retryPolicy: RETRY_READS,
			summary: "Production per flavor and period, stock value, expiring soon, waste, budget spent vs allocated, demand (?from&to&period=day|week|month)",
			params: analyticsParams,
			async handler(this: This, ctx: Ctx<Infer<typeof analyticsParams>>) {
				const factory = await this.models.Factory.findByPk(ctx.params.factoryId);
				if (!factory) throw notFound("Factory", ctx.params.factoryId);
				if (!seesInternals(ctx.meta.user, factory)) throw forbidden("Only this factory's manager or an executive may see its analytics");
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
			async handler(this: This, ctx: Ctx<Infer<typeof consumptionParams>>) {
				const { from, to } = range(ctx.params.from, ctx.params.to);
				const { shopId, flavorId, page, pageSize } = ctx.params;
				const sort = ctx.params.sort ?? "-day";
				const orderBy = `${sort.replace(/^-/, "")} ${sort.startsWith("-") ? "DESC" : "ASC"}`; // allow-listed by the params schema
				const filters = ["day BETWEEN CAST(:from AS DATE) AND CAST(:to AS DATE)", ...(shopId ? ["shop_id = :shopId"] : []), ...(flavorId ? ["flavor_id = :flavorId"] : [])].join(" AND ");
				const replacements = { from, to, shopId: shopId ?? null, flavorId: flavorId ?? null, limit: pageSize, offset: (page - 1) * pageSize };
				const table = `"${this.dbSchema}".consumption_daily`;
				const [rows, [{ total }]] = await Promise.all([
					this.db.query<{ shop_id: string; flavor_id: string; day: string; quantity: string; revenue: string; sales: number }>(
						`SELECT shop_id, flavor_id, to_char(day, 'YYYY-MM-DD') AS day, quantity, revenue, sales FROM ${table}
						 WHERE ${filters} ORDER BY ${orderBy}, shop_id, flavor_id LIMIT :limit OFFSET :offset`,
						{ replacements, type: QueryTypes.SELECT },
					),
					this.db.query<{ total: string }>(`SELECT COUNT(*) AS total FROM ${table} WHERE ${filters}`, { replacements, type: QueryTypes.SELECT }),
				]);
				return toPage(
					rows.map((r) => ({ shopId: r.shop_id, flavorId: r.flavor_id, day: r.day, quantity: Number(r.quantity), revenue: Number(r.revenue), sales: r.sales })),
					Number(total),
					ctx.params,
				);
			},
		},
	},

	events: {
		["SALE_COMPLETED" satisfies EventName]: {
			async handler(this: This, ctx: Context<EventEnvelope<"SALE_COMPLETED">>) {
				const event = ctx.params;
				const sale = event.data;
				const day = (sale.createdAt ?? event.occurredAt).slice(0, 10);
				const perFlavor = new Map<string, { quantity: number; revenue: number }>();
				for (const line of sale.items) {
					const acc = perFlavor.get(line.flavorId) ?? { quantity: 0, revenue: 0 };
					acc.quantity += line.quantity;
					acc.revenue += line.lineTotal;
					perFlavor.set(line.flavorId, acc);
				}
				await this.consumeOnce("inventory.consumption", event, async (t) => {
					for (const [flavorId, { quantity, revenue }] of perFlavor) {
						await this.db.query(
							`INSERT INTO "${this.dbSchema}".consumption_daily (shop_id, flavor_id, day, quantity, revenue, sales)
							 VALUES (:shopId, :flavorId, :day, :quantity, :revenue, 1)
							 ON CONFLICT (shop_id, flavor_id, day) DO UPDATE
							 SET quantity = consumption_daily.quantity + EXCLUDED.quantity, revenue = consumption_daily.revenue + EXCLUDED.revenue,
							     sales = consumption_daily.sales + 1, updated_at = now()`,
							{ replacements: { shopId: sale.shopId, flavorId, day, quantity, revenue }, transaction: t },
						);
					}
				});
			},
		},
	},
};

export default schema as ServiceSchema;
