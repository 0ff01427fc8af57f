/**
 * Two gateway nodes (two brokers in this process, one database, one Redis): a
 * message sent through node A reaches a socket connected to node B (socket.io
 * Redis adapter), presence is shared (Redis), and typing crosses nodes.
 */
import { randomBytes } from "node:crypto";
import { startTestApp, type TestApp } from "../helpers/app";
import { connectSocket, type TestSocket } from "../helpers/sockets";

const C = "/api/v1/communications";

describe("sockets across two gateway nodes", () => {
	let nodeA: TestApp;
	let nodeB: TestApp;
	const sockets: TestSocket[] = [];
	const env = { REDIS_URL: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379", JWT_SECRET: randomBytes(32).toString("hex") };

	beforeAll(async () => {
		nodeA = await startTestApp({ services: ["auth", "communications"], env });
		nodeB = await startTestApp({ services: ["auth", "communications"], env, db: nodeA.db });
	});
	afterAll(async () => {
		for (const s of sockets) s.close();
		await nodeB?.stop();
		await nodeA?.stop();
	});

	it("delivers a message sent through node A to a socket on node B, and the receipt back to A", async () => {
		expect(nodeA.baseUrl).not.toBe(nodeB.baseUrl);
		const alice = await nodeA.createUser("PATRON");
		const bob = await nodeA.createUser("PATRON");
		// Bob opens it: Alice may see his status (he took part).
		const conv = await nodeA.request("POST", `${C}/chat/conversations`, {
			token: bob.token,
			body: { type: "DIRECT", participantIds: [alice.id] },
		});
		expect(conv.status).toBe(201);

		const aliceOnA = await connectSocket(nodeA.baseUrl, { token: alice.token });
		const bobOnB = await connectSocket(nodeB.baseUrl, { token: bob.token });
		sockets.push(bobOnB, aliceOnA);
		await aliceOnA.next("USER_STATUS_CHANGE", (s: { userId: string; status: string }) => s.userId === bob.id && s.status === "ONLINE");

		// Presence is shared: node A knows Bob (connected to B) is online.
		const online = await nodeA.request("GET", `${C}/chat/online-users`, { token: alice.token });
		expect(online.body.map((u: { id: string }) => u.id)).toEqual([bob.id]);

		const sent = await nodeA.request("POST", `${C}/chat/conversations/${conv.body.id}/messages`, {
			token: alice.token,
			body: { content: "across nodes" },
		});
		expect(sent.status).toBe(201);
		expect(await bobOnB.next("NEW_MESSAGE")).toMatchObject({ id: sent.body.id, content: "across nodes", senderId: alice.id });
		expect(await aliceOnA.next("MESSAGE_DELIVERED")).toMatchObject({ messageId: sent.body.id, deliveredTo: [bob.id] });

		// Typing from node B reaches node A's room member.
		await aliceOnA.ack("JOIN_CONVERSATION", { conversationId: conv.body.id });
		await bobOnB.ack("JOIN_CONVERSATION", { conversationId: conv.body.id });
		expect(await bobOnB.ack("TYPING_START", { conversationId: conv.body.id })).toEqual([null, { relayed: true }]);
		expect(await aliceOnA.next("TYPING_START")).toEqual({ conversationId: conv.body.id, userId: bob.id });

		// Bob leaves node B: Alice on node A sees him go offline.
		bobOnB.close();
		await aliceOnA.next("USER_STATUS_CHANGE", (s: { userId: string; status: string }) => s.userId === bob.id && s.status === "OFFLINE");
		expect(bobOnB.received("NEW_MESSAGE")).toHaveLength(1);
	});
});
