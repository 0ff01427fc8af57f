/**
 * Two gateway PROCESSES over NATS with Redis (the socket.io Redis adapter and
 * Redis presence), plus auth and communications nodes: a message sent through
 * gateway 1 reaches a socket on gateway 2, and presence agrees across them.
 * Needs dist/ (npx tsc -p .), NATS and Redis.
 */
import { spawn } from "node:child_process";
import { freePort, httpGet, startCluster, START_JS, waitUntil, type Cluster } from "../helpers/cluster";
import { connectSocket, type TestSocket } from "../helpers/sockets";

jest.setTimeout(120_000);

const C = "/api/v1/communications";

describe("sockets across two gateway processes", () => {
	let cluster: Cluster;
	let second: { url: string; stop(): Promise<void> } | undefined;
	const sockets: TestSocket[] = [];

	beforeAll(async () => {
		cluster = await startCluster({
			nodes: ["gateway", "auth", "communications"],
			env: { REDIS_URL: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379" },
		});
		// A second gateway node of the same cluster, on its own port.
		const [port, opsPort] = [await freePort(), await freePort()];
		const child = spawn(process.execPath, [START_JS], {
			env: {
				...(process.env as Record<string, string>),
				...cluster.env,
				SERVICES: "gateway",
				PORT: String(port),
				METRICS_PORT: String(opsPort),
				NODE_ID: `gateway-2-${port}`,
			},
			stdio: ["ignore", "pipe", "pipe"],
		});
		const output: string[] = [];
		child.stdout!.on("data", (c: Buffer) => output.push(c.toString()));
		child.stderr!.on("data", (c: Buffer) => output.push(c.toString()));
		const exited = new Promise((resolve) => child.once("exit", resolve));
		second = {
			url: `http://127.0.0.1:${port}`,
			async stop() {
				if (child.exitCode === null) child.kill("SIGTERM");
				await exited;
			},
		};
		await waitUntil(
			"the second gateway to route communications",
			async () => {
				if (child.exitCode !== null) throw new Error(`second gateway exited: ${output.join("").slice(-2000)}`);
				const res = await httpGet(`${second!.url}/api/v1/openapi.json`);
				return res.status === 200 && res.text.includes("/api/v1/communications/");
			},
			45_000,
		);
	}, 180_000);
	afterAll(async () => {
		for (const s of sockets) s.close();
		await second?.stop();
		await cluster?.stop();
	});

	it("delivers a message sent through gateway 1 to a socket on gateway 2", async () => {
		const alice = await cluster.createUser("PATRON");
		const bob = await cluster.createUser("PATRON");
		// Bob opens it: Alice may see his status (he took part).
		const conv = await cluster.request("POST", `${C}/chat/conversations`, {
			token: bob.token,
			body: { type: "DIRECT", participantIds: [alice.id] },
		});
		expect(conv.status).toBe(201);

		const aliceOn1 = await connectSocket(cluster.gatewayUrl, { token: alice.token });
		const bobOn2 = await connectSocket(second!.url, { token: bob.token });
		sockets.push(aliceOn1, bobOn2);
		await aliceOn1.next(
			"USER_STATUS_CHANGE",
			(s: { userId: string; status: string }) => s.userId === bob.id && s.status === "ONLINE",
			10_000,
		);
		const online = await cluster.request("GET", `${C}/chat/online-users`, { token: alice.token });
		expect(online.body.map((u: { id: string }) => u.id)).toEqual([bob.id]);

		const sent = await cluster.request("POST", `${C}/chat/conversations/${conv.body.id}/messages`, {
			token: alice.token,
			body: { content: "hello from gateway 1" },
		});
		expect(sent.status).toBe(201);
		expect(await bobOn2.next("NEW_MESSAGE", undefined, 10_000)).toMatchObject({ id: sent.body.id, content: "hello from gateway 1" });
		expect(await aliceOn1.next("MESSAGE_DELIVERED", undefined, 10_000)).toMatchObject({
			messageId: sent.body.id,
			deliveredTo: [bob.id],
		});

		// And back: Bob answers over his socket on gateway 2.
		const [err, reply] = await bobOn2.ack<{ id: string }>("call", "communications.chat.sendMessage", {
			id: conv.body.id,
			content: "hi from gateway 2",
		});
		expect(err).toBeNull();
		expect(await aliceOn1.next("NEW_MESSAGE", (m: { id: string }) => m.id === reply.id, 10_000)).toMatchObject({ senderId: bob.id });
		expect(aliceOn1.received("NEW_MESSAGE")).toHaveLength(1);
		expect(bobOn2.received("NEW_MESSAGE")).toHaveLength(1);
	});
});
