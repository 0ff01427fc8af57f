/**
 * Sockets do not outlive their tokens (issue 10, item 3). Two gateway nodes (two
 * brokers in this process, one database, one Redis): logout, and a replayed refresh
 * token, close the sockets opened with that login on every node and leave the user's
 * other logins alone;
 * deactivation, deletion, role change and password change close all of the
 * user's sockets on every node; a socket closes when its token expires.
 */
import { randomBytes } from "node:crypto";
import jwt from "jsonwebtoken";
import { clusterEnv, startTestApp, type TestApp, type TestUser } from "../helpers/app";
import { NATS_URL } from "../helpers/cluster";
import { connectSocket, type TestSocket } from "../helpers/sockets";

jest.setTimeout(60_000);

const A = "/api/v1/auth";

/** Polls until the socket is disconnected; generous deadline, no timing assertion. */
async function closed(s: TestSocket, timeoutMs = 10_000): Promise<boolean> {
	const deadline = Date.now() + timeoutMs;
	while (Date.now() < deadline) {
		if (!s.socket.connected) return true;
		await new Promise((r) => setTimeout(r, 50));
	}
	return false;
}

describe("sockets are closed when their tokens stop being valid", () => {
	let nodeA: TestApp;
	let nodeB: TestApp;
	let admin: TestUser;
	const sockets: TestSocket[] = [];
	// One cluster over NATS (a namespace of its own), like two real gateway nodes.
	const env = { ...clusterEnv("revoke"), TRANSPORTER: NATS_URL };

	beforeAll(async () => {
		nodeA = await startTestApp({ services: ["auth"], env });
		nodeB = await startTestApp({ services: ["auth"], env, db: nodeA.db });
		// Each node must know the other's gateway before a broadcast can reach it.
		const sees = async (app: TestApp, other: TestApp) =>
			(await app.broker.call<{ id: string; available: boolean }[], object>("$node.list", { onlyAvailable: true })).some(
				(n) => n.id === other.broker.nodeID,
			);
		const deadline = Date.now() + 30_000;
		while (!((await sees(nodeA, nodeB)) && (await sees(nodeB, nodeA))) && Date.now() < deadline)
			await new Promise((r) => setTimeout(r, 50));
		await nodeA.broker.waitForServices(["api", "auth"]);
		await nodeB.broker.waitForServices(["api", "auth"]);
		admin = await nodeA.createUser("ADMIN");
	});
	afterAll(async () => {
		for (const s of sockets) s.close();
		await nodeB?.stop();
		await nodeA?.stop();
	});

	const open = async (app: TestApp, token: string) => {
		const s = await connectSocket(app.baseUrl, { token });
		sockets.push(s);
		return s;
	};
	/** A second, independent login of the same user (its own session and token family). */
	const login = async (user: TestUser) => {
		const res = await nodeB.request("POST", `${A}/login`, { body: { email: user.email, password: user.password } });
		expect(res.status).toBe(200);
		return res.body.accessToken as string;
	};
	/** The user's sockets: one per node with the first login, one on node B with a second login. */
	const userWithSockets = async () => {
		const user = await nodeA.createUser("PATRON");
		const sockets = [await open(nodeA, user.token), await open(nodeB, user.token), await open(nodeB, await login(user))];
		return { user, sockets };
	};

	it("logout closes the sockets opened with that login on both nodes, not the user's other logins", async () => {
		const {
			user,
			sockets: [onA, onB, otherLogin],
		} = await userWithSockets();
		const bystander = await open(nodeA, (await nodeA.createUser("PATRON")).token);
		const res = await nodeA.request("POST", `${A}/logout`, { token: user.token, body: {} });
		expect(res.status).toBe(204);
		expect(await closed(onA)).toBe(true);
		expect(await closed(onB)).toBe(true);
		// The other login and other users keep their sockets.
		const [err] = await otherLogin.ack("call", "auth.me", {});
		expect(err).toBeNull();
		expect(otherLogin.socket.connected).toBe(true);
		expect(bystander.socket.connected).toBe(true);
	});

	it("a replayed refresh token closes the sockets of its login on both nodes, not the user's other logins", async () => {
		const user = await nodeA.createUser("PATRON");
		const first = await nodeB.request("POST", `${A}/login`, { body: { email: user.email, password: user.password } });
		expect(first.status).toBe(200);
		// Someone else refreshes with the login's refresh token first, and opens sockets with what they got.
		const stolen = await nodeA.request("POST", `${A}/refresh`, { body: { refreshToken: first.body.refreshToken } });
		expect(stolen.status).toBe(200);
		const [onA, onB] = [await open(nodeA, stolen.body.accessToken), await open(nodeB, stolen.body.accessToken)];
		const otherLogin = await open(nodeA, await login(user));
		// The owner's app refreshes with the same token: a replay, so the whole login is revoked.
		const replay = await nodeB.request("POST", `${A}/refresh`, { body: { refreshToken: first.body.refreshToken } });
		expect(replay.status).toBe(401);
		expect(await closed(onA)).toBe(true);
		expect(await closed(onB)).toBe(true);
		const [err] = await otherLogin.ack("call", "auth.me", {});
		expect(err).toBeNull();
		expect(otherLogin.socket.connected).toBe(true);
	});

	it("deactivation closes every socket of the user on both nodes", async () => {
		const { user, sockets: userSockets } = await userWithSockets();
		await nodeA.broker.call("auth.setStatus", { userId: user.id, status: "INACTIVE" });
		for (const s of userSockets) expect(await closed(s)).toBe(true);
	});

	it("deletion closes every socket of the user on both nodes", async () => {
		const { user, sockets: userSockets } = await userWithSockets();
		const res = await nodeB.request("DELETE", `${A}/users/${user.id}`, { token: admin.token });
		expect(res.status).toBe(204);
		for (const s of userSockets) expect(await closed(s)).toBe(true);
	});

	it("a role change closes every socket of the user on both nodes", async () => {
		const { user, sockets: userSockets } = await userWithSockets();
		const res = await nodeA.request("PUT", `${A}/users/${user.id}/role`, { token: admin.token, body: { role: "CLERK" } });
		expect(res.status).toBe(200);
		for (const s of userSockets) expect(await closed(s)).toBe(true);
	});

	it("a password change closes every socket opened before it; the new token's socket stays", async () => {
		const { user, sockets: userSockets } = await userWithSockets();
		const res = await nodeB.request("PUT", `${A}/change-password`, {
			token: user.token,
			body: { currentPassword: user.password, newPassword: `New-${randomBytes(8).toString("hex")}-Pw!9` },
		});
		expect(res.status).toBe(200);
		for (const s of userSockets) expect(await closed(s)).toBe(true);
		const fresh = await open(nodeA, res.body.accessToken as string);
		const [err] = await fresh.ack("call", "auth.me", {});
		expect(err).toBeNull();
		expect(fresh.socket.connected).toBe(true);
	});

	it("closes a socket when its token expires", async () => {
		const user = await nodeA.createUser("PATRON");
		const claims = jwt.decode(user.token) as Record<string, unknown>;
		const now = Math.floor(Date.now() / 1000);
		const shortLived = jwt.sign({ ...claims, iat: now, exp: now + 2 }, nodeA.config.jwt.secret, { algorithm: "HS256" });
		const s = await open(nodeB, shortLived);
		expect(s.socket.connected).toBe(true);
		expect(await closed(s, 15_000)).toBe(true);
	});
});
