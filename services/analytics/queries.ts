/**
 * The figures, computed in SQL over the event-fed aggregate tables. Each function takes
 * a date range (UTC days, inclusive) and a scope (null = chain-wide, else shop or factory ids)
 * and returns plain JSON: money in integer cents, dates YYYY-MM-DD.
 */
import { QueryTypes, type Sequelize } from "sequelize";
import { inScope, type Range, type Scope } from "./scope";

type Row = Record<string, unknown>;
const num = (v: unknown) => Number(v ?? 0);

async function q<T extends Row>(db: Sequelize, sql: string, replacements: Record<string, unknown>): Promise<T[]> {
	return db.query<T>(sql, { replacements, type: QueryTypes.SELECT });
}

export async function salesSummary(db: Sequelize, r: Range, scope: Scope) {
	const s = inScope("shop_id", scope);
	const rep = { ...r, ...s.replacements };
	const [t] = await q(
		db,
		`SELECT COALESCE(sum(total_sales), 0) AS revenue, COALESCE(sum(transaction_count), 0) AS tx, COALESCE(sum(items_sold), 0) AS items FROM analytics.daily_sales WHERE date BETWEEN :from AND :to AND ${s.sql}`,
		rep,
	);
	const byShop = await q(
		db,
		`SELECT shop_id AS "shopId", sum(total_sales) AS revenue, sum(transaction_count) AS tx, sum(items_sold) AS items
		   FROM analytics.daily_sales WHERE date BETWEEN :from AND :to AND ${s.sql} GROUP BY shop_id ORDER BY sum(total_sales) DESC, shop_id`,
		rep,
	);
	const revenue = num(t.revenue);
	const transactionCount = num(t.tx);
	return {
		...r,
		revenue,
		transactionCount,
		itemsSold: num(t.items),
		averageBasket: transactionCount ? Math.round(revenue / transactionCount) : 0,
		byShop: byShop.map((x) => ({
			shopId: String(x.shopId),
			revenue: num(x.revenue),
			transactionCount: num(x.tx),
			itemsSold: num(x.items),
		})),
	};
}

export async function salesTrends(db: Sequelize, r: Range, scope: Scope, interval: "day" | "week") {
	const s = inScope("d.shop_id", scope);
	const rows = await q(
		db,
		`SELECT to_char(p.start, 'YYYY-MM-DD') AS period, COALESCE(sum(d.total_sales), 0) AS revenue, COALESCE(sum(d.transaction_count), 0) AS tx, COALESCE(sum(d.items_sold), 0) AS items
		   FROM generate_series(date_trunc(:unit, :from::date)::date, :to::date, ('1 ' || :unit)::interval) p(start)
		   LEFT JOIN analytics.daily_sales d ON date_trunc(:unit, d.date)::date = p.start::date AND d.date BETWEEN :from AND :to AND ${s.sql}
		  GROUP BY p.start ORDER BY p.start`,
		{ ...r, unit: interval, ...s.replacements },
	);
	return {
		...r,
		interval,
		points: rows.map((x) => ({
			period: String(x.period),
			revenue: num(x.revenue),
			transactionCount: num(x.tx),
			itemsSold: num(x.items),
		})),
	};
}

export async function productPerformance(db: Sequelize, r: Range, scope: Scope, limit = 20) {
	const s = inScope("shop_id", scope);
	const rows = await q(
		db,
		`SELECT flavor_id AS "flavorId", sum(sales_volume) AS volume, sum(revenue) AS revenue
		   FROM analytics.product_performance WHERE date BETWEEN :from AND :to AND ${s.sql}
		  GROUP BY flavor_id ORDER BY sum(sales_volume) DESC, sum(revenue) DESC, flavor_id LIMIT :limit`,
		{ ...r, ...s.replacements, limit },
	);
	return { ...r, products: rows.map((x) => ({ flavorId: String(x.flavorId), salesVolume: num(x.volume), revenue: num(x.revenue) })) };
}

