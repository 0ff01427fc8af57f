/**
 * Figures computed from the database are exposed by one node only (lib/business-metrics.ts):
 * two real brokers over Moleculer's in-memory transporter agree on the owner, the other takes
 * over when it leaves; replacing one site's series keeps the other's.
 */
import { randomUUID } from "node:crypto";
import { ServiceBroker } from "moleculer";
import { metricsOptions, prometheusText } from "../../lib/metrics";
import gatewayMetrics from "../../services/gateway/metrics.service";
import {
	BUSINESS_METRICS as M,
	clearSeries,
	expiryBucketSql,
	ownsClusterFigures,
	registerBusinessMetrics,
	replaceSeries,
} from "../../lib/business-metrics";

async function until(check: () => boolean, what: string): Promise<void> {
	const deadline = Date.now() + 5000;
	while (!check()) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 20));
	}
}

describe("the owner of cluster-wide figures", () => {
	it("is the available node with the lowest nodeID running the service; the next one takes over when it leaves", async () => {
		const namespace = `owner-${randomUUID().slice(0, 8)}`;
		const make = (nodeID: string) => {
			const b = new ServiceBroker({ namespace, nodeID, transporter: "Fake", logger: false, metrics: metricsOptions() });
			b.createService({ name: "demo.metrics" });
			return b;
		};
		const [a, b] = [make("node-a"), make("node-b")];
		await Promise.all([a.start(), b.start()]);
		try {
			const sees = (x: ServiceBroker, nodeID: string) =>
				(x.registry.getServiceList({ onlyAvailable: true }) as { name: string; nodeID: string }[]).some(
					(s) => s.name === "demo.metrics" && s.nodeID === nodeID,
				);
			await until(() => sees(a, "node-b") && sees(b, "node-a"), "both nodes to see each other");
			expect([ownsClusterFigures(a, "demo.metrics"), ownsClusterFigures(b, "demo.metrics")]).toEqual([true, false]);
			expect(ownsClusterFigures(a, "nobody.runs.this")).toBe(false);
			await a.stop();
			await until(() => !sees(b, "node-a"), "node-a to leave");
			expect(ownsClusterFigures(b, "demo.metrics")).toBe(true);
		} finally {
			await Promise.all([a.stop().catch(() => undefined), b.stop()]);
		}
	});
});

describe("eislager_service_nodes (gateway.metrics)", () => {
	it("counts available nodes per service and keeps reporting 0 for a service whose last node left", async () => {
		const namespace = `svc-${randomUUID().slice(0, 8)}`;
		const gw = new ServiceBroker({ namespace, nodeID: "gw", transporter: "Fake", logger: false, metrics: metricsOptions() });
		const worker = new ServiceBroker({ namespace, nodeID: "worker", transporter: "Fake", logger: false, metrics: metricsOptions() });
		gw.createService(gatewayMetrics);
		worker.createService({ name: "demo.orders" });
		await Promise.all([gw.start(), worker.start()]);
		const refresh = () => (gw.getLocalService("gateway.metrics") as unknown as { refreshMetrics(): Promise<void> }).refreshMetrics();
		const nodes = (service: string) => gw.metrics.getMetric(M.serviceNodes)?.get({ service })?.value;
		try {
			await until(
				() => (gw.registry.getServiceList({ onlyAvailable: true }) as { name: string }[]).some((x) => x.name === "demo.orders"),
				"the worker's service",
			);
			await refresh();
			expect([nodes("demo.orders"), nodes("gateway.metrics")]).toEqual([1, 1]);
			await worker.stop();
			await until(
				() => !(gw.registry.getServiceList({ onlyAvailable: true }) as { name: string }[]).some((x) => x.name === "demo.orders"),
				"the worker to leave",
			);
			await refresh();
			expect(nodes("demo.orders")).toBe(0);
			expect(prometheusText(gw)).toMatch(/eislager_service_nodes\{[^}]*service="demo.orders"\} 0/);
		} finally {
			await Promise.all([gw.stop(), worker.stop().catch(() => undefined)]);
		}
	});
});

describe("series replacement", () => {
	it("replaces only the series of one scope, drops vanished ones, and renders snake_case names", async () => {
		const broker = new ServiceBroker({ logger: false, metrics: metricsOptions() });
		await broker.start();
		try {
			registerBusinessMetrics(broker);
			const shop = { site: "shop" };
			const factory = { site: "factory" };
			replaceSeries(broker, M.expiringLots, [{ labels: { ...shop, days_left: "1" }, value: 2 }], shop);
			replaceSeries(broker, M.expiringLots, [{ labels: { ...factory, days_left: "1" }, value: 5 }], factory);
			replaceSeries(broker, M.expiringLots, [{ labels: { ...shop, days_left: "2-3" }, value: 7 }], shop);
			let text = prometheusText(broker);
			expect(text).toMatch(/eislager_expiring_lots\{[^}]*site="factory",days_left="1"\} 5/);
			expect(text).toMatch(/eislager_expiring_lots\{[^}]*site="shop",days_left="2-3"\} 7/);
			expect(text).not.toMatch(/site="shop",days_left="1"/);
			clearSeries(broker, [M.expiringLots], factory);
			text = prometheusText(broker);
			expect(text).not.toMatch(/site="factory"/);
			expect(text).toMatch(/site="shop",days_left="2-3"\} 7/);
			replaceSeries(broker, M.salesTotal, [{ labels: { shop: "s1" }, value: 4 }]);
			expect(prometheusText(broker)).toMatch(/# TYPE eislager_sales_total counter\n[^\n]*eislager_sales_total\{[^}]*shop="s1"\} 4/);
		} finally {
			await broker.stop();
		}
	});

	it("buckets days left: today or earlier is expired, then 1, 2-3, 4-7, 8-14", () => {
		expect(expiryBucketSql("d")).toBe(
			"CASE WHEN d <= 0 THEN 'expired' WHEN d <= 1 THEN '1' WHEN d <= 3 THEN '2-3' WHEN d <= 7 THEN '4-7' WHEN d <= 14 THEN '8-14' END",
		);
	});
});
