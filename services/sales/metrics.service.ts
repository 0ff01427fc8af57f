/**
 * sales.metrics: shop figures for Prometheus (lib/business-metrics.ts), read from the sales
 * schema at each scrape by the owner node only (lowest available nodeID running this service):
 * `eislager_stock_low_items{shop}`, `eislager_shop_open{shop}` (opening hours in SHOP_TIME_ZONE)
 * and `eislager_expiring_lots` / `eislager_expiring_stock_value_cents` for shop lots (`site="shop"`).
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { config } from "../../lib/config";
import {
	BUSINESS_METRICS as M,
	EXPIRY_BUCKETS,
	clearSeries,
	expiryBucketSql,
	ownsClusterFigures,
	registerBusinessMetrics,
	replaceSeries,
} from "../../lib/business-metrics";
import { defineSalesModels, type SalesModels, type WeekHours } from "./sales.model";
import { defineService, type ServiceDefinition } from "../../lib/service";

type This = Service & DbThis<SalesModels>;

const SITE = { site: "shop" };
const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Whether a shop with these opening hours is open at `at` in `timeZone`; a close at or before the open runs past midnight. */
export function isOpenAt(hours: WeekHours | null | undefined, at: Date, timeZone: string): boolean {
	const parts = new Intl.DateTimeFormat("en-US", {
		timeZone,
		weekday: "short",
		hour: "2-digit",
		minute: "2-digit",
		hourCycle: "h23",
	}).formatToParts(at);
	const part = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
	const day = DAYS.indexOf(part("weekday").toLowerCase().slice(0, 3) as (typeof DAYS)[number]);
	const now = Number(part("hour")) * 60 + Number(part("minute"));
	const today = hours?.[DAYS[day]];
	const yesterday = hours?.[DAYS[(day + 6) % 7]];
	if (today) {
		const [open, close] = [minutes(today.open), minutes(today.close)];
		if (close > open ? now >= open && now < close : now >= open) return true;
	}
	if (yesterday) {
		const [open, close] = [minutes(yesterday.open), minutes(yesterday.close)];
		if (close <= open && now < close) return true;
	}
	return false;
}

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "sales.metrics",
	mixins: [DbMixin({ schema: "sales", models: defineSalesModels })],

	methods: {
		/** Called by lib/health.ts before each /metrics render. */
		async refreshMetrics() {
			registerBusinessMetrics(this.broker);
			if (!ownsClusterFigures(this.broker, "sales.metrics")) {
				clearSeries(this.broker, [M.stockLowItems, M.shopOpen]);
				return clearSeries(this.broker, [M.expiringLots, M.expiringValue], SITE);
			}
			const s = `"${this.dbSchema}"`;
			const shops = await this.db.query<{ id: string; hours: WeekHours | null; low: string }>(
				`SELECT s.id, s.hours, (SELECT count(*) FROM ${s}.shop_inventory i WHERE i.shop_id = s.id AND (i.quantity < i.reorder_threshold OR i.quantity = 0)) AS low
				   FROM ${s}.shops s WHERE s.deleted_at IS NULL ORDER BY s.id`,
				{ type: QueryTypes.SELECT },
			);
			const now = new Date();
			const tz = config().shopTimeZone;
			replaceSeries(
				this.broker,
				M.stockLowItems,
				shops.map((r) => ({ labels: { shop: r.id }, value: Number(r.low) })),
			);
			replaceSeries(
				this.broker,
				M.shopOpen,
				shops.map((r) => ({ labels: { shop: r.id }, value: isOpenAt(r.hours, now, tz) ? 1 : 0 })),
			);
			const lots = await this.db.query<{ bucket: string; lots: string; value: string }>(
				`SELECT ${expiryBucketSql("(l.expiry_date - current_date)")} AS bucket, count(*) AS lots, sum(l.quantity * l.unit_cost) AS value
				   FROM ${s}.stock_lots l JOIN ${s}.shops sh ON sh.id = l.shop_id AND sh.deleted_at IS NULL
				  WHERE l.quantity > 0 AND l.expiry_date IS NOT NULL AND l.expiry_date - current_date <= ${EXPIRY_BUCKETS[EXPIRY_BUCKETS.length - 1].max}
				  GROUP BY 1`,
				{ type: QueryTypes.SELECT },
			);
			const found = new Map(lots.map((r) => [r.bucket, r]));
			replaceSeries(
				this.broker,
				M.expiringLots,
				EXPIRY_BUCKETS.map((b) => ({ labels: { site: "shop", days_left: b.label }, value: Number(found.get(b.label)?.lots ?? 0) })),
				SITE,
			);
			replaceSeries(
				this.broker,
				M.expiringValue,
				EXPIRY_BUCKETS.map((b) => ({
					labels: { site: "shop", days_left: b.label },
					value: Number(found.get(b.label)?.value ?? 0),
				})),
				SITE,
			);
		},
	},

	created() {
		registerBusinessMetrics(this.broker);
	},
};

export default defineService(schema);
