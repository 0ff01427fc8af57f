/** Pure parts of the cluster work: inbound envelope checks, the gateway's 503 rule, Prometheus text. */
import { randomUUID } from "node:crypto";
import { LeanMetricsMiddleware } from "../../middlewares/metrics.middleware";
import { ServiceBroker, type Middleware } from "moleculer";
import { parseEnvelope } from "../../services/kafka-bridge/inbound";
import { serviceFolderOf, unavailableService } from "../../lib/availability";
import { envelope } from "../../lib/events";
import { metricsOptions, prometheusText, registerAppMetrics, APP_METRICS } from "../../lib/metrics";

describe("parseEnvelope", () => {
	const po = envelope("PURCHASE_ORDER_CREATED", {
		orderId: randomUUID(),
		shopId: randomUUID(),
		factoryId: randomUUID(),
		items: [],
		requestedBy: randomUUID(),
		createdAt: new Date().toISOString(),
	});
	const buf = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v));

	it("accepts a catalog envelope on its own topic", () => {
		expect(parseEnvelope("purchase-order", buf(po))).toMatchObject({ id: po.id, type: "PURCHASE_ORDER_CREATED", data: po.data });
	});
	it.each([
		["another topic's type", "pos-transaction", buf(po)],
		["an unknown topic", "nope", buf(po)],
		["no JSON", "purchase-order", buf("{not json")],
		["an id that is no UUID", "purchase-order", buf({ ...po, id: "42" })],
		["no data", "purchase-order", buf({ ...po, data: null })],
		["an empty value", "purchase-order", null],
	])("rejects %s", (_what, topic, value) => {
		expect(parseEnvelope(topic, value as Buffer | null)).toBeUndefined();
	});
});

describe("the gateway's 503 for a service with no node", () => {
	it("finds the service folder of a public path", () => {
		expect(serviceFolderOf("/api/v1/sales/shops?page=2")).toBe("sales");
		expect(serviceFolderOf("/api/inventory/flavors")).toBe("inventory");
		expect(serviceFolderOf("/auth/login")).toBe("auth");
		expect(serviceFolderOf("/health")).toBeUndefined();
	});

	const broker = new ServiceBroker({ logger: false });
	// moleculer-web's route-level 404.
	const notFound = { code: 404, type: "NOT_FOUND", name: "NotFoundError" };

	it("turns a route-level 404 under a known, unserved folder into 503", () => {
		const err = unavailableService(broker, "GET", "/api/v1/sales/shops", notFound);
		expect(err).toMatchObject({ code: 503, type: "SERVICE_UNAVAILABLE" });
	});
	it("keeps 404 for unknown folders, an action's own not-found, and paths no action declares", async () => {
		expect(unavailableService(broker, "GET", "/api/v1/nothing-here", notFound)).toBeUndefined();
		expect(
			unavailableService(broker, "GET", "/api/v1/sales/shops", { code: 404, type: "NOT_FOUND", name: "MoleculerClientError" }),
		).toBeUndefined();
		const served = new ServiceBroker({ logger: false });
		served.createService({
			name: "sales.shops",
			settings: { rest: "/sales" },
			actions: { list: { rest: "GET /shops", handler: () => [] }, get: { rest: "GET /shops/:shopId", handler: () => ({}) } },
		});
		await served.start();
		try {
			expect(unavailableService(served, "GET", "/api/v1/sales/nope", notFound)).toBeUndefined();
			expect(unavailableService(served, "DELETE", "/api/v1/sales/shops", notFound)).toBeUndefined();
			// Served, but this route is not rebuilt yet (e.g. another service of the node is still arriving): 503.
			expect(unavailableService(served, "GET", "/api/v1/sales/shops", notFound)).toMatchObject({ code: 503 });
			expect(unavailableService(served, "GET", "/api/sales/shops/123?x=1", notFound)).toMatchObject({ code: 503 });
		} finally {
			await served.stop();
		}
	});
});

describe("Prometheus text", () => {
	it("renders request metrics per action and our gauges without opening a port", async () => {
		const broker = new ServiceBroker({ logger: false, metrics: metricsOptions() });
		broker.createService({ name: "demo", actions: { hello: () => "hi" } });
		await broker.start();
		try {
			await broker.call("demo.hello");
			registerAppMetrics(broker);
			broker.metrics.set(APP_METRICS.outboxBacklog, 3, { schema: "sales" });
			const text = prometheusText(broker);
			expect(text).toMatch(/moleculer_request_total\{[^}]*action="demo\.hello"[^}]*\} 1/);
			expect(text).toMatch(/eislager_outbox_backlog\{[^}]*schema="sales"[^}]*\} 3/);
		} finally {
			await broker.stop();
		}
	});

	it("the lean metrics keep totals and latency buckets and publish no gauge they do not update", async () => {
		const broker = new ServiceBroker({
			logger: false,
			metrics: metricsOptions(),
			internalMiddlewares: false,
			middlewares: [LeanMetricsMiddleware as unknown as Middleware],
		});
		broker.createService({ name: "demo", actions: { hello: () => "hi" } });
		await broker.start();
		try {
			await broker.call("demo.hello");
			await broker.call("demo.hello");
			const text = prometheusText(broker);
			expect(text).toMatch(/moleculer_request_total\{[^}]*action="demo\.hello"[^}]*\} 2/);
			expect(text).toMatch(/moleculer_request_time_bucket\{[^}]*action="demo\.hello"/);
			expect(text).not.toMatch(/moleculer_request_active|moleculer_request_levels/);
		} finally {
			await broker.stop();
		}
	});
});
