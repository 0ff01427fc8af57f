/**
 * Trust between services (issue 10): NATS requires credentials, and every call
 * between nodes carries proof of origin made with SERVICE_KEY.
 * A private nats-server with authorization runs for this file; gateway and auth
 * run as their own processes (test/helpers/cluster.ts).
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import os from "node:os";
import { Client } from "pg";
import type { ServiceBroker } from "moleculer";
import { createBroker } from "../../bin/broker";
import { loadConfig } from "../../lib/config";
import { START_JS, startCluster, waitUntil, type Cluster } from "../helpers/cluster";
import { startNatsServer, type NatsServer } from "../helpers/nats";
import { uniqueEmail } from "../helpers/app";

const USER = "eislager";
const PASS = randomBytes(12).toString("hex");
const SERVICE_KEY = randomBytes(32).toString("hex");

let nats: NatsServer;
let cluster: Cluster;
const rogues: ServiceBroker[] = [];

function rogueBroker(env: Record<string, string>): ServiceBroker {
	const broker = createBroker(loadConfig({ ...process.env, ...cluster.env, LOG_LEVEL: "fatal", ...env }), {
		nodeID: `rogue-${randomBytes(3).toString("hex")}`,
		logLevel: "fatal",
		// One connection attempt, no retry every 5 s.
		transit: { disableReconnect: true },
	});
	rogues.push(broker);
	return broker;
}

function sees(broker: ServiceBroker, service: string): boolean {
	return (broker.registry.getServiceList({ onlyAvailable: true }) as { name: string }[]).some((s) => s.name === service);
}

async function userCount(email: string): Promise<number> {
	const pg = new Client({ connectionString: cluster.db.url });
	await pg.connect();
	try {
		return (await pg.query<{ n: number }>("SELECT count(*)::int AS n FROM auth.users WHERE email = $1", [email])).rows[0].n;
	} finally {
		await pg.end();
	}
}

beforeAll(async () => {
	nats = await startNatsServer({ user: USER, pass: PASS });
	cluster = await startCluster({
		nodes: ["gateway", "auth"],
		env: { TRANSPORTER: `nats://${USER}:${PASS}@127.0.0.1:${nats.port}`, SERVICE_KEY },
	});
}, 90_000);

afterAll(async () => {
	await Promise.all(rogues.map((b) => b.stop().catch(() => undefined)));
	await cluster?.stop();
	await nats?.stop();
});

/** Starts a broker that NATS should refuse; resolves with the transporter's error. */
async function refusedConnection(transporter: string): Promise<{ broker: ServiceBroker; error: string }> {
	const rogue = rogueBroker({ TRANSPORTER: transporter });
	const errors: string[] = [];
	rogue.localBus.on("$transporter.error", (e: { error?: Error }) => errors.push(String(e.error?.message)));
	// start() never settles while the transporter is down; the error event says why.
	void rogue.start().catch(() => undefined);
	await waitUntil("the transporter's connection error", () => errors.length > 0);
	return { broker: rogue, error: errors[0] };
}

test("a broker without NATS credentials cannot join", async () => {
	const { broker, error } = await refusedConnection(nats.url);
	expect(error).toMatch(/authorization violation/i);
	expect(broker.transit?.connected).toBe(false);
	const nodes = (await cluster.broker.call<{ id: string }[], object>("$node.list", { onlyAvailable: true })).map((n) => n.id);
	expect(nodes).not.toContain(broker.nodeID);
});

test("a broker with wrong NATS credentials cannot join", async () => {
	const { error } = await refusedConnection(`nats://${USER}:wrong-${PASS}@127.0.0.1:${nats.port}`);
	expect(error).toMatch(/authorization violation/i);
});

