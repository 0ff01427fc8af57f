/**
 * Socket calls, and the client events that do work, share the per-user HTTP rate limit
 * (RATE_LIMIT_PER_MIN); a 429 ack keeps the socket open. A socket is closed when its access
 * token expires. A user holds at most SOCKETS_PER_USER sockets: on a node, and with REDIS_URL on
 * all gateway nodes together.
 */
import Redis from "ioredis";
import { PRESENCE_TTL_MS } from "../../lib/presence";
import { clusterEnv, startTestApp, type TestApp } from "../helpers/app";
import { connectSocket, sleep, type TestSocket } from "../helpers/sockets";

/** Connects as soon as a place is free again (a closed socket's is given back asynchronously); fails after 5 s. */
async function connectOnceFree(url: string, token: string): Promise<TestSocket> {
	const deadline = Date.now() + 5000;
	let again: TestSocket | undefined;
	while (!again && Date.now() < deadline) again = await connectSocket(url, { token }).catch(() => sleep(50).then(() => undefined));
	expect(again?.socket.connected).toBe(true);
	return again!;
}

describe("socket call rate limit", () => {
	let app: TestApp;
	let s: TestSocket | undefined;
	beforeAll(async () => {
		app = await startTestApp({ services: ["auth"], env: { RATE_LIMIT_PER_MIN: "5", JWT_ACCESS_TTL: "5" } });
	});
	afterAll(async () => {
		s?.close();
		await app?.stop();
	});

	it("answers 429 with retryAfter once the user's budget is spent, HTTP and sockets together", async () => {
		const user = await app.createUser("PATRON");
		s = await connectSocket(app.baseUrl, { token: user.token });
		expect((await app.request("GET", "/api/v1/auth/me", { token: user.token })).status).toBe(200);
		for (let i = 0; i < 4; i++) expect((await s.ack("call", "auth.me", {}))[0]).toBeNull();
		const [err] = await s.ack("call", "auth.me", {});
		expect(err).toMatchObject({ code: "RATE_LIMITED", status: 429, details: { retryAfter: expect.any(Number) } });
		expect((await app.request("GET", "/api/v1/auth/me", { token: user.token })).status).toBe(429);
		expect(s.socket.connected).toBe(true);
	});

	it("charges the client events that do work (presence) to the same budget; LEAVE_CONVERSATION stays free", async () => {
		const user = await app.createUser("PATRON");
		const socket = await connectSocket(app.baseUrl, { token: user.token });
		try {
			for (let i = 0; i < 5; i++) expect(await socket.ack("USER_ONLINE", {})).toEqual([null, { status: "ONLINE" }]);
			const [err] = await socket.ack("USER_OFFLINE", {});
			expect(err).toMatchObject({ code: "RATE_LIMITED", status: 429, details: { retryAfter: expect.any(Number) } });
			expect((await app.request("GET", "/api/v1/auth/me", { token: user.token })).status).toBe(429);
			const conversationId = "00000000-0000-4000-8000-000000000001";
			expect(await socket.ack("LEAVE_CONVERSATION", { conversationId })).toEqual([null, { left: conversationId }]);
			expect(socket.socket.connected).toBe(true);
		} finally {
			socket.close();
		}
	});

	it("closes a socket when its access token expires", async () => {
		const user = await app.createUser("PATRON");
		const socket = await connectSocket(app.baseUrl, { token: user.token });
		const reason = await new Promise<string>((resolve) => socket.socket.once("disconnect", resolve));
		expect(reason).toBe("io server disconnect");
		const refused = await connectSocket(app.baseUrl, { token: user.token }).catch((e: { data?: { code: string } }) => e);
		expect((refused as { data?: { code: string } }).data?.code).toBe("TOKEN_EXPIRED");
	});
});

describe("sockets per user", () => {
	let app: TestApp;
	const open: TestSocket[] = [];
	beforeAll(async () => {
		app = await startTestApp({ services: ["auth"], env: { SOCKETS_PER_USER: "2" } });
	});
	afterAll(async () => {
		for (const s of open) s.close();
		await app?.stop();
	});

	it("refuses a user's socket past SOCKETS_PER_USER with connect_error TOO_MANY_SOCKETS (429), until one closes", async () => {
		const [user, other] = await Promise.all([app.createUser("PATRON"), app.createUser("PATRON")]);
		open.push(await connectSocket(app.baseUrl, { token: user.token }), await connectSocket(app.baseUrl, { token: user.token }));
		const refused = await connectSocket(app.baseUrl, { token: user.token }).catch((e: { data?: unknown }) => e);
		if ("socket" in refused) open.push(refused); // accepted after all: closed in afterAll (an open socket holds the server)
		expect((refused as { data?: unknown }).data).toEqual({ code: "TOO_MANY_SOCKETS", status: 429 });
		// Someone else's sockets are theirs.
		open.push(await connectSocket(app.baseUrl, { token: other.token }));
		open.shift()!.close();
		open.push(await connectOnceFree(app.baseUrl, user.token));
	});
});

describe("sockets per user across gateway nodes (REDIS_URL)", () => {
	let nodeA: TestApp;
	let nodeB: TestApp;
	const open: TestSocket[] = [];
	// Two gateway nodes sharing one Redis and one database (their own NAMESPACE: nothing else shares the count).
	const env = { ...clusterEnv("cap"), SOCKETS_PER_USER: "2" };
	beforeAll(async () => {
		nodeA = await startTestApp({ services: ["auth"], env });
		nodeB = await startTestApp({ services: ["auth"], env, db: nodeA.db });
	});
	afterAll(async () => {
		for (const s of open) s.close();
		await nodeB?.stop();
		await nodeA?.stop();
	});

	const refusal = (url: string, token: string) =>
		connectSocket(url, { token }).then(
			(s) => (open.push(s), undefined), // accepted: closed in afterAll (an open socket holds the server)
			(e: { data?: unknown }) => e.data,
		);

	it("counts a user's sockets on every node: one on each of two nodes fills a cap of 2, and a closed one frees a place anywhere", async () => {
		const user = await nodeA.createUser("PATRON");
		const onB = await connectSocket(nodeB.baseUrl, { token: user.token });
		open.push(await connectSocket(nodeA.baseUrl, { token: user.token }), onB);
		expect(await refusal(nodeA.baseUrl, user.token)).toEqual({ code: "TOO_MANY_SOCKETS", status: 429 });
		expect(await refusal(nodeB.baseUrl, user.token)).toEqual({ code: "TOO_MANY_SOCKETS", status: 429 });

		onB.close();
		open.push(await connectOnceFree(nodeA.baseUrl, user.token));
	});

	it("does not count the places of a node that stopped refreshing them (it died)", async () => {
		const user = await nodeA.createUser("PATRON");
		const redis = new Redis(env.REDIS_URL);
		try {
			const stale = Date.now() - PRESENCE_TTL_MS - 1000;
			await redis.zadd(`eislager:${env.NAMESPACE}:sockets:${user.id}`, stale, "dead-node:a", stale, "dead-node:b");
			open.push(await connectSocket(nodeA.baseUrl, { token: user.token }), await connectSocket(nodeB.baseUrl, { token: user.token }));
			expect(await redis.zrange(`eislager:${env.NAMESPACE}:sockets:${user.id}`, 0, -1)).toHaveLength(2);
		} finally {
			redis.disconnect();
		}
	});
});
