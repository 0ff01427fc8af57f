/**
 * inventory.turnover (internal, called by analytics): per factory and flavor, units produced,
 * units shipped to shops (invoice allocations from the factory's batches) and units sold at
 * shops credited to the factory. A shop's sales of a flavor are credited to the factories whose
 * batches were allocated to that shop, in proportion to those allocations (never more than was
 * allocated); sales of a flavor no invoice ever brought to that shop are credited to no one.
 * Allocations of void invoices and released allocations do not count.
 */
import type { TurnoverRow } from "../../lib/contracts";
import type { Context, Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { STRICT, isoDate, uuid, type Infer } from "../../lib/params";
import { defineInventoryModels, type InventoryModels } from "./inventory.model";
import { defineService, type ServiceDefinition } from "../../lib/service";

const params = {
	...STRICT,
	from: isoDate,
	to: isoDate,
	factoryIds: { type: "array", items: uuid, nullable: true, optional: true },
} as const;
type This = Service & DbThis<InventoryModels>;

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "inventory.turnover",
	mixins: [DbMixin({ schema: "inventory", models: defineInventoryModels })],

	actions: {
		byFactory: {
			visibility: "public",
			params,
			async handler(ctx: Context<Infer<typeof params>>): Promise<TurnoverRow[]> {
				const s = `"${this.dbSchema}"`;
				const factoryIds = ctx.params.factoryIds ?? null;
				const inScope = (col: string) => (factoryIds ? `${col} = ANY(CAST(:factoryIds AS uuid[]))` : "true");
				const rows = await this.db.query<Record<string, unknown>>(
					`WITH live AS (
					   SELECT si.factory_id, i.shop_id, si.flavor_id, a.quantity, a.created_at
					     FROM ${s}.invoice_allocations a
					     JOIN ${s}.stock_items si ON si.id = a.stock_item_id
					     JOIN ${s}.invoice_lines l ON l.id = a.invoice_line_id
					     JOIN ${s}.invoices i ON i.id = l.invoice_id
					    WHERE a.released_at IS NULL AND i.status <> 'VOID' AND a.created_at < CAST(:to AS date) + 1),
					 alloc AS (SELECT factory_id, shop_id, flavor_id, sum(quantity) AS units FROM live GROUP BY 1, 2, 3),
					 shop_total AS (SELECT shop_id, flavor_id, sum(units) AS units FROM alloc GROUP BY 1, 2),
					 sold AS (SELECT shop_id, flavor_id, sum(quantity) AS qty, sum(revenue) AS revenue FROM ${s}.consumption_daily WHERE day BETWEEN :from AND :to GROUP BY 1, 2),
					 credited AS (
					   SELECT a.factory_id, a.flavor_id,
					          sum(LEAST(a.units::numeric, sd.qty::numeric * a.units / st.units)) AS sold,
					          sum(sd.revenue::numeric * LEAST(a.units::numeric, sd.qty::numeric * a.units / st.units) / NULLIF(sd.qty, 0)) AS revenue
					     FROM alloc a JOIN shop_total st USING (shop_id, flavor_id) JOIN sold sd USING (shop_id, flavor_id)
					    WHERE ${inScope("a.factory_id")} GROUP BY 1, 2),
					 shipped AS (SELECT factory_id, flavor_id, sum(quantity) AS units FROM live WHERE created_at >= CAST(:from AS date) AND ${inScope("factory_id")} GROUP BY 1, 2),
					 produced AS (SELECT factory_id, flavor_id, sum(initial_quantity) AS units FROM ${s}.stock_items
					               WHERE production_date BETWEEN :from AND :to AND ${inScope("factory_id")} GROUP BY 1, 2),
					 keys AS (SELECT factory_id, flavor_id FROM produced UNION SELECT factory_id, flavor_id FROM shipped UNION SELECT factory_id, flavor_id FROM credited)
					 SELECT k.factory_id AS "factoryId", k.flavor_id AS "flavorId", COALESCE(p.units, 0) AS produced, COALESCE(sh.units, 0) AS shipped,
					        round(COALESCE(c.sold, 0)) AS sold, round(COALESCE(c.revenue, 0)) AS revenue
					   FROM keys k LEFT JOIN produced p USING (factory_id, flavor_id) LEFT JOIN shipped sh USING (factory_id, flavor_id) LEFT JOIN credited c USING (factory_id, flavor_id)
					  ORDER BY 1, 2`,
					{
						type: QueryTypes.SELECT,
						replacements: {
							from: ctx.params.from,
							to: ctx.params.to,
							factoryIds: factoryIds ? `{${factoryIds.join(",")}}` : null,
						},
					},
				);
				return rows.map((r) => ({
					factoryId: String(r.factoryId),
					flavorId: String(r.flavorId),
					produced: Number(r.produced),
					shipped: Number(r.shipped),
					sold: Number(r.sold),
					revenue: Number(r.revenue),
				}));
			},
		},
	},
};

export default defineService(schema);