export async function revenue(db: Sequelize, r: Range, scope: Scope) {
	const s = inScope("shop_id", scope);
	const rep = { ...r, ...s.replacements };
	const [cur] = await q(
		db,
		`SELECT COALESCE(sum(total_sales), 0) AS revenue FROM analytics.daily_sales WHERE date BETWEEN :from AND :to AND ${s.sql}`,
		rep,
	);
	const [prev] = await q(
		db,
		`SELECT COALESCE(sum(total_sales), 0) AS revenue FROM analytics.daily_sales
		  WHERE date BETWEEN (:from::date - (:to::date - :from::date + 1)) AND (:from::date - 1) AND ${s.sql}`,
		rep,
	);
	const byPayment = await q(
		db,
		`SELECT payment_method AS method, sum(total_amount) AS revenue, count(*) AS tx FROM analytics.sale_facts
		  WHERE occurred_at >= (:from::date AT TIME ZONE 'UTC') AND occurred_at < ((:to::date + 1) AT TIME ZONE 'UTC') AND ${s.sql}
		  GROUP BY payment_method ORDER BY payment_method`,
		rep,
	);
	const byDay = await q(
		db,
		`SELECT to_char(g.day, 'YYYY-MM-DD') AS date, COALESCE(sum(d.total_sales), 0) AS revenue
		   FROM generate_series(:from::date, :to::date, interval '1 day') g(day)
		   LEFT JOIN analytics.daily_sales d ON d.date = g.day::date AND ${inScope("d.shop_id", scope).sql}
		  GROUP BY g.day ORDER BY g.day`,
		rep,
	);
	const [md] = await q(
		db,
		`SELECT COALESCE(sum(markdown_revenue), 0) AS recovered, COALESCE(sum(markdown_discount), 0) AS discount FROM analytics.product_performance WHERE date BETWEEN :from AND :to AND ${s.sql}`,
		rep,
	);
	const current = num(cur.revenue);
	const previous = num(prev.revenue);
	return {
		...r,
		revenue: current,
		previousPeriodRevenue: previous,
		/** Change against the preceding period of the same length, in percent (one decimal); null when that period had none. */
		growthPercent: previous ? Math.round(((current - previous) * 1000) / previous) / 10 : null,
		byPaymentMethod: byPayment.map((x) => ({ paymentMethod: String(x.method), revenue: num(x.revenue), transactionCount: num(x.tx) })),
		byDay: byDay.map((x) => ({ date: String(x.date), revenue: num(x.revenue) })),
		/** Expiry markdowns: revenue from marked-down units (recovered from stock near expiry) and the discount given. */
		markdowns: { revenueRecovered: num(md.recovered), discountGiven: num(md.discount) },
	};
}

export async function inventoryInsights(db: Sequelize, r: Range, factories: Scope, shops: Scope) {
	const f = inScope("factory_id", factories, "factories");
	const s = inScope("shop_id", shops, "shops");
	const rep = { ...r, ...f.replacements, ...s.replacements };
	const [prod] = await q(
		db,
		`SELECT count(*) AS batches, COALESCE(sum(quantity), 0) AS units, COALESCE(sum(quantity * cost), 0) AS cost FROM analytics.stock_registrations WHERE production_date BETWEEN :from AND :to AND ${f.sql}`,
		rep,
	);
	const byFactory = await q(
		db,
		`SELECT factory_id AS "factoryId", count(*) AS batches, sum(quantity) AS units, sum(quantity * cost) AS cost FROM analytics.stock_registrations
		  WHERE production_date BETWEEN :from AND :to AND ${f.sql} GROUP BY factory_id ORDER BY sum(quantity) DESC, factory_id`,
		rep,
	);
	const lowStock = await q(
		db,
		`SELECT shop_id AS "shopId", flavor_id AS "flavorId", count(*) AS alerts, min(quantity) AS "minQuantity" FROM analytics.low_stock_alerts
		  WHERE occurred_at >= (:from::date AT TIME ZONE 'UTC') AND occurred_at < ((:to::date + 1) AT TIME ZONE 'UTC') AND ${s.sql}
		  GROUP BY shop_id, flavor_id ORDER BY count(*) DESC, shop_id, flavor_id LIMIT 50`,
		rep,
	);
	return {
		...r,
		production: { batches: num(prod.batches), units: num(prod.units), cost: num(prod.cost) },
		byFactory: byFactory.map((x) => ({
			factoryId: String(x.factoryId),
			batches: num(x.batches),
			units: num(x.units),
			cost: num(x.cost),
		})),
		lowStockAlerts: lowStock.map((x) => ({
			shopId: String(x.shopId),
			flavorId: String(x.flavorId),
			alerts: num(x.alerts),
			minQuantity: num(x.minQuantity),
		})),
	};
}

/**
 * Waste: what was actually written off (STOCK_WRITTEN_OFF from shops and factories) with its
 * occurrence in the range, at cost. A write-off belongs to the factory that wrote it off or, at a
 * shop, to the factory whose batch it was (the batch's STOCK_REGISTERED); a shop's untracked stock
 * has no factory (chain-wide only). `atRiskUnits` (a figure of today, not of the range): units warned
 * about (EXPIRY_WARNING, as many as were left when warned) expiring today or later: a warning, not waste.
 */
