/**
 * Acceptance 2, the fault test: 1,000 POS sales through the gateway while the
 * leading kafka-bridge process is SIGKILLed (the standby takes over) and Kafka
 * itself is stopped and restarted (scripts/kafka.sh). Afterwards every sale's
 * SALE_COMPLETED event is in Kafka: none lost; duplicates (at-least-once) are
 * counted and printed, and de-duplicating by envelope id leaves exactly one each.
 * Holds the exclusive Kafka test lock: no other Kafka test runs meanwhile.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { Client } from "pg";
import { httpGet, startCluster, waitUntil, type Cluster, type NodeProcess } from "../helpers/cluster";
import { endOffsets, kafkaTestLock, requireKafka, TopicReader, KAFKA_BROKERS } from "../helpers/kafka";
import { buildWorld, setStock } from "../helpers/sales-world";
import type { TestApp } from "../helpers/app";
import { EVENT_CATALOG } from "../../lib/events";

jest.setTimeout(300_000);

const SALES = 1000;
const CONCURRENCY = 8;
const KAFKA_SH = path.resolve(__dirname, "..", "..", "scripts", "kafka.sh");
const run = promisify(execFile);

describe("kafka fault test: bridge SIGKILL and Kafka restart during 1,000 sales", () => {
	let cluster: Cluster;
	let unlock: (() => Promise<void>) | undefined;
	let pg: Client;

	beforeAll(async () => {
		unlock = await kafkaTestLock("exclusive");
		await requireKafka();
		cluster = await startCluster({
			nodes: ["gateway", "auth", "inventory", "sales", "kafka-bridge"],
			env: { KAFKA_BROKERS, REDIS_URL: "redis://127.0.0.1:6379" },
		});
		await cluster.startNode("kafka-bridge");
		pg = new Client({ connectionString: cluster.db.url });
		await pg.connect();
	});
	afterAll(async () => {
		// Whatever happened, leave Kafka running for the next tests.
		await run("bash", [KAFKA_SH, "start"], { timeout: 120_000 }).catch(() => undefined);
		await pg?.end().catch(() => undefined);
		await cluster?.stop();
		await unlock?.();
	});

	const leaderBridge = async (): Promise<NodeProcess | undefined> => {
		for (const node of cluster.nodes.filter(
			(n) => n.name === "kafka-bridge" && n.child.exitCode === null && n.child.signalCode === null,
		)) {
			const status = await cluster.broker
				.call<{ role: string }, object>("kafka-bridge.status", {}, { nodeID: node.nodeID })
				.catch(() => undefined);
			if (status?.role === "leader") return node;
		}
		return undefined;
	};

	it("loses no event and counts duplicates", async () => {
		const w = await buildWorld(cluster as unknown as TestApp);
		const flavor = w.flavors[0];
		await setStock(cluster as unknown as TestApp, w.clerk, w.shopId, [
			{ flavorId: flavor.id, quantity: SALES * 2, reorderThreshold: 0 },
		]);
		const from = await endOffsets(EVENT_CATALOG.SALE_COMPLETED.topic);
		await waitUntil("a leading bridge", async () => Boolean(await leaderBridge()), 20_000);

		let kafkaDownReady: { ready: boolean; checks: Record<string, { ok: boolean; error?: string }> } | undefined;
		const statuses: Record<number, number> = {};
		const saleIds: string[] = [];
		let next = 0;
		const log: string[] = [];
		const t0 = Date.now();
		const note = (what: string) => log.push(`${((Date.now() - t0) / 1000).toFixed(1)}s (${saleIds.length} sales): ${what}`);
		const seller = async () => {
			while (next < SALES) {
				next++;
				const res = await cluster.request("POST", `/api/v1/sales/shops/${w.shopId}/pos-transactions`, {
					token: w.clerk.token,
					body: { items: [{ flavorId: flavor.id, quantity: 1 }], paymentMethod: "CARD" },
				});
				statuses[res.status] = (statuses[res.status] ?? 0) + 1;
				if (res.status === 201) saleIds.push(res.body.id);
			}
		};
		const chaos = async () => {
			await waitUntil("150 sales", () => saleIds.length >= 150, 120_000, 20);
			const leader = await leaderBridge();
			if (!leader) throw new Error("no leading bridge to kill");
			await cluster.kill(leader, "SIGKILL");
			note(`SIGKILLed the leading bridge ${leader.nodeID}`);
			await waitUntil("400 sales", () => saleIds.length >= 400, 120_000, 20);
			note("stopping Kafka");
			await run("bash", [KAFKA_SH, "stop"], { timeout: 120_000 });
			note("Kafka stopped");
			const live = cluster.nodes.find((n) => n.name === "kafka-bridge" && n.child.exitCode === null && n.child.signalCode === null)!;
			await waitUntil(
				"the bridge to report not ready while Kafka is down",
				async () => (await httpGet(`http://127.0.0.1:${live.port}/ready`)).status === 503,
				20_000,
				250,
			);
			kafkaDownReady = JSON.parse((await httpGet(`http://127.0.0.1:${live.port}/ready`)).text) as typeof kafkaDownReady;
			note(`bridge /ready: ${JSON.stringify(kafkaDownReady?.checks.kafka)}`);
			await waitUntil("600 sales", () => saleIds.length >= 600 || next >= SALES, 120_000, 20);
			note("starting Kafka");
			await run("bash", [KAFKA_SH, "start"], { timeout: 120_000 });
			note("Kafka started");
		};
		await Promise.all([seller(), seller(), seller(), ...Array.from({ length: CONCURRENCY - 3 }, seller), chaos()]);
		expect(statuses).toEqual({ 201: SALES });
		expect(kafkaDownReady).toMatchObject({ ready: false, checks: { kafka: { ok: false } } });

		// A bridge killed for good is replaced by a new process, as an orchestrator would.
		await cluster.startNode("kafka-bridge");
		note("started a replacement bridge");
		await waitUntil(
			"every SALE_COMPLETED outbox row to be marked sent",
			async () =>
				Number(
					(await pg.query("SELECT count(*) AS n FROM sales.outbox WHERE type = 'SALE_COMPLETED' AND sent_at IS NULL")).rows[0].n,
				) === 0,
			120_000,
			500,
		);
		note("outbox drained");
		const outboxIds = new Set(
			(await pg.query<{ id: string }>("SELECT id FROM sales.outbox WHERE type = 'SALE_COMPLETED'")).rows.map((r) => r.id),
		);
		expect(outboxIds.size).toBe(SALES);

		const reader = await new TopicReader(EVENT_CATALOG.SALE_COMPLETED.topic, from).start();
		try {
			const ours = () => reader.messages.filter((m) => outboxIds.has(m.value.id));
			await reader
				.waitFor(() => new Set(ours().map((m) => m.value.id)).size >= SALES, 60_000, `${SALES} distinct SALE_COMPLETED events`)
				.catch((err: Error) => {
					throw new Error(
						`${err.message}: distinct ${new Set(ours().map((m) => m.value.id)).size}\n${log.join("\n")}\n${cluster.logs()}`,
					);
				});
			// Let late duplicates arrive too before counting.
			await new Promise((r) => setTimeout(r, 1500));
			const counts = new Map<string, number>();
			for (const m of ours()) counts.set(m.value.id, (counts.get(m.value.id) ?? 0) + 1);
			const duplicates = [...counts.values()].reduce((sum, n) => sum + n - 1, 0);
			note(`Kafka holds ${ours().length} message(s) for ${counts.size} event id(s): ${duplicates} duplicate(s)`);
			console.info(`kafka fault test:\n  ${log.join("\n  ")}`);

			const missing = [...outboxIds].filter((id) => !counts.has(id));
			expect(missing).toEqual([]);
			expect(counts.size).toBe(SALES);
			// The transaction ids the POS answered are exactly the ones in Kafka.
			const kafkaTx = new Set(ours().map((m) => String(m.value.data.transactionId)));
			expect(saleIds.filter((id) => !kafkaTx.has(id))).toEqual([]);
		} finally {
			await reader.stop();
		}
	});
});
