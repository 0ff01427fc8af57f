/**
 * The admin node as its own process over NATS (with gateway, auth and
 * communications nodes): cluster health lists every node and service, metrics
 * come from every node, a server-side failure on another node reaches the
 * application log, and deactivation (admin node → auth node) kills the token at
 * the gateway. Needs `dist/` (npx tsc -p .).
 */
import { startCluster, waitUntil, type Cluster } from "../helpers/cluster";
import type { TestUser } from "../helpers/app";

jest.setTimeout(60_000);
const A = "/api/v1/admin";

describe("admin node in a cluster", () => {
	let cluster: Cluster;
	let admin: TestUser;

	beforeAll(async () => {
		// Redis: token revocation must be shared between the auth node and the gateway (lib/kv.ts).
		cluster = await startCluster({
			nodes: ["gateway", "auth", "communications", "admin"],
			env: { REDIS_URL: "redis://127.0.0.1:6379" },
		});
		admin = await cluster.createUser("ADMIN");
	}, 90_000);
	afterAll(async () => {
		await cluster?.stop();
	});

	it("health: every node process UP with its figures, every service with the node running it", async () => {
		const res = await cluster.request("GET", `${A}/system/health`, { token: admin.token });
		expect(res.status).toBe(200);
		expect(res.body.status).toBe("UP");
		const byId = new Map(res.body.nodes.map((n: { nodeID: string }) => [n.nodeID, n]));
		for (const n of cluster.nodes)
			expect(byId.get(n.nodeID)).toMatchObject({ status: "UP", uptimeSec: expect.any(Number), cpuPercent: expect.any(Number) });
		const services = new Map(res.body.services.map((s: { name: string; nodes: string[] }) => [s.name, s.nodes]));
		const nodeOf = (name: string) => cluster.nodes.find((n) => n.name === name)!.nodeID;
		expect(services.get("auth")).toEqual([nodeOf("auth")]);
		expect(services.get("admin.broadcasts")).toEqual([nodeOf("admin")]);
		expect(services.get("communications.notifications")).toEqual([nodeOf("communications")]);
	});

	it("metrics: a snapshot from every node", async () => {
		const res = await cluster.request("GET", `${A}/system/metrics`, { token: admin.token });
		expect(res.status).toBe(200);
		const ids = res.body.nodes.filter((n: { metrics: unknown[] }) => n.metrics.length > 0).map((n: { nodeID: string }) => n.nodeID);
		expect(ids).toEqual(expect.arrayContaining(cluster.nodes.map((n) => n.nodeID)));
	});

	it("a failure on another node reaches the admin node's application log", async () => {
		await cluster.broker.createService({
			name: "boom",
			actions: { fail: { handler: () => Promise.reject(new Error("remote kaboom")) } },
		});
		await cluster.broker.waitForServices(["boom"]);
		await expect(cluster.broker.call("boom.fail")).rejects.toThrow("remote kaboom");
		let rows: { action: string; nodeID: string; message: string }[] = [];
		await waitUntil(
			"the log entry",
			async () => {
				rows = (await cluster.request("GET", `${A}/system/logs`, { token: admin.token })).body.rows;
				return rows.length > 0;
			},
			10_000,
			50,
		);
		expect(rows).toEqual([expect.objectContaining({ action: "boom.fail", nodeID: cluster.broker.nodeID, message: "remote kaboom" })]);
	});

	it("deactivation on the admin node kills the user's token at the gateway", async () => {
		const u = await cluster.createUser("PATRON");
		expect((await cluster.request("GET", "/api/v1/auth/me", { token: u.token })).status).toBe(200);
		expect(
			(await cluster.request("PUT", `${A}/users/${u.id}/status`, { token: admin.token, body: { status: "INACTIVE" } })).status,
		).toBe(200);
		expect((await cluster.request("GET", "/api/v1/auth/me", { token: u.token })).status).toBe(401);
		expect((await cluster.request("POST", "/api/v1/auth/login", { body: { email: u.email, password: u.password } })).status).toBe(401);
	});

	it("the SELF_MODIFICATION rule holds across nodes: the auth node sees the admin node's caller", async () => {
		// Enforced once, in the auth actions; the admin node's call carries the caller's identity over NATS.
		const self = await cluster.request("PUT", `${A}/users/${admin.id}/status`, { token: admin.token, body: { status: "INACTIVE" } });
		expect([self.status, self.body.error?.code]).toEqual([409, "SELF_MODIFICATION"]);
		expect((await cluster.request("GET", "/api/v1/auth/me", { token: admin.token })).body).toMatchObject({ status: "ACTIVE" });
	});
});
