/**
 * analytics.metrics: sales and revenue per shop for Prometheus (`eislager_sales_total`,
 * `eislager_revenue_cents_total`, lib/business-metrics.ts), read from the event-fed daily
 * totals at each scrape. Exact and monotonic (never reset by a restart); only the owner node
 * (lowest available nodeID running this service) exposes them, so sums across nodes stay true.
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { BUSINESS_METRICS as M, clearSeries, ownsClusterFigures, registerBusinessMetrics, replaceSeries } from "../../lib/business-metrics";
import { defineAnalyticsModels, type AnalyticsModels } from "./analytics.model";
import { defineService, type ServiceDefinition } from "../../lib/service";

type This = Service & DbThis<AnalyticsModels>;

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "analytics.metrics",
	mixins: [DbMixin({ schema: "analytics", models: defineAnalyticsModels })],

	methods: {
		/** Called by lib/health.ts before each /metrics render. */
		async refreshMetrics() {
			registerBusinessMetrics(this.broker);
			if (!ownsClusterFigures(this.broker, "analytics.metrics")) return clearSeries(this.broker, [M.salesTotal, M.revenueCents]);
			const rows = await this.db.query<{ shop: string; n: string; revenue: string }>(
				`SELECT shop_id AS shop, sum(transaction_count) AS n, sum(total_sales) AS revenue FROM analytics.daily_sales GROUP BY shop_id ORDER BY shop_id`,
				{ type: QueryTypes.SELECT },
			);
			replaceSeries(
				this.broker,
				M.salesTotal,
				rows.map((r) => ({ labels: { shop: r.shop }, value: Number(r.n) })),
			);
			replaceSeries(
				this.broker,
				M.revenueCents,
				rows.map((r) => ({ labels: { shop: r.shop }, value: Number(r.revenue) })),
			);
		},
	},

	created() {
		registerBusinessMetrics(this.broker);
	},
};

export default defineService(schema);
