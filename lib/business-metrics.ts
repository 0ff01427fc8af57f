/**
 * Business metrics (issue #14 §6, docs/monitoring.md), in Prometheus through each node's /metrics.
 *
 * Cardinality is bounded: labels are a shop id (the chain's shops), a days-left bucket, a site
 * (shop | factory), a topic, an HTTP method and status class; never a user, transaction or batch.
 *
 * Metrics are per process. Figures computed from the database (sales totals per shop, low stock,
 * expiring lots, Kafka consumer lag) are the same on every node that could compute them, so only
 * one node exposes them: the owner, the available node with the lowest nodeID that runs the
 * service (`ownsClusterFigures`); the others clear theirs. Figures counted in the process (HTTP
 * responses, socket connections) are each node's own and are summed across nodes in PromQL.
 */
import type { ServiceBroker } from "moleculer";

/** Registry names; Prometheus names replace the dots with underscores (eislager_sales_total, …). */
export const BUSINESS_METRICS = {
	salesTotal: "eislager.sales.total",
	revenueCents: "eislager.revenue.cents.total",
	stockLowItems: "eislager.stock.low.items",
	shopOpen: "eislager.shop.open",
	expiringLots: "eislager.expiring.lots",
	expiringValue: "eislager.expiring.stock.value.cents",
	kafkaUp: "eislager.kafka.up",
	kafkaConsumerLag: "eislager.kafka.consumer.lag",
	socketConnections: "eislager.socket.connections",
	serviceNodes: "eislager.service.nodes",
	httpResponses: "eislager.http.responses.total",
	httpDuration: "eislager.http.request.duration.seconds",
} as const;

/** Days-left buckets of `eislager_expiring_lots` (expiry date minus today; today or earlier is expired). */
export const EXPIRY_BUCKETS = [
	{ label: "expired", max: 0 },
	{ label: "1", max: 1 },
	{ label: "2-3", max: 3 },
	{ label: "4-7", max: 7 },
	{ label: "8-14", max: 14 },
] as const;

/** SQL CASE naming the bucket of `daysExpr` (NULL beyond the last bucket). */
export function expiryBucketSql(daysExpr: string): string {
	return `CASE ${EXPIRY_BUCKETS.map((b) => `WHEN ${daysExpr} <= ${b.max} THEN '${b.label}'`).join(" ")} END`;
}

/** HTTP latency buckets in seconds (p99 from `histogram_quantile`). */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function registerBusinessMetrics(broker: ServiceBroker): void {
	const m = broker.metrics;
	if (!m.isEnabled() || m.getMetric(BUSINESS_METRICS.salesTotal)) return;
	const M = BUSINESS_METRICS;
	m.register({
		name: M.salesTotal,
		type: "counter",
		labelNames: ["shop"],
		description: "Completed sales (POS transactions) per shop, since the beginning",
	});
	m.register({
		name: M.revenueCents,
		type: "counter",
		labelNames: ["shop"],
		description: "Revenue of completed sales per shop in cents, since the beginning",
	});
	m.register({
		name: M.stockLowItems,
		type: "gauge",
		labelNames: ["shop"],
		description: "Flavors at or below their reorder threshold (or out of stock) per shop",
	});
	m.register({
		name: M.shopOpen,
		type: "gauge",
		labelNames: ["shop"],
		description: "1 while the shop is open by its opening hours (SHOP_TIME_ZONE), else 0",
	});
	m.register({
		name: M.expiringLots,
		type: "gauge",
		labelNames: ["site", "days_left"],
		description: "Lots (shop lots, factory batches) with units left, by days to expiry",
	});
	m.register({
		name: M.expiringValue,
		type: "gauge",
		labelNames: ["site", "days_left"],
		description: "Cost value in cents of the units in those lots",
	});
	m.register({ name: M.kafkaUp, type: "gauge", labelNames: [], description: "1 when this kafka-bridge node reaches Kafka, 0 when not" });
	m.register({
		name: M.kafkaConsumerLag,
		type: "gauge",
		labelNames: ["topic"],
		description: "Messages on inbound topics the bridge's consumer group has not consumed yet",
	});
	m.register({
		name: M.serviceNodes,
		type: "gauge",
		labelNames: ["service"],
		description:
			"Available nodes running the service, as this gateway node sees the cluster (0: a service it has seen has no node left)",
	});
	m.register({
		name: M.socketConnections,
		type: "gauge",
		labelNames: [],
		description: "Socket.io connections open on this gateway node",
	});
	m.register({
		name: M.httpResponses,
		type: "counter",
		labelNames: ["method", "code"],
		description: "HTTP responses of this gateway node by method and status class (2xx … 5xx)",
	});
	m.register({
		name: M.httpDuration,
		type: "histogram",
		labelNames: ["method"],
		buckets: HTTP_BUCKETS,
		quantiles: false,
		description: "HTTP request duration in seconds on this gateway node",
	});
}

/** Whether this node exposes the cluster-wide figures computed by `service`: the lowest available nodeID running it. */
export function ownsClusterFigures(broker: ServiceBroker, service: string): boolean {
	const nodes = (broker.registry.getServiceList({ onlyAvailable: true }) as { name: string; nodeID: string }[])
		.filter((s) => s.name === service)
		.map((s) => s.nodeID);
	return nodes.length > 0 && nodes.sort()[0] === broker.nodeID;
}

type Labels = Record<string, string>;
type Stored = { values: Map<string, { labels: Labels }>; changed(): void };

/** Drops the series of `name` whose labels include `scope` (all when no scope). */
function dropSeries(broker: ServiceBroker, name: string, scope?: Labels): void {
	const metric = broker.metrics.getMetric(name) as unknown as Stored | null;
	if (!metric) return;
	for (const [key, item] of metric.values)
		if (!scope || Object.entries(scope).every(([k, v]) => item.labels?.[k] === v)) metric.values.delete(key);
	metric.changed();
}

/** Replaces the series of `name` (those matching `scope`, e.g. { site: "shop" }) with `series`: one no longer present disappears. */
export function replaceSeries(broker: ServiceBroker, name: string, series: { labels: Labels; value: number }[], scope?: Labels): void {
	dropSeries(broker, name, scope);
	for (const s of series) broker.metrics.set(name, s.value, s.labels);
}

/** Clears the figures a non-owner must not expose (only the series matching `scope`, when given). */
export function clearSeries(broker: ServiceBroker, names: string[], scope?: Labels): void {
	for (const name of names) dropSeries(broker, name, scope);
}
