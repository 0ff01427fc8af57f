/**
 * Factory analytics, computed in SQL (docs/inventory.md, "Analytics"):
 * - production: units and cost of batches produced per period and flavor (by production date);
 * - stock: sellable units and value (quantity x unit cost) of live, unexpired batches; expired units still held;
 * - expiringSoon: sellable batches inside their warning window;
 * - waste: units and value written off in the period;
 * - budget: allocated (current) vs spent = cost of all batches the factory produced
 *   (initial quantity x unit cost, removed and written-off batches included: the money was spent);
 * - demand: units of the factory's flavors sold by shops in the period (from SALE_COMPLETED).
 */
import { QueryTypes, type Sequelize } from "sequelize";

export type Period = "day" | "week" | "month";

export interface AnalyticsInput {
	factoryId: string;
	from: string;
	to: string;
	period: Period;
	asOf: string;
	defaultWarningDays: number;
	budgetAllocated: number;
}

const n = (v: unknown) => Number(v ?? 0);

export async function factoryAnalytics(db: Sequelize, schema: string, input: AnalyticsInput) {
	const s = `"${schema}"`;
	const replacements = { ...input };
	const q = <T extends object>(sql: string) => db.query<T>(sql, { replacements, type: QueryTypes.SELECT });

	const [production, [stock], [expired], expiring, [waste], [spent], demand] = await Promise.all([
		q<{ period: string; flavor_id: string; flavor_name: string; batches: string; units: string; cost: string }>(
			`SELECT to_char(date_trunc(:period, s.production_date), 'YYYY-MM-DD') AS period, s.flavor_id, f.name AS flavor_name,
			        COUNT(*) AS batches, SUM(s.initial_quantity) AS units, SUM(s.initial_quantity::bigint * s.cost) AS cost
			 FROM ${s}.stock_items s JOIN ${s}.flavors f ON f.id = s.flavor_id
			 WHERE s.factory_id = :factoryId AND s.production_date BETWEEN CAST(:from AS DATE) AND CAST(:to AS DATE)
			 GROUP BY 1, 2, 3 ORDER BY 1, 3`,
		),
		q<{ batches: string; units: string; value: string }>(
			`SELECT COUNT(*) AS batches, COALESCE(SUM(quantity), 0) AS units, COALESCE(SUM(quantity::bigint * cost), 0) AS value
			 FROM ${s}.stock_items WHERE factory_id = :factoryId AND deleted_at IS NULL AND quantity > 0 AND expiry_date > CAST(:asOf AS DATE)`,
		),
		q<{ batches: string; units: string; value: string }>(
			`SELECT COUNT(*) AS batches, COALESCE(SUM(quantity), 0) AS units, COALESCE(SUM(quantity::bigint * cost), 0) AS value
			 FROM ${s}.stock_items WHERE factory_id = :factoryId AND deleted_at IS NULL AND quantity > 0 AND expiry_date <= CAST(:asOf AS DATE)`,
		),
		q<{ id: string; batch_id: string; flavor_id: string; quantity: number; cost: number; expiry_date: string; warning_days: number }>(
			`SELECT id, batch_id, flavor_id, quantity, cost, to_char(expiry_date, 'YYYY-MM-DD') AS expiry_date, COALESCE(warning_days, :defaultWarningDays) AS warning_days
			 FROM ${s}.stock_items
			 WHERE factory_id = :factoryId AND deleted_at IS NULL AND quantity > 0 AND expiry_date > CAST(:asOf AS DATE)
			   AND expiry_date - COALESCE(warning_days, :defaultWarningDays) <= CAST(:asOf AS DATE)
			 ORDER BY expiry_date, batch_id`,
		),
		q<{ units: string; value: string }>(
			`SELECT COALESCE(-SUM(m.delta), 0) AS units, COALESCE(-SUM(m.delta::bigint * s.cost), 0) AS value
			 FROM ${s}.stock_movements m JOIN ${s}.stock_items s ON s.id = m.stock_item_id
			 WHERE m.factory_id = :factoryId AND m.kind = 'WRITE_OFF'
			   AND m.created_at >= CAST(:from AS DATE) AND m.created_at < CAST(:to AS DATE) + 1`,
		),
		q<{ total: string; in_period: string }>(
			`SELECT COALESCE(SUM(initial_quantity::bigint * cost), 0) AS total,
			        COALESCE(SUM(initial_quantity::bigint * cost) FILTER (WHERE production_date BETWEEN CAST(:from AS DATE) AND CAST(:to AS DATE)), 0) AS in_period
			 FROM ${s}.stock_items WHERE factory_id = :factoryId`,
		),
		q<{ flavor_id: string; flavor_name: string; consumed: string; revenue: string; in_stock: string }>(
			`WITH made AS (SELECT DISTINCT flavor_id FROM ${s}.stock_items WHERE factory_id = :factoryId)
			 SELECT made.flavor_id, f.name AS flavor_name, COALESCE(c.units, 0) AS consumed, COALESCE(c.revenue, 0) AS revenue,
			        COALESCE((SELECT SUM(quantity) FROM ${s}.stock_items si WHERE si.factory_id = :factoryId AND si.flavor_id = made.flavor_id
			                  AND si.deleted_at IS NULL AND si.expiry_date > CAST(:asOf AS DATE)), 0) AS in_stock
			 FROM made JOIN ${s}.flavors f ON f.id = made.flavor_id
			 LEFT JOIN (SELECT flavor_id, SUM(quantity) AS units, SUM(revenue) AS revenue FROM ${s}.consumption_daily
			            WHERE day BETWEEN CAST(:from AS DATE) AND CAST(:to AS DATE) GROUP BY flavor_id) c ON c.flavor_id = made.flavor_id
			 ORDER BY consumed DESC, f.name`,
		),
	]);

	const spentTotal = n(spent.total);
	return {
		factoryId: input.factoryId,
		from: input.from,
		to: input.to,
		period: input.period,
		asOf: input.asOf,
		production: production.map((p) => ({
			period: p.period,
			flavorId: p.flavor_id,
			flavorName: p.flavor_name,
			batches: n(p.batches),
			units: n(p.units),
			cost: n(p.cost),
		})),
		stock: {
			batches: n(stock.batches),
			units: n(stock.units),
			value: n(stock.value),
			expiredUnits: n(expired.units),
			expiredValue: n(expired.value),
		},
		expiringSoon: {
			batches: expiring.length,
			units: expiring.reduce((sum, e) => sum + e.quantity, 0),
			value: expiring.reduce((sum, e) => sum + e.quantity * n(e.cost), 0),
			items: expiring.slice(0, 50).map((e) => ({
				stockItemId: e.id,
				batchId: e.batch_id,
				flavorId: e.flavor_id,
				quantity: e.quantity,
				expiryDate: e.expiry_date,
				warningDays: e.warning_days,
			})),
		},
		waste: { units: n(waste.units), value: n(waste.value) },
		budget: {
			allocated: input.budgetAllocated,
			spent: spentTotal,
			spentInPeriod: n(spent.in_period),
			remaining: input.budgetAllocated - spentTotal,
			utilizationPercent: input.budgetAllocated > 0 ? Math.round((spentTotal * 1000) / input.budgetAllocated) / 10 : null,
		},
		demand: demand.map((d) => ({
			flavorId: d.flavor_id,
			flavorName: d.flavor_name,
			consumed: n(d.consumed),
			revenue: n(d.revenue),
			inStock: n(d.in_stock),
		})),
	};
}
