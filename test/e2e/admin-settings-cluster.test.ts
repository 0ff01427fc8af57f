/**
 * Settings across processes (issue 14, section 3): a change made through one admin
 * node reaches the gateway and auth nodes without a restart (broadcast + local copy,
 * lib/settings.ts), and two admin nodes send a maintenance window's advance notice
 * once, not once each (admin.maintenance_notices). Needs `dist/` (npx tsc -p .).
 */
import { startCluster, waitUntil, type Cluster } from "../helpers/cluster";
import { uniqueEmail, type TestUser } from "../helpers/app";
import { connectSocket, type TestSocket } from "../helpers/sockets";

jest.setTimeout(90_000);
const A = "/api/v1/admin";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("settings in a cluster", () => {
	let cluster: Cluster;
	let admin: TestUser;
	let patron: TestUser;
	let socket: TestSocket | undefined;

	beforeAll(async () => {
		cluster = await startCluster({ nodes: ["gateway", "auth", "admin", "admin"], env: { REDIS_URL: "redis://127.0.0.1:6379" } });
		admin = await cluster.createUser("ADMIN");
		patron = await cluster.createUser("PATRON");
	}, 120_000);
	afterAll(async () => {
		socket?.close();
		await cluster?.stop();
	});

	/** Polls until `check` holds; answers how long the change took to show. */
	const propagation = async (what: string, check: () => Promise<boolean>): Promise<number> => {
		const started = Date.now();
		await waitUntil(what, check, 10_000, 20);
		return Date.now() - started;
	};

	it("registrationOpen set on an admin node closes registration on the auth node, and opens it again", async () => {
		const register = () =>
			cluster.request("POST", "/api/v1/auth/register", {
				body: { email: uniqueEmail("c"), password: "Correct-Horse-42", name: "Cluster Patron" },
			});
		expect((await cluster.request("PUT", `${A}/config`, { token: admin.token, body: { registrationOpen: false } })).status).toBe(200);
		const closedMs = await propagation("the auth node to refuse registration", async () => (await register()).status === 403);
		const refused = await register();
		expect([refused.status, refused.body.error?.code]).toEqual([403, "REGISTRATION_CLOSED"]);
		expect((await cluster.request("PUT", `${A}/config`, { token: admin.token, body: { registrationOpen: true } })).status).toBe(200);
		const openMs = await propagation("the auth node to accept registration", async () => (await register()).status === 201);
		// The figure for the report (the issue asks for < 1 s); not asserted, the machine is shared.
		console.log(`settings propagation: closed after ${closedMs} ms, open after ${openMs} ms`);
	});

	it("a maintenance window reaches the gateway node and the auth node; lifting it too", async () => {
		const created = await cluster.request("POST", `${A}/config/maintenance`, {
			token: admin.token,
			body: {
				startsAt: new Date(Date.now() - 1000).toISOString(),
				endsAt: new Date(Date.now() + 600_000).toISOString(),
				message: "Cluster upgrade",
			},
		});
		expect(created.status).toBe(201);
		await propagation(
			"the gateway to answer MAINTENANCE",
			async () => (await cluster.request("GET", "/api/v1/auth/me", { token: patron.token })).status === 503,
		);
		const blocked = await cluster.request("GET", "/api/v1/auth/me", { token: patron.token });
		expect(blocked.body.error?.code).toBe("MAINTENANCE");
		expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
		// Sign-in passes the gateway; the auth node refuses non-ADMINs itself.
		const login = await cluster.request("POST", "/api/v1/auth/login", { body: { email: patron.email, password: patron.password } });
		expect([login.status, login.body.error?.code]).toEqual([503, "MAINTENANCE"]);
		expect(
			(await cluster.request("POST", "/api/v1/auth/login", { body: { email: admin.email, password: admin.password } })).status,
		).toBe(200);

		expect((await cluster.request("DELETE", `${A}/config/maintenance/${created.body.id}`, { token: admin.token })).status).toBe(204);
		await propagation(
			"the gateway to serve again",
			async () => (await cluster.request("GET", "/api/v1/auth/me", { token: patron.token })).status === 200,
		);
		expect(
			(await cluster.request("POST", "/api/v1/auth/login", { body: { email: patron.email, password: patron.password } })).status,
		).toBe(200);
	});

	it("two admin nodes send a window's advance notice once", async () => {
		socket = await connectSocket(cluster.gatewayUrl, { token: patron.token });
		const created = await cluster.request("POST", `${A}/config/maintenance`, {
			token: admin.token,
			body: {
				startsAt: new Date(Date.now() + 10 * 60_000).toISOString(),
				endsAt: new Date(Date.now() + 40 * 60_000).toISOString(),
				message: "Twice?",
			},
		});
		expect(created.status).toBe(201);
		const id = created.body.id as string;
		type Notice = { maintenanceId: string; leadMinutes: number };
		expect(await socket.next<Notice>("SYSTEM_ANNOUNCEMENT", (d) => d.maintenanceId === id, 15_000)).toMatchObject({ leadMinutes: 15 });
		// Both admin nodes look every 5 s (services/admin/config.service.ts): give the other one two looks.
		await sleep(11_000);
		expect(socket.received<Notice>("SYSTEM_ANNOUNCEMENT").filter((d) => d.maintenanceId === id)).toHaveLength(1);
	});
});
