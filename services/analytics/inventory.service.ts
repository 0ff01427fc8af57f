/**
 * analytics.inventory: production, turnover, waste and supplier analytics (docs/spec.md section 6).
 * EXECUTIVE/ADMIN see every factory (or one with ?factoryId=); a MANUFACTURER sees the factories
 * they manage (another factory: 403). Low-stock alerts are shown chain-wide to manufacturers
 * (they supply every shop) and scoped for clerks is not offered here (no CLERK access).
 */
import type { ServiceSettingSchema } from "moleculer";
import { RETRY_READS } from "../../lib/actions";
import type { Ctx, Role } from "../../lib/types";
import { AnalyticsBase, type BaseThis } from "./base";
import { dateRange } from "./scope";
import * as Q from "./queries";
import * as P from "./analytics.params";
import { defineService, type ServiceDefinition } from "../../lib/service";
import { call, type SupplierPerformance, type TurnoverRow } from "../../lib/contracts";

type This = BaseThis;
const FACTORY_ROLES: readonly Role[] = ["MANUFACTURER", "EXECUTIVE", "ADMIN"];

/** sold / produced, two decimals; null when nothing was produced. */
const rate = (sold: number, produced: number) => (produced > 0 ? Math.round((sold * 100) / produced) / 100 : null);

type Totals = Pick<TurnoverRow, "produced" | "shipped" | "sold" | "revenue">;

/** Sums turnover rows by `key` (sorted by units sold, then key). */
function sumBy<K extends "factoryId" | "flavorId">(
	rows: TurnoverRow[],
	key: K,
): (Record<K, string> & Totals & { turnover: number | null })[] {
	const acc = new Map<string, Totals>();
	for (const r of rows) {
		const a = acc.get(r[key]) ?? { produced: 0, shipped: 0, sold: 0, revenue: 0 };
		a.produced += r.produced;
		a.shipped += r.shipped;
		a.sold += r.sold;
		a.revenue += r.revenue;
		acc.set(r[key], a);
	}
	return [...acc]
		.sort(([x, a], [y, b]) => b.sold - a.sold || (x < y ? -1 : 1))
		.map(([id, a]) => ({ ...({ [key]: id } as Record<K, string>), ...a, turnover: rate(a.sold, a.produced) }));
}

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "analytics.inventory",
	mixins: [AnalyticsBase()],
	settings: { rest: "/analytics" },

	actions: {
		inventory: {
			rest: "GET /analytics/inventory",
			roles: FACTORY_ROLES,
			retryPolicy: RETRY_READS,
			summary: "Stock produced (batches, units, cost) per factory and low-stock alerts per shop and flavor over ?from=&to=",
			params: P.factoryRangeParams,
			async handler(ctx: Ctx<P.FactoryRangeParams>) {
				const res = await Q.inventoryInsights(
					this.db,
					dateRange(ctx.params),
					await this.dir().factoryScope(ctx, ctx.params.factoryId),
					null,
				);
				return { ...res, lowStockAlerts: await this.withFlavors(ctx, await this.withShops(ctx, res.lowStockAlerts)) };
			},
		},
		turnover: {
			rest: "GET /analytics/inventory/turnover",
			roles: FACTORY_ROLES,
			retryPolicy: RETRY_READS,
			summary:
				"Per flavor and per factory: units produced, shipped to shops (invoice allocations) and sold at shops from the factory's batches; turnover = sold / produced, over ?from=&to=",
			params: P.factoryRangeParams,
			async handler(ctx: Ctx<P.FactoryRangeParams>) {
				const range = dateRange(ctx.params);
				const scope = await this.dir().factoryScope(ctx, ctx.params.factoryId);
				const rows = await call(ctx, "inventory.turnover.byFactory", { ...range, factoryIds: scope });
				return { ...range, flavors: await this.withFlavors(ctx, sumBy(rows, "flavorId")), byFactory: sumBy(rows, "factoryId") };
			},
		},
		waste: {
			rest: "GET /analytics/inventory/waste",
			roles: FACTORY_ROLES,
			retryPolicy: RETRY_READS,
			summary:
				"Stock written off (STOCK_WRITTEN_OFF at shops and factories) in ?from=&to=: units and value at cost, by reason, factory and flavor; plus units warned about (at risk)",
			params: P.factoryRangeParams,
			async handler(ctx: Ctx<P.FactoryRangeParams>) {
				const res = await Q.waste(this.db, dateRange(ctx.params), await this.dir().factoryScope(ctx, ctx.params.factoryId));
				return { ...res, items: await this.withFlavors(ctx, res.items) };
			},
		},
		suppliers: {
			rest: "GET /analytics/suppliers",
			roles: FACTORY_ROLES,
			retryPolicy: RETRY_READS,
			summary:
				"Supplier performance from recorded deliveries received in ?from=&to=: on-time rate, rejection rate, lead time (a MANUFACTURER: deliveries to their factories)",
			params: P.factoryRangeParams,
			async handler(ctx: Ctx<P.FactoryRangeParams>) {
				const range = dateRange(ctx.params);
				const scope = await this.dir().factoryScope(ctx, ctx.params.factoryId);
				const suppliers = await call(ctx, "inventory.deliveries.performance", { ...range, factoryIds: scope });
				const sum = (f: (s: SupplierPerformance) => number) => suppliers.reduce((n, s) => n + f(s), 0);
				const deliveries = sum((s) => s.deliveries);
				const units = sum((s) => s.unitsReceived);
				const ratio = (n: number, d: number) => (d ? Math.round((n * 10000) / d) / 10000 : null);
				return {
					...range,
					supplierCount: suppliers.length,
					deliveries,
					onTimeRate: ratio(
						sum((s) => s.onTimeDeliveries),
						deliveries,
					),
					rejectionRate: ratio(
						sum((s) => s.unitsRejected),
						units,
					),
					suppliers: suppliers.sort(
						(a, b) =>
							(b.onTimeRate ?? 0) - (a.onTimeRate ?? 0) ||
							(a.rejectionRate ?? 0) - (b.rejectionRate ?? 0) ||
							a.name.localeCompare(b.name),
					),
				};
			},
		},
	},
};

export default defineService(schema);
