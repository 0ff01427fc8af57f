/**
 * analytics.dashboard: role dashboards, KPIs and the real-time view (docs/spec.md section 6, "Dashboard Data").
 * A caller may ask only for their own role's dashboard (ADMIN: any); an ADMIN viewing the CLERK or
 * MANUFACTURER dashboard sees every shop or factory. KPIs and real-time: EXECUTIVE/ADMIN chain-wide,
 * a CLERK their shops.
 */
import type { ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { RETRY_READS } from "../../lib/actions";
import { forbidden } from "../../lib/errors";
import type { Role, Ctx } from "../../lib/types";
import { AnalyticsBase, type BaseThis } from "./base";
import { dateRange, inScope, type Range, type Scope } from "./scope";
import * as Q from "./queries";
import * as P from "./analytics.params";
import { defineService, type ServiceDefinition } from "../../lib/service";

interface Methods {
	shopDashboard(ctx: Ctx<unknown>, range: Range, scope: Scope): Promise<Record<string, unknown>>;
}
type This = BaseThis & Methods;

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "analytics.dashboard",
	mixins: [AnalyticsBase()],
	settings: { rest: "/analytics" },

	actions: {
		kpis: {
			rest: "GET /dashboard/kpis",
			roles: ["CLERK", "EXECUTIVE", "ADMIN"],
			retryPolicy: RETRY_READS,
			summary: "Today's and the last 30 days' revenue, transactions, average basket, average rating, active users (24 h)",
			params: P.rangeParams,
			async handler(ctx: Ctx<P.RangeParams>) {
				const scope = await this.dir().shopScope(ctx);
				const today = new Date().toISOString().slice(0, 10);
				const period = dateRange(ctx.params);
				const [t, p] = await Promise.all([
					Q.salesSummary(this.db, { from: today, to: today }, scope),
					Q.salesSummary(this.db, period, scope),
				]);
				const s = inScope("shop_id", scope);
				const [rating] = await this.db.query<{ rating: number | null; n: string }>(
					`SELECT round(avg(rating), 2)::float8 AS rating, count(*) AS n FROM analytics.review_facts WHERE ${s.sql}`,
					{
						replacements: s.replacements,
						type: QueryTypes.SELECT,
					},
				);
				const [active] = await this.db.query<{ n: string }>(
					`SELECT count(DISTINCT user_id) AS n FROM analytics.user_activity WHERE timestamp > now() - interval '24 hours'`,
					{ type: QueryTypes.SELECT },
				);
				return {
					today: { date: today, revenue: t.revenue, transactionCount: t.transactionCount, averageBasket: t.averageBasket },
					period: {
						from: period.from,
						to: period.to,
						revenue: p.revenue,
						transactionCount: p.transactionCount,
						itemsSold: p.itemsSold,
						averageBasket: p.averageBasket,
					},
					averageRating: rating.rating,
					reviewCount: Number(rating.n),
					/** Chain-wide: only for EXECUTIVE/ADMIN (null for a clerk). */
					activeUsers24h: scope === null ? Number(active.n) : null,
				};
			},
		},
		realTime: {
			rest: "GET /dashboard/real-time",
			roles: ["CLERK", "EXECUTIVE", "ADMIN"],
			retryPolicy: RETRY_READS,
			summary: "Sales of the last ?minutes= (default 15, at most 1440) with the latest 20 transactions",
			params: P.realTimeParams,
			async handler(ctx: Ctx<P.RealTimeParams>) {
				const res = await Q.realTime(this.db, ctx.params.minutes, await this.dir().shopScope(ctx));
				return { ...res, at: new Date().toISOString() };
			},
		},
		role: {
			rest: "GET /dashboard/:role",
			roles: ["PATRON", "CLERK", "MANUFACTURER", "EXECUTIVE", "ADMIN"],
			retryPolicy: RETRY_READS,
			summary:
				"The dashboard of a role (your own; ADMIN any): EXECUTIVE chain revenue, top shops, budgets; CLERK your shops; MANUFACTURER your factories; PATRON your activity",
			params: P.roleParams,
			async handler(ctx: Ctx<P.RoleParams>) {
				const user = ctx.meta.user;
				const role = ctx.params.role as Role;
				if (user && user.role !== "ADMIN" && user.role !== role) throw forbidden("You may only view your own role's dashboard");
				const range = dateRange(ctx.params);
				const asAdmin = !user || user.role === "ADMIN";
				switch (role) {
					case "EXECUTIVE":
					case "ADMIN": {
						const [sales, products, budgets] = await Promise.all([
							Q.salesSummary(this.db, range, null),
							Q.productPerformance(this.db, range, null, 5),
							Q.budgets(this.db, null),
						]);
						return {
							role,
							...range,
							revenue: sales.revenue,
							transactionCount: sales.transactionCount,
							averageBasket: sales.averageBasket,
							topShops: await this.withShops(ctx, sales.byShop.slice(0, 5)),
							topProducts: await this.withFlavors(ctx, products.products),
							budgets,
						};
					}
					case "CLERK": {
						const scope = asAdmin ? null : await this.dir().shopsOf(ctx, user.id);
						return { role, ...range, ...(await this.shopDashboard(ctx, range, scope)) };
					}
					case "MANUFACTURER": {
						const scope = asAdmin ? null : await this.dir().factoriesOf(ctx, user.id);
						const [production, waste, budgets] = await Promise.all([
							Q.inventoryInsights(this.db, range, scope, []),
							Q.waste(this.db, range, scope),
							Q.budgets(this.db, scope),
						]);
						return {
							role,
							...range,
							factoryIds: scope,
							production: production.production,
							byFactory: production.byFactory,
							waste: {
								writtenOffUnits: waste.writtenOffUnits,
								writtenOffValue: waste.writtenOffValue,
								expiredUnits: waste.expiredUnits,
								atRiskUnits: waste.atRiskUnits,
							},
							budgets,
						};
					}
					default:
						return { role, userId: user?.id ?? null, ...(user ? await Q.userActivity(this.db, user.id) : {}) };
				}
			},
		},
	},

	methods: {
		async shopDashboard(ctx: Ctx<unknown>, range: Range, scope: Scope) {
			const [sales, products, inventory] = await Promise.all([
				Q.salesSummary(this.db, range, scope),
				Q.productPerformance(this.db, range, scope, 5),
				Q.inventoryInsights(this.db, range, [], scope),
			]);
			return {
				shopIds: scope,
				revenue: sales.revenue,
				transactionCount: sales.transactionCount,
				averageBasket: sales.averageBasket,
				shops: await this.withShops(ctx, sales.byShop),
				topProducts: await this.withFlavors(ctx, products.products),
				lowStockAlerts: await this.withFlavors(ctx, inventory.lowStockAlerts),
			};
		},
	},
};

export default defineService(schema);
