/**
 * analytics.sales: sales, revenue and location analytics (docs/spec.md section 6), served under
 * /api/v1/analytics (paths as in the spec: /api/v1/analytics/analytics/sales, ...).
 * EXECUTIVE/ADMIN see the chain (or one shop with ?shopId=); a CLERK sees the shops they
 * are assigned to (another shop: 403). Ranges: ?from=&to= UTC days, default the last 30.
 */
import type { ServiceSettingSchema } from "moleculer";
import { RETRY_READS } from "../../lib/actions";
import type { Ctx, Role } from "../../lib/types";
import { AnalyticsBase, type BaseThis } from "./base";
import { dateRange, type Range } from "./scope";
import { gridCells, placeShops, shopFeatures } from "./geo";
import * as Q from "./queries";
import * as P from "./analytics.params";
import { defineService, type ServiceDefinition } from "../../lib/service";

type This = BaseThis & {
	placeShops(ctx: Ctx<unknown>, range: Range, shopId?: string): Promise<ReturnType<typeof placeShops> & { totalRevenue: number }>;
};
const SHOP_ROLES: readonly Role[] = ["CLERK", "EXECUTIVE", "ADMIN"];

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "analytics.sales",
	mixins: [AnalyticsBase()],
	settings: { rest: "/analytics" },

	actions: {
		sales: {
			rest: "GET /analytics/sales",
			roles: SHOP_ROLES,
			retryPolicy: RETRY_READS,
			summary: "Revenue, transactions, items sold, average basket and per-shop figures for ?from=&to= (optional ?shopId=)",
			params: P.shopRangeParams,
			async handler(ctx: Ctx<P.ShopRangeParams>) {
				const range = dateRange(ctx.params);
				const res = await Q.salesSummary(this.db, range, await this.dir().shopScope(ctx, ctx.params.shopId));
				return { ...res, byShop: await this.withShops(ctx, res.byShop) };
			},
		},
		trends: {
			rest: "GET /analytics/sales/trends",
			roles: SHOP_ROLES,
			retryPolicy: RETRY_READS,
			summary: "Revenue and transactions per day or per ISO week (?interval=day|week) over ?from=&to=, every period present",
			params: P.trendParams,
			async handler(ctx: Ctx<P.TrendParams>) {
				return Q.salesTrends(
					this.db,
					dateRange(ctx.params),
					await this.dir().shopScope(ctx, ctx.params.shopId),
					ctx.params.interval,
				);
			},
		},
		products: {
			rest: "GET /analytics/sales/products",
			roles: SHOP_ROLES,
			retryPolicy: RETRY_READS,
			summary: "Flavors by units sold with their revenue over ?from=&to= (?limit=, ?shopId=)",
			params: P.productParams,
			async handler(ctx: Ctx<P.ProductParams>) {
				const res = await Q.productPerformance(
					this.db,
					dateRange(ctx.params),
					await this.dir().shopScope(ctx, ctx.params.shopId),
					ctx.params.limit,
				);
				return { ...res, products: await this.withFlavors(ctx, res.products) };
			},
		},
		revenue: {
			rest: "GET /analytics/revenue",
			roles: SHOP_ROLES,
			retryPolicy: RETRY_READS,
			summary: "Revenue for ?from=&to=, against the preceding period of the same length, by payment method and by day",
			params: P.shopRangeParams,
			async handler(ctx: Ctx<P.ShopRangeParams>) {
				return Q.revenue(this.db, dateRange(ctx.params), await this.dir().shopScope(ctx, ctx.params.shopId));
			},
		},
		locations: {
			rest: "GET /analytics/locations",
			roles: SHOP_ROLES,
			retryPolicy: RETRY_READS,
			summary: "Per shop (name, address): revenue, transactions, average basket, average rating over ?from=&to=",
			params: P.shopRangeParams,
			async handler(ctx: Ctx<P.ShopRangeParams>) {
				const range = dateRange(ctx.params);
				const rows = await Q.locations(this.db, range, await this.dir().shopScope(ctx, ctx.params.shopId));
				return { ...range, shops: await this.withShops(ctx, rows) };
			},
		},
		map: {
			rest: "GET /analytics/locations/map",
			roles: SHOP_ROLES,
			retryPolicy: RETRY_READS,
			summary:
				"GeoJSON FeatureCollection: every shop in scope with coordinates as a Point with its figures over ?from=&to=; shops without coordinates listed apart in `unlocated`",
			params: P.shopRangeParams,
			async handler(ctx: Ctx<P.ShopRangeParams>) {
				const range = dateRange(ctx.params);
				const { located, unlocated, totalRevenue } = await this.placeShops(ctx, range, ctx.params.shopId);
				return { ...shopFeatures(located, totalRevenue), ...range, totalRevenue, unlocated };
			},
		},
		heatmap: {
			rest: "GET /analytics/locations/heatmap",
			roles: SHOP_ROLES,
			retryPolicy: RETRY_READS,
			summary:
				"GeoJSON grid: shops binned into square cells of ?cellSize= degrees (default 0.05), one Polygon per non-empty cell with revenue, transactions, shops, intensity; shops without coordinates in `unlocated`",
			params: P.heatmapParams,
			async handler(ctx: Ctx<P.HeatmapParams>) {
				const range = dateRange(ctx.params);
				const { located, unlocated, totalRevenue } = await this.placeShops(ctx, range, ctx.params.shopId);
				return { ...gridCells(located, ctx.params.cellSize), ...range, cellSize: ctx.params.cellSize, totalRevenue, unlocated };
			},
		},
		hours: {
			rest: "GET /analytics/locations/hours",
			roles: SHOP_ROLES,
			retryPolicy: RETRY_READS,
			summary: "Shop × hour of day (UTC, 0–23) or × ISO weekday (?by=weekday, 1 = Monday) matrix of revenue and transactions",
			params: P.hoursParams,
			async handler(ctx: Ctx<P.HoursParams>) {
				const res = await Q.heatmap(
					this.db,
					dateRange(ctx.params),
					await this.dir().shopScope(ctx, ctx.params.shopId),
					ctx.params.by,
				);
				return { ...res, rows: await this.withShops(ctx, res.rows) };
			},
		},
	},

	methods: {
		/** Every shop in the caller's scope (chain-wide: all live shops) with its figures, split by whether it has coordinates. */
		async placeShops(ctx: Ctx<unknown>, range: Range, shopId?: string) {
			const scope = await this.dir().shopScope(ctx, shopId);
			const figures = await Q.locations(this.db, range, scope);
			const ids = scope ?? (await this.dir().allShopIds(ctx));
			const info = await this.dir().shopInfo(ctx, [...ids, ...figures.map((f) => f.shopId)]);
			return { ...placeShops(ids, figures, info), totalRevenue: figures.reduce((n, f) => n + f.revenue, 0) };
		},
	},
};

export default defineService(schema);