export async function waste(db: Sequelize, r: Range, factories: Scope) {
	const f = inScope("COALESCE(w.factory_id, s.factory_id)", factories);
	const rows = await q(
		db,
		`SELECT COALESCE(w.factory_id, s.factory_id) AS "factoryId", w.flavor_id AS "flavorId", w.reason, count(*) AS events,
		        sum(w.quantity) AS units, sum(w.cost_cents) AS value, sum(w.quantity) FILTER (WHERE w.shop_id IS NOT NULL) AS "atShops"
		   FROM analytics.write_offs w LEFT JOIN analytics.stock_registrations s ON s.stock_item_id = w.batch_id
		  WHERE w.occurred_at >= (:from::date AT TIME ZONE 'UTC') AND w.occurred_at < ((:to::date + 1) AT TIME ZONE 'UTC') AND ${f.sql}
		  GROUP BY 1, 2, 3 ORDER BY sum(w.cost_cents) DESC, 1, 2, 3`,
		{ ...r, ...f.replacements },
	);
	const w = inScope("factory_id", factories);
	const [risk] = await q(
		db,
		`SELECT COALESCE(sum(quantity), 0) AS units FROM analytics.expiry_warnings WHERE expiry_date >= current_date AND ${w.sql}`,
		w.replacements,
	);
	const items = rows.map((x) => ({
		factoryId: x.factoryId === null ? null : String(x.factoryId),
		flavorId: String(x.flavorId),
		reason: String(x.reason),
		writeOffs: num(x.events),
		units: num(x.units),
		unitsAtShops: num(x.atShops),
		value: num(x.value),
	}));
	const byReason = new Map<string, { reason: string; units: number; value: number }>();
	for (const i of items) {
		const b = byReason.get(i.reason) ?? { reason: i.reason, units: 0, value: 0 };
		b.units += i.units;
		b.value += i.value;
		byReason.set(i.reason, b);
	}
	return {
		...r,
		writtenOffUnits: items.reduce((n, i) => n + i.units, 0),
		writtenOffValue: items.reduce((n, i) => n + i.value, 0),
		expiredUnits: byReason.get("EXPIRY")?.units ?? 0,
		expiredValue: byReason.get("EXPIRY")?.value ?? 0,
		atRiskUnits: num(risk.units),
		byReason: [...byReason.values()].sort((a, b) => b.value - a.value || a.reason.localeCompare(b.reason)),
		items,
	};
}

/** Per shop: revenue, transactions, average basket, average rating and review count in the range. */
export async function locations(db: Sequelize, r: Range, scope: Scope) {
	const s = inScope("shop_id", scope);
	const rows = await q(
		db,
		`WITH d AS (SELECT shop_id, sum(total_sales) AS revenue, sum(transaction_count) AS tx FROM analytics.daily_sales WHERE date BETWEEN :from AND :to AND ${s.sql} GROUP BY shop_id),
		      rv AS (SELECT shop_id, round(avg(rating), 2)::float8 AS rating, count(*) AS reviews FROM analytics.review_facts
		              WHERE occurred_at >= (:from::date AT TIME ZONE 'UTC') AND occurred_at < ((:to::date + 1) AT TIME ZONE 'UTC') AND ${s.sql} GROUP BY shop_id)
		 SELECT COALESCE(d.shop_id, rv.shop_id) AS "shopId", COALESCE(d.revenue, 0) AS revenue, COALESCE(d.tx, 0) AS tx, rv.rating, COALESCE(rv.reviews, 0) AS reviews
		   FROM d FULL JOIN rv ON rv.shop_id = d.shop_id ORDER BY COALESCE(d.revenue, 0) DESC, 1`,
		{ ...r, ...s.replacements },
	);
	return rows.map((x) => {
		const tx = num(x.tx);
		return {
			shopId: String(x.shopId),
			revenue: num(x.revenue),
			transactionCount: tx,
			averageBasket: tx ? Math.round(num(x.revenue) / tx) : 0,
			averageRating: x.rating === null ? null : num(x.rating),
			reviewCount: num(x.reviews),
		};
	});
}

