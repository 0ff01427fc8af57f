/**
 * Acceptance 1 and 4: gateway, auth, inventory, sales and kafka-bridge as separate
 * node processes over NATS. A clerk logs in through the gateway, rings up a POS
 * sale, and the test's own Kafka consumer reads the `pos-transaction` message.
 * Each node's /metrics shows the actions it served; a node whose PostgreSQL link
 * is cut (through a TCP proxy the test controls) turns /ready false, then true.
 */
import net from "node:net";
import { startCluster, waitUntil, httpGet, freePort, type Cluster } from "../helpers/cluster";
import { kafkaTestLock, readerAtEnd, requireKafka, KAFKA_BROKERS } from "../helpers/kafka";
import { buildWorld, setStock, type SalesWorld } from "../helpers/sales-world";
import type { TestApp } from "../helpers/app";
import { EVENT_CATALOG } from "../../lib/events";

jest.setTimeout(120_000);

/** A TCP proxy to PostgreSQL that the test can cut and restore. */
class PgProxy {
	private server: net.Server | undefined;
	private sockets = new Set<net.Socket>();
	constructor(
		readonly port: number,
		private readonly target: { host: string; port: number },
	) {}
	start(): Promise<void> {
		this.server = net.createServer((client) => {
			const upstream = net.connect(this.target.port, this.target.host);
			for (const s of [client, upstream]) {
				this.sockets.add(s);
				s.on("close", () => this.sockets.delete(s));
				s.on("error", () => undefined);
			}
			client.pipe(upstream).pipe(client);
		});
		return new Promise((resolve) => this.server!.listen(this.port, "127.0.0.1", () => resolve()));
	}
	/** Refuses new connections and drops the open ones. */
	async cut(): Promise<void> {
		const server = this.server;
		this.server = undefined;
		const closed = new Promise<void>((r) => (server ? server.close(() => r()) : r()));
		for (const s of this.sockets) s.destroy();
		await closed;
	}
}

