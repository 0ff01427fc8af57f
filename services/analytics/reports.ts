/** Report bodies and schedule arithmetic, shared by generate, the schedule runner and tests. */
import type { Sequelize } from "sequelize";
import type { ReportType } from "./analytics.model";
import type { Range } from "./scope";
import * as Q from "./queries";

export type ReportFilters = {
	shopId?: string;
	factoryId?: string;
};

const DAY_MS = 86_400_000;

/** The report's figures: the same SQL as the matching route, scoped by `filters` (chain-wide when absent). */
export async function computeReport(db: Sequelize, type: ReportType, range: Range, filters: ReportFilters): Promise<unknown> {
	const shops = filters.shopId ? [filters.shopId] : null;
	const factories = filters.factoryId ? [filters.factoryId] : null;
	switch (type) {
		case "SALES":
			return Q.salesSummary(db, range, shops);
		case "PRODUCTS":
			return Q.productPerformance(db, range, shops, 100);
		case "REVENUE":
			return Q.revenue(db, range, shops);
		case "INVENTORY":
			return Q.inventoryInsights(db, range, factories, shops);
		case "WASTE":
			return Q.waste(db, range, factories);
		case "LOCATIONS":
			return { ...range, shops: await Q.locations(db, range, shops) };
	}
}

/** First run: the next UTC midnight (DAILY) or the next Monday 00:00 UTC (WEEKLY) after `now`. */
export function firstRun(interval: "DAILY" | "WEEKLY", now: Date): Date {
	const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) + DAY_MS;
	if (interval === "DAILY") return new Date(midnight);
	const dow = new Date(midnight).getUTCDay(); // 0 = Sunday
	return new Date(midnight + ((8 - dow) % 7) * DAY_MS);
}

/** A run at `at` covers the completed period before it: the previous day, or the previous 7 days. */
export function periodBefore(interval: "DAILY" | "WEEKLY", at: Date): Range {
	const end = Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()) - DAY_MS;
	const start = interval === "DAILY" ? end : end - 6 * DAY_MS;
	return { from: new Date(start).toISOString().slice(0, 10), to: new Date(end).toISOString().slice(0, 10) };
}

/** The next run strictly after `now`, stepping from `at` by the interval (missed runs are not replayed one by one). */
export function nextRun(interval: "DAILY" | "WEEKLY", at: Date, now: Date): Date {
	const step = (interval === "DAILY" ? 1 : 7) * DAY_MS;
	let t = at.getTime() + step;
	if (t <= now.getTime()) t += Math.ceil((now.getTime() - t + 1) / step) * step;
	return new Date(t);
}