/** Shop × hour-of-day (0–23, UTC) or × ISO weekday (1 = Monday … 7), dense: every cell present. */
export async function heatmap(db: Sequelize, r: Range, scope: Scope, by: "hour" | "weekday") {
	const s = inScope("f.shop_id", scope);
	const bucket =
		by === "hour"
			? "extract(hour FROM f.occurred_at AT TIME ZONE 'UTC')::int"
			: "extract(isodow FROM f.occurred_at AT TIME ZONE 'UTC')::int";
	const rows = await q(
		db,
		`WITH shops AS (SELECT DISTINCT shop_id FROM analytics.sale_facts f WHERE f.occurred_at >= (:from::date AT TIME ZONE 'UTC') AND f.occurred_at < ((:to::date + 1) AT TIME ZONE 'UTC') AND ${s.sql}),
		      agg AS (SELECT f.shop_id, ${bucket} AS bucket, sum(f.total_amount) AS revenue, count(*) AS tx FROM analytics.sale_facts f
		               WHERE f.occurred_at >= (:from::date AT TIME ZONE 'UTC') AND f.occurred_at < ((:to::date + 1) AT TIME ZONE 'UTC') AND ${s.sql} GROUP BY 1, 2)
		 SELECT sh.shop_id AS "shopId", b.bucket, COALESCE(a.revenue, 0) AS revenue, COALESCE(a.tx, 0) AS tx
		   FROM shops sh CROSS JOIN generate_series(:lo, :hi) b(bucket) LEFT JOIN agg a ON a.shop_id = sh.shop_id AND a.bucket = b.bucket
		  ORDER BY sh.shop_id, b.bucket`,
		{ ...r, ...s.replacements, lo: by === "hour" ? 0 : 1, hi: by === "hour" ? 23 : 7 },
	);
	const shops = new Map<string, { bucket: number; revenue: number; transactionCount: number }[]>();
	for (const x of rows) {
		const id = String(x.shopId);
		if (!shops.has(id)) shops.set(id, []);
		shops.get(id)?.push({ bucket: num(x.bucket), revenue: num(x.revenue), transactionCount: num(x.tx) });
	}
	return { ...r, by, rows: [...shops].map(([shopId, cells]) => ({ shopId, cells })) };
}

/** Sales in the last `minutes` minutes (from sale_facts), with the latest transactions. */
export async function realTime(db: Sequelize, minutes: number, scope: Scope) {
	const s = inScope("shop_id", scope);
	const rep = { minutes, ...s.replacements };
	const since = `occurred_at > now() - make_interval(mins => :minutes)`;
	const [t] = await q(
		db,
		`SELECT COALESCE(sum(total_amount), 0) AS revenue, count(*) AS tx, COALESCE(sum(item_count), 0) AS items FROM analytics.sale_facts WHERE ${since} AND ${s.sql}`,
		rep,
	);
	const latest = await q(
		db,
		`SELECT transaction_id AS "transactionId", shop_id AS "shopId", total_amount AS "totalAmount", item_count AS "itemCount", payment_method AS "paymentMethod", occurred_at AS "occurredAt"
		   FROM analytics.sale_facts WHERE ${since} AND ${s.sql} ORDER BY occurred_at DESC, transaction_id LIMIT 20`,
		rep,
	);
	return {
		minutes,
		revenue: num(t.revenue),
		transactionCount: num(t.tx),
		itemsSold: num(t.items),
		latest: latest.map((x) => ({
			...x,
			totalAmount: num(x.totalAmount),
			itemCount: num(x.itemCount),
			occurredAt: new Date(String(x.occurredAt)).toISOString(),
		})),
	};
}

export async function budgets(db: Sequelize, factories: Scope) {
	const f = inScope("factory_id", factories);
	const rows = await q(
		db,
		`SELECT factory_id AS "factoryId", budget_allocated AS budget, updated_at AS "updatedAt" FROM analytics.factory_budgets WHERE ${f.sql} ORDER BY budget_allocated DESC, factory_id`,
		f.replacements,
	);
	const list = rows.map((x) => ({
		factoryId: String(x.factoryId),
		budgetAllocated: num(x.budget),
		updatedAt: new Date(String(x.updatedAt)).toISOString(),
	}));
	return { total: list.reduce((n, b) => n + b.budgetAllocated, 0), factories: list };
}

export async function userActivity(db: Sequelize, userId: string, limit = 20) {
	const rows = await q(
		db,
		`SELECT type, metadata, timestamp FROM analytics.user_activity WHERE user_id = :userId ORDER BY timestamp DESC, id LIMIT :limit`,
		{ userId, limit },
	);
	const [p] = await q(
		db,
		`SELECT count(*) AS n, COALESCE(sum(total_amount), 0) AS spent FROM analytics.sale_facts WHERE patron_id = :userId`,
		{ userId },
	);
	const [rv] = await q(db, `SELECT count(*) AS n FROM analytics.review_facts WHERE patron_id = :userId`, { userId });
	return {
		purchases: num(p.n),
		totalSpent: num(p.spent),
		reviews: num(rv.n),
		recent: rows.map((x) => ({ type: String(x.type), metadata: x.metadata, timestamp: new Date(String(x.timestamp)).toISOString() })),
	};
}