describe("a broker with NATS credentials but without SERVICE_KEY", () => {
	let rogue: ServiceBroker;

	beforeAll(async () => {
		rogue = rogueBroker({ SERVICE_KEY: "" });
		await rogue.start();
		await waitUntil("the rogue node to see auth.createUser", () => sees(rogue, "auth"));
	});

	test("cannot call auth.createUser: 401 SERVICE_UNAUTHENTICATED, nothing created, the refusal logged without secrets", async () => {
		const email = uniqueEmail("rogue-admin");
		const params = { email, password: "rogue-password-1", name: "Rogue", role: "ADMIN" };
		await expect(rogue.call("auth.createUser", params)).rejects.toMatchObject({ code: 401, type: "SERVICE_UNAUTHENTICATED" });
		// Posing as the gateway with an ADMIN user in meta changes nothing.
		await expect(
			rogue.call("auth.createUser", params, {
				meta: { user: { id: randomBytes(16).toString("hex"), role: "ADMIN" } },
				caller: "api",
			} as object),
		).rejects.toMatchObject({
			code: 401,
			type: "SERVICE_UNAUTHENTICATED",
		});
		expect(await userCount(email)).toBe(0);
		const auth = cluster.nodes.find((n) => n.name === "auth")!;
		await waitUntil("the refusal in the auth node's log", () =>
			auth.output.some((l) => l.includes('Refused a call to "auth.createUser"') && l.includes(rogue.nodeID)),
		);
		const log = auth.output.join("\n");
		expect(log).not.toContain(SERVICE_KEY);
		expect(log).not.toContain(PASS);
	});

	test("with a wrong SERVICE_KEY it is refused the same way", async () => {
		const forger = rogueBroker({ SERVICE_KEY: randomBytes(32).toString("hex") });
		await forger.start();
		await waitUntil("the forging node to see auth.createUser", () => sees(forger, "auth"));
		const email = uniqueEmail("forged");
		await expect(
			forger.call("auth.createUser", { email, password: "rogue-password-1", name: "Forged", role: "ADMIN" }),
		).rejects.toMatchObject({ code: 401, type: "SERVICE_UNAUTHENTICATED" });
		expect(await userCount(email)).toBe(0);
	});
});

test("the cluster works with both set: an internal call, then calls through the gateway", async () => {
	const admin = await cluster.createUser("ADMIN");
	const me = await cluster.request<{ id: string; role: string }>("GET", "/api/v1/auth/me", { token: admin.token });
	expect(me.status).toBe(200);
	expect(me.body).toMatchObject({ id: admin.id, role: "ADMIN" });
});

describe("metrics and readiness are operator data", () => {
	test("the public port answers /health with only ok, and has no /metrics or /ready", async () => {
		const health = await cluster.request("GET", "/health");
		expect(health.status).toBe(200);
		expect(health.body).toEqual({ status: "ok" });
		for (const path of ["/metrics", "/ready"]) {
			const res = await cluster.request("GET", path);
			expect({ path, status: res.status }).toEqual({ path, status: 404 });
		}
	});

	test("the gateway node serves them on its operator port (METRICS_PORT)", async () => {
		const gateway = cluster.nodes.find((n) => n.name === "gateway")!;
		const metrics = await fetch(`http://127.0.0.1:${gateway.port}/metrics`);
		expect(metrics.status).toBe(200);
		expect(await metrics.text()).toMatch(/moleculer_request_total\{[^}]*action="api\.health"/);
		const ready = await fetch(`http://127.0.0.1:${gateway.port}/ready`);
		expect(ready.status).toBe(200);
		expect(await ready.json()).toMatchObject({ ready: true, checks: { transporter: { ok: true } } });
	});
});

test("a token in TRANSPORTER (nats://<token>@host) is presented as a NATS token", async () => {
	const token = randomBytes(16).toString("hex");
	const tokenServer = await startNatsServer({ token });
	try {
		const broker = rogueBroker({
			TRANSPORTER: `nats://${token}@127.0.0.1:${tokenServer.port}`,
			NAMESPACE: `tok-${randomBytes(3).toString("hex")}`,
		});
		await broker.start();
		expect(broker.transit?.connected).toBe(true);
		await broker.stop();
		const { error } = await refusedConnection(`nats://wrong-${token}@127.0.0.1:${tokenServer.port}`);
		expect(error).toMatch(/authorization violation/i);
	} finally {
		await tokenServer.stop();
	}
});

test("in production, a TRANSPORTER without SERVICE_KEY stops start-up with one line", () => {
	const env: Record<string, string> = {
		PATH: process.env.PATH ?? "",
		NODE_ENV: "production",
		TRANSPORTER: `nats://${USER}:${PASS}@127.0.0.1:${nats.port}`,
		JWT_SECRET: randomBytes(32).toString("hex"),
		SERVICES: "auth",
	};
	const res = spawnSync(process.execPath, [START_JS], { cwd: os.tmpdir(), env, encoding: "utf8", timeout: 30_000 });
	expect(res.status).toBe(1);
	expect(res.stderr.trim().split("\n")).toEqual([
		"Invalid configuration: SERVICE_KEY is required when NODE_ENV=production and TRANSPORTER is set",
	]);
});
