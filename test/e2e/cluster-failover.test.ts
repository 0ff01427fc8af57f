/**
 * Acceptance 3: the sales node is SIGKILLed while requests flow through the
 * gateway. Until another sales node serves, the gateway answers 503
 * SERVICE_UNAVAILABLE (after at most a heartbeat timeout during which calls to
 * the silent node time out as 504); then requests succeed again. No request
 * takes longer than the request timeout.
 */
import { startCluster, waitUntil, type Cluster, type NodeProcess } from "../helpers/cluster";

jest.setTimeout(120_000);

const REQUEST_TIMEOUT_MS = 2000;
const HEARTBEAT_TIMEOUT_SEC = 3;

interface Sample {
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
			nodes: ["gateway", "auth", "sales"],
			routed: ["sales"],
			env: { REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS), HEARTBEAT_TIMEOUT_SEC: String(HEARTBEAT_TIMEOUT_SEC) },
		});
	});
	afterAll(async () => cluster?.stop());

	it("answers 503 until another sales node serves, then succeeds; nothing hangs past the timeout", async () => {
		const exec = await cluster.createUser("EXECUTIVE");
		const shop = await cluster.request("POST", "/api/v1/sales/shops", { token: exec.token, body: { name: "Failover Gelato", address: "Via Roma 1" } });
		expect(shop.status).toBe(201);

		const samples: Sample[] = [];
		let running = true;
		const worker = async () => {
			while (running) {
				const start = Date.now();
				try {
					const res = await cluster.request<{ rows?: unknown[]; error?: { code: string }; requestId?: string }>("GET", "/api/v1/sales/shops", { token: exec.token });
					samples.push({ start, end: Date.now(), status: res.status, code: res.body?.error?.code, requestId: res.body?.requestId });
				} catch (err) {
					samples.push({ start, end: Date.now(), status: 0, code: String((err as Error).message) });
				}
				await new Promise((r) => setTimeout(r, 25));
			}
		};
		const workers = [worker(), worker(), worker()];
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
			await waitUntil("requests to succeed on the new sales node", () => after(restartAt).filter((s) => s.status === 200).length >= 10, 30_000, 50);
			running = false;
			await Promise.all(workers);

			const summary = (list: Sample[]) => list.reduce<Record<string, number>>((acc, s) => ({ ...acc, [s.status]: (acc[s.status] ?? 0) + 1 }), {});
			console.info(
				`failover: before kill ${JSON.stringify(summary(samples.filter((s) => s.end < killAt)))}, ` +
					`kill -> first 503 ${first503.end - killAt} ms ${JSON.stringify(summary(samples.filter((s) => s.end >= killAt && s.start < restartAt)))}, ` +
					`after restart ${JSON.stringify(summary(after(restartAt)))}, slowest ${Math.max(...samples.map((s) => s.end - s.start))} ms`,
			);

			// Nothing hangs: every answer came within the request timeout (plus HTTP overhead).
			for (const s of samples) expect(s.end - s.start).toBeLessThan(REQUEST_TIMEOUT_MS + 1500);
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
