/**
 * sales.forecast: the waste forecast (served by analytics at
 * GET /api/v1/analytics/inventory/waste-forecast, computed here where lots and sales live) and
 * reorder suggestions (GET /api/v1/sales/shops/:shopId/reorder-suggestions). Math in forecast.ts.
 * Access: EXECUTIVE/ADMIN, or the shop's manager and clerks.
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { validationError } from "../../lib/errors";
import { RETRY_READS } from "../../lib/actions";
import type { Ctx } from "../../lib/types";
import { defineSalesModels, type SalesModels } from "./sales.model";
import { shopForCaller } from "./access";
import {
	VELOCITY_DAYS,
	addDays,
	expectedSales,
	projectLots,
	reorderQuantity,
	round2,
	suggestAction,
	weekdayVelocity,
	type WeekdayVelocity,
} from "./forecast";
import * as P from "./cold-chain.params";
import { defineService, type ServiceDefinition } from "../../lib/service";

interface SellableLot {
	id: string;
	shopId: string;
	flavorId: string;
	batchId: string | null;
	batchLabel: string | null;
	expiryDate: string | null;
	unitCost: number;
	quantity: number;
}

interface Methods {
	velocities(asOf: string, flavorIds: string[], shopId: string | null): Promise<Map<string, WeekdayVelocity>>;
	sellableLots(asOf: string, flavorIds: string[] | null, shopId: string | null): Promise<SellableLot[]>;
}
type This = Service & DbThis<SalesModels> & Methods;

const today = () => new Date().toISOString().slice(0, 10);
const key = (shopId: string, flavorId: string) => `${shopId}:${flavorId}`;

function groupBy<T>(rows: T[], by: (row: T) => string): Map<string, T[]> {
	const out = new Map<string, T[]>();
	for (const row of rows) out.set(by(row), [...(out.get(by(row)) ?? []), row]);
	return out;
}

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "sales.forecast",
	mixins: [DbMixin({ schema: "sales", models: defineSalesModels })],
	settings: { rest: "/sales" },

	actions: {
		reorderSuggestions: {
			rest: "GET /shops/:shopId/reorder-suggestions",
			roles: ["CLERK", "EXECUTIVE", "ADMIN"],
			retryPolicy: RETRY_READS,
			summary:
				"Units per flavor to cover the next ?days= (default 7) at the trailing 28-day weekday velocity, minus what sellable lots will sell before they expire",
			params: P.reorderParams,
			async handler(ctx: Ctx<P.ReorderParams>) {
				const shop = await shopForCaller(this.db, ctx, ctx.params.shopId);
				const asOf = today();
				const { days } = ctx.params;
				const lots = await this.sellableLots(asOf, null, shop.id);
				const sold = await this.db.query<{ flavorId: string }>(
					`SELECT DISTINCT i.flavor_id AS "flavorId" FROM sales.transactions t JOIN sales.transaction_items i ON i.transaction_id = t.id
					  WHERE t.shop_id = :shopId AND t.occurred_at >= (CAST(:from AS date) AT TIME ZONE 'UTC') AND t.occurred_at < (CAST(:asOf AS date) AT TIME ZONE 'UTC')`,
					{ replacements: { shopId: shop.id, from: addDays(asOf, -VELOCITY_DAYS), asOf }, type: QueryTypes.SELECT },
				);
				const flavorIds = [...new Set([...sold.map((s) => s.flavorId), ...lots.map((l) => l.flavorId)])].sort();
				const velocity = await this.velocities(asOf, flavorIds, shop.id);
				const byFlavor = groupBy(lots, (l) => l.flavorId);
				const items = flavorIds.map((flavorId) => {
					const v = velocity.get(key(shop.id, flavorId)) ?? weekdayVelocity(new Map());
					const r = reorderQuantity(byFlavor.get(flavorId) ?? [], v, asOf, days);
					return {
						flavorId,
						velocityPerDay: round2(v.reduce((a, b) => a + b, 0) / 7),
						expectedSales: round2(r.expectedSales),
						usableStock: round2(r.usableStock),
						suggestedQuantity: r.suggestedQuantity,
					};
				});
				return {
					shopId: shop.id,
					asOf,
					days,
					items: items.sort((a, b) => b.suggestedQuantity - a.suggestedQuantity || a.flavorId.localeCompare(b.flavorId)),
				};
			},
		},

		/** The waste forecast of one shop (analytics serves it; the caller's user travels in meta and is checked here too). */
		wasteForecast: {
			visibility: "public",
			params: P.wasteForecastParams,
			async handler(ctx: Ctx<P.WasteForecastParams>) {
				const shop = await shopForCaller(this.db, ctx, ctx.params.shopId);
				const asOf = ctx.params.asOf ?? today();
				if (asOf > today()) throw validationError("asOf", "asOf cannot be in the future", "range");
				const until = addDays(asOf, ctx.params.days - 1);
				const lots = await this.sellableLots(asOf, null, shop.id);
				const flavorIds = [...new Set(lots.map((l) => l.flavorId))].sort();
				// Every live shop's velocities: this shop's for the forecast, the others' for transfer targets.
				const velocity = await this.velocities(asOf, flavorIds, null);
				const rows = [];
				for (const [flavorId, flavorLots] of groupBy(lots, (l) => l.flavorId)) {
					const v = velocity.get(key(shop.id, flavorId)) ?? weekdayVelocity(new Map());
					// Lots expiring after the horizon (and UNTRACKED ones) come after those in it: they change nothing for them.
					const projections = new Map(projectLots(flavorLots, v, asOf, until).map((p) => [p.id, p]));
					for (const lot of flavorLots.filter((l) => l.expiryDate !== null && l.expiryDate <= until)) {
						const p = projections.get(lot.id)!;
						rows.push({ lot, p, v });
					}
				}
				// Transfer targets only for flavors that will be left over: other shops' spare demand before the expiry.
				const leftover = [...new Set(rows.filter((r) => r.p.projectedUnsold > 0).map((r) => r.lot.flavorId))];
				const otherStock = leftover.length
					? groupBy(await this.sellableLots(asOf, leftover, null), (l) => key(l.shopId, l.flavorId))
					: new Map<string, SellableLot[]>();
				const lots$ = rows.map(({ lot, p, v }) => {
					let best: { shopId: string; spare: number } | null = null;
					const ownDemand = expectedSales(v, asOf, lot.expiryDate!);
					for (const [k, ov] of velocity) {
						const [otherShop, flavorId] = k.split(":");
						if (otherShop === shop.id || flavorId !== lot.flavorId) continue;
						const demand = expectedSales(ov, asOf, lot.expiryDate!);
						if (demand <= ownDemand) continue;
						const spare = demand - (otherStock.get(k) ?? []).reduce((s, l) => s + l.quantity, 0);
						if (!best || spare > best.spare) best = { shopId: otherShop, spare };
					}
					const unsold = round2(p.projectedUnsold);
					return {
						lotId: lot.id,
						flavorId: lot.flavorId,
						batchId: lot.batchId,
						batchLabel: lot.batchLabel,
						expiryDate: lot.expiryDate,
						onHand: lot.quantity,
						velocityPerDay: round2(v.reduce((a, b) => a + b, 0) / 7),
						expectedSales: round2(p.expectedSales),
						projectedUnsold: unsold,
						valueAtCost: Math.round(p.projectedUnsold * lot.unitCost),
						...suggestAction(unsold, lot.quantity, best),
					};
				});
				lots$.sort((a, b) => a.expiryDate!.localeCompare(b.expiryDate!) || a.lotId.localeCompare(b.lotId));
				return {
					shopId: shop.id,
					asOf,
					days: ctx.params.days,
					totals: {
						projectedUnsold: round2(lots$.reduce((s, l) => s + l.projectedUnsold, 0)),
						valueAtCost: lots$.reduce((s, l) => s + l.valueAtCost, 0),
					},
					lots: lots$,
				};
			},
		},
	},

	methods: {
		/** Weekday velocities per `shopId:flavorId` over the VELOCITY_DAYS before `asOf` (one shop, or every live shop). */
		async velocities(asOf: string, flavorIds: string[], shopId: string | null) {
			if (!flavorIds.length) return new Map();
			const rows = await this.db.query<{ shopId: string; flavorId: string; dow: number; units: number }>(
				`SELECT t.shop_id AS "shopId", i.flavor_id AS "flavorId", extract(isodow FROM t.occurred_at AT TIME ZONE 'UTC')::int AS dow, sum(i.quantity)::int AS units
				   FROM sales.transactions t
				   JOIN sales.transaction_items i ON i.transaction_id = t.id
				   JOIN sales.shops s ON s.id = t.shop_id AND s.deleted_at IS NULL
				  WHERE t.occurred_at >= (CAST(:from AS date) AT TIME ZONE 'UTC') AND t.occurred_at < (CAST(:asOf AS date) AT TIME ZONE 'UTC')
				    AND i.flavor_id IN (:flavorIds) AND (CAST(:shopId AS uuid) IS NULL OR t.shop_id = CAST(:shopId AS uuid))
				  GROUP BY 1, 2, 3`,
				{ replacements: { from: addDays(asOf, -VELOCITY_DAYS), asOf, flavorIds, shopId }, type: QueryTypes.SELECT },
			);
			const out = new Map<string, WeekdayVelocity>();
			for (const [k, group] of groupBy(rows, (r) => key(r.shopId, r.flavorId)))
				out.set(k, weekdayVelocity(new Map(group.map((r) => [r.dow, r.units]))));
			return out;
		},

		/** Sellable, non-empty lots still in date on `asOf` (one shop's, or every live shop's of these flavors). */
		async sellableLots(asOf: string, flavorIds: string[] | null, shopId: string | null) {
			return this.db.query<SellableLot>(
				`SELECT l.id, l.shop_id AS "shopId", l.flavor_id AS "flavorId", l.stock_item_id AS "batchId", l.batch_label AS "batchLabel",
				        to_char(l.expiry_date, 'YYYY-MM-DD') AS "expiryDate", l.unit_cost::float8 AS "unitCost", l.quantity
				   FROM sales.stock_lots l JOIN sales.shops s ON s.id = l.shop_id AND s.deleted_at IS NULL
				  WHERE l.status = 'SELLABLE' AND l.quantity > 0 AND (l.expiry_date IS NULL OR l.expiry_date >= CAST(:asOf AS date))
				    AND (CAST(:shopId AS uuid) IS NULL OR l.shop_id = CAST(:shopId AS uuid)) AND (CAST(:anyFlavor AS boolean) OR l.flavor_id IN (:flavorIds))`,
				{
					replacements: {
						asOf,
						shopId,
						anyFlavor: flavorIds === null,
						flavorIds: flavorIds?.length ? flavorIds : ["00000000-0000-0000-0000-000000000000"],
					},
					type: QueryTypes.SELECT,
				},
			);
		},
	},
};

export default defineService(schema);
