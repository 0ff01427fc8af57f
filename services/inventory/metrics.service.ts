/**
 * inventory.metrics: factory batches close to expiry for Prometheus (lib/business-metrics.ts):
 * `eislager_expiring_lots{site="factory",days_left}` and `eislager_expiring_stock_value_cents`
 * (units left × unit cost), read at each scrape by the owner node only.
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import {
	BUSINESS_METRICS as M,
	EXPIRY_BUCKETS,
	clearSeries,
	expiryBucketSql,
	ownsClusterFigures,
	registerBusinessMetrics,
	replaceSeries,
} from "../../lib/business-metrics";
import { defineInventoryModels, type InventoryModels } from "./inventory.model";
import { defineService, type ServiceDefinition } from "../../lib/service";

const SITE = { site: "factory" };
type This = Service & DbThis<InventoryModels>;

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "inventory.metrics",
	mixins: [DbMixin({ schema: "inventory", models: defineInventoryModels })],

	methods: {
		/** Called by lib/health.ts before each /metrics render. */
		async refreshMetrics() {
			registerBusinessMetrics(this.broker);
			// The shop side of these series is sales.metrics' (site="shop"): only the factory side is ours.
			if (!ownsClusterFigures(this.broker, "inventory.metrics"))
				return clearSeries(this.broker, [M.expiringLots, M.expiringValue], SITE);
			const rows = await this.db.query<{ bucket: string; lots: string; value: string }>(
				`SELECT ${expiryBucketSql("(expiry_date - current_date)")} AS bucket, count(*) AS lots, sum(quantity * cost) AS value
				   FROM "${this.dbSchema}".stock_items
				  WHERE deleted_at IS NULL AND quantity > 0 AND expiry_date - current_date <= ${EXPIRY_BUCKETS[EXPIRY_BUCKETS.length - 1].max}
				  GROUP BY 1`,
				{ type: QueryTypes.SELECT },
			);
			const found = new Map(rows.map((r) => [r.bucket, r]));
			replaceSeries(
				this.broker,
				M.expiringLots,
				EXPIRY_BUCKETS.map((b) => ({ labels: { ...SITE, days_left: b.label }, value: Number(found.get(b.label)?.lots ?? 0) })),
				SITE,
			);
			replaceSeries(
				this.broker,
				M.expiringValue,
				EXPIRY_BUCKETS.map((b) => ({ labels: { ...SITE, days_left: b.label }, value: Number(found.get(b.label)?.value ?? 0) })),
				SITE,
			);
		},
	},

	created() {
		registerBusinessMetrics(this.broker);
	},
};

export default defineService(schema);
