/**
 * Durable internal delivery across a real cluster (one process per node, NATS):
 * - crash: the sales node is SIGKILLed every few seconds (and started again)
 *   while POS sales flow; every sale in sales' database reaches analytics
 *   exactly once, including sales whose node died between commit and emit;
 * - consumer down: the analytics node is stopped for CONSUMER_DOWN_SECONDS
 *   (default 60) while sales continue; after its restart it catches up completely.
 * Needs `dist/` (npm test builds first).
 */
import { Client } from "pg";
import { startCluster, type Cluster, type NodeProcess, waitUntil } from "../helpers/cluster";
import { buildWorld, setStock, type SalesWorld } from "../helpers/sales-world";
import type { TestApp } from "../helpers/app";

jest.setTimeout(420_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A cluster catching up after a kill takes minutes: a longer default wait. */
const until = (what: string, fn: () => Promise<boolean>, timeoutMs = 180_000) => waitUntil(what, fn, timeoutMs, 500);

describe("durable internal delivery in a cluster", () => {
	let cluster: Cluster;
	let w: SalesWorld;
	let pg: Client;
	let running = false;
	let flows: Promise<void>[] = [];

	/** Four clients selling one scoop at a time until told to stop (errors while a node is down are expected). */
	const startSales = () => {
		running = true;
		flows = Array.from({ length: 4 }, async () => {
			while (running) {
				await cluster
					.request("POST", `/api/v1/sales/shops/${w.shopId}/pos-transactions`, {
						token: w.clerk.token,
						body: { items: [{ flavorId: w.flavors[0].id, quantity: 1 }], paymentMethod: "CASH" },
						timeoutMs: 5000,
					})
					.catch(() => undefined);
			}
		});
	};
	const stopSales = async () => {
		running = false;
		await Promise.all(flows);
	};
	const count = async (sql: string) => Number((await pg.query<{ n: string }>(sql, [w.shopId])).rows[0].n);
	const sold = () => count("SELECT count(*) AS n FROM sales.transactions WHERE shop_id = $1");
	const inAnalytics = () => count("SELECT count(*) AS n FROM analytics.sale_facts WHERE shop_id = $1");
	const countedInAnalytics = () => count("SELECT COALESCE(sum(transaction_count), 0) AS n FROM analytics.daily_sales WHERE shop_id = $1");
	const missing = () =>
		count(
			"SELECT count(*) AS n FROM sales.transactions t WHERE t.shop_id = $1 AND NOT EXISTS (SELECT 1 FROM analytics.sale_facts f WHERE f.transaction_id = t.id)",
		);

	beforeAll(async () => {
		cluster = await startCluster({
			nodes: ["gateway", "auth", "inventory", "sales", "analytics"],
			routed: ["sales"],
			env: { REQUEST_TIMEOUT_MS: "3000", HEARTBEAT_TIMEOUT_SEC: "3" },
		});
		w = await buildWorld(cluster as unknown as TestApp);
		await setStock(cluster as unknown as TestApp, w.exec, w.shopId, [
			{ flavorId: w.flavors[0].id, quantity: 1_000_000, reorderThreshold: 0 },
		]);
		pg = new Client({ connectionString: cluster.db.url });
		await pg.connect();
	});
	afterAll(async () => {
		running = false;
		await pg?.end();
		await cluster?.stop();
	});

	it("the sales node SIGKILLed every few seconds: every recorded sale reaches analytics exactly once", async () => {
		startSales();
		let kills = 0;
		for (let round = 0; round < 5; round++) {
			await sleep(3000);
			const node = cluster.nodes.find(
				(n) => n.name === "sales" && n.child.exitCode === null && n.child.signalCode === null,
			) as NodeProcess;
			await cluster.kill(node, "SIGKILL");
			kills++;
			await cluster.startNode("sales");
		}
		await sleep(3000);
		await stopSales();
		const total = await sold();
		expect(kills).toBe(5);
		expect(total).toBeGreaterThan(0);
		await until("analytics to have every sale", async () => (await inAnalytics()) === total);
		expect(await missing()).toBe(0);
		expect(await countedInAnalytics()).toBe(total);
	});

	it(`the analytics node down for a while: after its restart it catches up completely`, async () => {
		const downSeconds = Number(process.env.CONSUMER_DOWN_SECONDS ?? 60);
		const analytics = cluster.nodes.find(
			(n) => n.name === "analytics" && n.child.exitCode === null && n.child.signalCode === null,
		) as NodeProcess;
		const before = await sold();
		startSales();
		await cluster.kill(analytics, "SIGTERM");
		await sleep(downSeconds * 1000);
		const whileDown = (await sold()) - before;
		await cluster.startNode("analytics");
		await sleep(3000);
		await stopSales();
		const total = await sold();
		expect(whileDown).toBeGreaterThan(0);
		await until("analytics to catch up", async () => (await inAnalytics()) === total);
		expect(await missing()).toBe(0);
		expect(await countedInAnalytics()).toBe(total);
	});
});