describe("cluster over NATS with the kafka-bridge", () => {
	let cluster: Cluster;
	let unlock: (() => Promise<void>) | undefined;
	let w: SalesWorld;
	let proxy: PgProxy | undefined;

	beforeAll(async () => {
		unlock = await kafkaTestLock("shared");
		await requireKafka();
		cluster = await startCluster({
			nodes: ["gateway", "auth", "inventory", "sales", "kafka-bridge"],
			env: { KAFKA_BROKERS, REDIS_URL: "redis://127.0.0.1:6379" },
		});
		// The fixtures only need request() and createUser(): the cluster offers both, through the gateway.
		w = await buildWorld(cluster as unknown as TestApp);
	}, 400_000); // may wait for the exclusive Kafka fault test to finish
	afterAll(async () => {
		await proxy?.cut().catch(() => undefined);
		await cluster?.stop();
		await unlock?.();
	});

	it("relays a POS sale made through the gateway to Kafka's pos-transaction topic", async () => {
		const flavor = w.flavors[0];
		await setStock(cluster as unknown as TestApp, w.clerk, w.shopId, [{ flavorId: flavor.id, quantity: 50 }]);
		const reader = await readerAtEnd(EVENT_CATALOG.SALE_COMPLETED.topic);
		try {
			const login = await cluster.request("POST", "/api/v1/auth/login", {
				body: { email: w.clerk.email, password: w.clerk.password },
			});
			expect(login.status).toBe(200);
			const sale = await cluster.request("POST", `/api/v1/sales/shops/${w.shopId}/pos-transactions`, {
				token: login.body.accessToken,
				body: { items: [{ flavorId: flavor.id, quantity: 2 }], paymentMethod: "CASH" },
			});
			expect(sale.status).toBe(201);
			const messages = await reader
				.waitFor((m) => m.some((x) => x.value.data?.transactionId === sale.body.id), 30_000, `SALE_COMPLETED of ${sale.body.id}`)
				.catch((err: Error) => {
					throw new Error(`${err.message}\n${cluster.logs()}`);
				});
			const msg = messages.find((x) => x.value.data.transactionId === sale.body.id)!;
			// The message key is the outbox row's aggregate id: sales keys its events by shop.
			const { Client } = await import("pg");
			const pg = new Client({ connectionString: cluster.db.url });
			await pg.connect();
			const row = (
				await pg.query("SELECT aggregate_id, sent_at FROM sales.outbox WHERE id = $1", [msg.value.id]).finally(() => pg.end())
			).rows[0];
			expect(row.sent_at).not.toBeNull();
			expect(msg.message.key?.toString()).toBe(row.aggregate_id);
			expect(row.aggregate_id).toBe(msg.value.data.shopId);
			expect(msg.value).toMatchObject({
				type: "SALE_COMPLETED",
				source: "sales",
				data: {
					transactionId: sale.body.id,
					shopId: w.shopId,
					clerkId: w.clerk.id,
					paymentMethod: "CASH",
					items: [{ flavorId: flavor.id, quantity: 2, unitPrice: flavor.price, lineTotal: 2 * flavor.price }],
				},
			});
			expect(msg.value.id).toMatch(/^[0-9a-f-]{36}$/);
			expect(typeof msg.value.occurredAt).toBe("string");
		} finally {
			await reader.stop();
		}
	});

	it("shows on each node's /metrics the actions it served", async () => {
		const sales = cluster.nodes.find((n) => n.name === "sales")!;
		const auth = cluster.nodes.find((n) => n.name === "auth")!;
		const salesText = (await httpGet(`http://127.0.0.1:${sales.port}/metrics`)).text;
		expect(salesText).toMatch(/moleculer_request_total\{[^}]*action="sales\.pos\.sale"[^}]*\} [1-9]/);
		expect(salesText).toMatch(/moleculer_request_time_bucket\{[^}]*action="sales\.pos\.sale"/);
		expect(salesText).toMatch(/eislager_outbox_backlog\{[^}]*schema="sales"[^}]*\} \d+/);
		expect(salesText).toMatch(/eislager_db_pool_connections\{[^}]*schema="sales"/);
		const authText = (await httpGet(`http://127.0.0.1:${auth.port}/metrics`)).text;
		expect(authText).toMatch(/moleculer_request_total\{[^}]*action="auth\.login"[^}]*\} [1-9]/);
		expect(authText).not.toMatch(/moleculer_request_total\{[^}]*action="sales\.pos\.sale"/);
		const gatewayNode = cluster.nodes.find((n) => n.name === "gateway")!;
		const gateway = await httpGet(`http://127.0.0.1:${gatewayNode.port}/metrics`);
		expect(gateway.status).toBe(200);
		const ready = await httpGet(`http://127.0.0.1:${gatewayNode.port}/ready`);
		expect(JSON.parse(ready.text)).toMatchObject({ ready: true, checks: { transporter: { ok: true }, redis: { ok: true } } });
		const bridge = cluster.nodes.find((n) => n.name === "kafka-bridge")!;
		const bridgeReady = JSON.parse((await httpGet(`http://127.0.0.1:${bridge.port}/ready`)).text);
		expect(bridgeReady).toMatchObject({ ready: true, checks: { kafka: { ok: true } } });
		const bridgeText = (await httpGet(`http://127.0.0.1:${bridge.port}/metrics`)).text;
		expect(bridgeText).toMatch(/eislager_kafka_relayed_total\{[^}]*topic="pos-transaction"[^}]*\} [1-9]/);
		// The bridge reports every schema's backlog.
		for (const schema of ["auth", "sales", "inventory"])
			expect(bridgeText).toMatch(new RegExp(`eislager_outbox_backlog\\{[^}]*schema="${schema}"[^}]*\\} \\d+`));
	});

	it("turns /ready false while the node's PostgreSQL is unreachable and true again after", async () => {
		const pgUrl = new URL(cluster.db.url);
		proxy = new PgProxy(await freePort(), { host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
		await proxy.start();
		const viaProxy = new URL(cluster.db.url);
		viaProxy.port = String(proxy.port);
		const node = await cluster.startNode("inventory", { DATABASE_URL: viaProxy.toString() });
		const ready = async () => {
			const res = await httpGet(`http://127.0.0.1:${node.port}/ready`);
			return { status: res.status, body: JSON.parse(res.text) as { ready: boolean; checks: Record<string, { ok: boolean }> } };
		};
		await waitUntil("the proxied node to be ready", async () => (await ready()).status === 200);

		await proxy.cut();
		await waitUntil("/ready to turn false", async () => (await ready()).status === 503, 15_000);
		const down = await ready();
		expect(down.body.ready).toBe(false);
		expect(down.body.checks["database:inventory"].ok).toBe(false);
		expect(down.body.checks.transporter.ok).toBe(true);
		// Liveness is not readiness: the process itself is fine.
		expect((await httpGet(`http://127.0.0.1:${node.port}/health`)).status).toBe(200);

		await proxy.start();
		await waitUntil("/ready to turn true again", async () => (await ready()).status === 200, 20_000);
		await cluster.kill(node);
	});
});
