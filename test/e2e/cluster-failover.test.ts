/**
 * Acceptance 3: the sales node is SIGKILLed while requests flow through the
 * gateway (POS sales, which are writes and never retried, and shop listings,
 * reads retried by RETRY_READS). Until another sales node serves, the gateway
 * answers 503 SERVICE_UNAVAILABLE (a call sent to the silent node before it is
 * noticed gone ends at the request timeout, or with 503 when the node is
 * removed); then requests succeed again. No write takes longer than the request
 * timeout; no read longer than its retry budget (3 attempts, each bounded by it).
 */
import { startCluster, waitUntil, type Cluster, type NodeProcess } from "../helpers/cluster";
import { buildWorld, setStock } from "../helpers/sales-world";
import type { TestApp } from "../helpers/app";

jest.setTimeout(120_000);

const REQUEST_TIMEOUT_MS = 2000;
const HEARTBEAT_TIMEOUT_SEC = 3;

interface Sample {
	kind: "write" | "read";
	start: number;
	end: number;
	status: number;
	code?: string;
	requestId?: string;
}

describe("cluster failover: killing the sales node while requests flow", () => {
	let cluster: Cluster;
	beforeAll(async () => {
		cluster = await startCluster({
			nodes: ["gateway", "auth", "inventory", "sales"],
			routed: ["sales"],
			env: { REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS), HEARTBEAT_TIMEOUT_SEC: String(HEARTBEAT_TIMEOUT_SEC) },
		});
	});
	afterAll(async () => cluster?.stop());

	it("answers 503 until another sales node serves, then succeeds; nothing hangs past the timeout", async () => {
		const w = await buildWorld(cluster as unknown as TestApp);
		const flavor = w.flavors[0];
		await setStock(cluster as unknown as TestApp, w.clerk, w.shopId, [{ flavorId: flavor.id, quantity: 100_000, reorderThreshold: 0 }]);

		const samples: Sample[] = [];
		let running = true;
		const worker = async (kind: Sample["kind"]) => {
			while (running) {
				const start = Date.now();
				try {
					const res =
						kind === "write"
							? await cluster.request<{ error?: { code: string }; requestId?: string }>(
									"POST",
									`/api/v1/sales/shops/${w.shopId}/pos-transactions`,
									{
										token: w.clerk.token,
										body: { items: [{ flavorId: flavor.id, quantity: 1 }], paymentMethod: "CASH" },
									},
								)
							: await cluster.request<{ error?: { code: string }; requestId?: string }>("GET", "/api/v1/sales/shops", {
									token: w.exec.token,
								});
					samples.push({
						kind,
						start,
						end: Date.now(),
						status: res.status === 201 ? 200 : res.status,
						code: res.body?.error?.code,
						requestId: res.body?.requestId,
					});
				} catch (err) {
					samples.push({ kind, start, end: Date.now(), status: 0, code: String((err as Error).message) });
				}
				await new Promise((r) => setTimeout(r, 25));
			}
		};
		const workers = [worker("write"), worker("write"), worker("read")];
		const after = (t: number) => samples.filter((s) => s.start >= t);
		let second: NodeProcess | undefined;
		try {
			await waitUntil("requests to flow", () => samples.filter((s) => s.status === 200).length >= 10, 10_000, 50);
			const killAt = Date.now();
			const first = cluster.nodes.find((n) => n.name === "sales")!;
			await cluster.kill(first, "SIGKILL");

			await waitUntil("a 503 after the kill", () => samples.some((s) => s.end >= killAt && s.status === 503), 20_000, 50);
			const first503 = samples.find((s) => s.end >= killAt && s.status === 503)!;
			// Keep the outage a moment: every answer now is a 503.
			await new Promise((r) => setTimeout(r, 1000));
			const restartAt = Date.now();
			second = await cluster.startNode("sales");
			await waitUntil(
				"requests to succeed on the new sales node",
				() => after(restartAt).filter((s) => s.status === 200).length >= 10,
				30_000,
				50,
			);
			running = false;
			await Promise.all(workers);

			const summary = (list: Sample[]) =>
				list.reduce<Record<string, number>>((acc, s) => ({ ...acc, [s.status]: (acc[s.status] ?? 0) + 1 }), {});
			console.info(
				`failover: before kill ${JSON.stringify(summary(samples.filter((s) => s.end < killAt)))}, ` +
					`kill -> first 503 ${first503.end - killAt} ms ${JSON.stringify(summary(samples.filter((s) => s.end >= killAt && s.start < restartAt)))}, ` +
					`after restart ${JSON.stringify(summary(after(restartAt)))}, slowest ${Math.max(...samples.map((s) => s.end - s.start))} ms; ` +
					`answers slower than the timeout: ${JSON.stringify(samples.filter((s) => s.end - s.start > REQUEST_TIMEOUT_MS).map((s) => ({ kind: s.kind, ms: s.end - s.start, status: s.status, code: s.code, afterKill: s.start - killAt })))}`,
			);

			// Nothing hangs: a write ends within the request timeout, a read within its retry budget (plus HTTP overhead).
			for (const s of samples.filter((x) => x.kind === "write")) expect(s.end - s.start).toBeLessThan(REQUEST_TIMEOUT_MS + 1500);
			for (const s of samples.filter((x) => x.kind === "read"))
				expect(s.end - s.start).toBeLessThan(3 * REQUEST_TIMEOUT_MS + 300 + 1500);
			// Before the kill: all fine.
			expect(samples.filter((s) => s.end < killAt).every((s) => s.status === 200)).toBe(true);
			// During the outage: only 503 (clear error), or 504 for calls that went to the silent node before it was noticed gone.
			const outage = samples.filter((s) => s.end >= killAt && s.start < restartAt);
			for (const s of outage) expect([200, 503, 504]).toContain(s.status);
			for (const s of outage.filter((x) => x.status === 503)) {
				expect(s.code).toBe("SERVICE_UNAVAILABLE");
				expect(s.requestId).toBeTruthy();
			}
			for (const s of outage.filter((x) => x.status === 504)) expect(s.start).toBeLessThan(first503.end);
			// Once noticed gone and before the new node: 503 only.
			for (const s of samples.filter((x) => x.start > first503.end && x.end < restartAt)) expect(s.status).toBe(503);
			// After the new node serves: the last answers are all 200.
			expect(samples.slice(-10).every((s) => s.status === 200)).toBe(true);
		} finally {
			running = false;
			await Promise.all(workers);
			if (second) await cluster.kill(second);
		}
	});
});
