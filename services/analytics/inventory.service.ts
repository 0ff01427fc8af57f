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
import { call } from "../../lib/contracts";

type This = BaseThis;
const FACTORY_ROLES: readonly Role[] = ["MANUFACTURER", "EXECUTIVE", "ADMIN"];

interface SupplierRow {
	id: string;
	name: string;
	specialties: string[];
	rating: number | null;
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
				const res = await Q.inventoryInsights(this.db, dateRange(ctx.params), await this.dir().factoryScope(ctx, ctx.params.factoryId), null);
				return { ...res, lowStockAlerts: await this.withFlavors(ctx, await this.withShops(ctx, res.lowStockAlerts)) };
			},
		},
		turnover: {
			rest: "GET /analytics/inventory/turnover",
			roles: FACTORY_ROLES,
			retryPolicy: RETRY_READS,
			summary: "Per flavor: units produced, units sold and turnover (sold / produced) over ?from=&to=",
			params: P.factoryRangeParams,
			async handler(ctx: Ctx<P.FactoryRangeParams>) {
				const res = await Q.turnover(this.db, dateRange(ctx.params), await this.dir().factoryScope(ctx, ctx.params.factoryId));
				return { ...res, flavors: await this.withFlavors(ctx, res.flavors) };
			},
		},
		waste: {
			rest: "GET /analytics/inventory/waste",
			roles: FACTORY_ROLES,
			retryPolicy: RETRY_READS,
			summary: "Stock expired (units, value at cost) and at risk, from expiry warnings, by factory and flavor, expiry dates in ?from=&to=",
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
			summary: "Suppliers ranked by rating (from inventory.suppliers), with the average rating and the count per specialty",
			params: P.rangeParams,
			async handler(ctx: Ctx<P.RangeParams>) {
				const range = dateRange(ctx.params);
				const suppliers: SupplierRow[] = [];
				for (let page = 1; page <= 20; page++) {
					const res = await call(ctx, "inventory.suppliers.list", { page, pageSize: 100, sort: "-rating" });
					suppliers.push(...res.rows);
					if (page >= res.totalPages) break;
				}
				const rated = suppliers.filter((s) => s.rating !== null);
				const specialties = new Map<string, number>();
				for (const s of suppliers) for (const sp of s.specialties ?? []) specialties.set(sp, (specialties.get(sp) ?? 0) + 1);
				return {
					...range,
					supplierCount: suppliers.length,
					averageRating: rated.length ? Math.round((rated.reduce((n, s) => n + Number(s.rating), 0) / rated.length) * 100) / 100 : null,
					bySpecialty: [...specialties].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([specialty, count]) => ({ specialty, count })),
					suppliers: suppliers.map((s) => ({ id: s.id, name: s.name, rating: s.rating, specialties: s.specialties })),
				};
			},
		},
	},
};

export default defineService(schema);
