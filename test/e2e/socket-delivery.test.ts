/**
 * Event flows to sockets (issue 14, section 4), on two gateway nodes (two brokers
 * in this process, one database, one Redis, no transporter between them: only the
 * socket.io Redis adapter connects the nodes):
 * - MESSAGE_RECEIVED and NOTIFICATION_SENT reach sockets as broker events relayed by
 *   the gateway (moleculer-io), not through the private `sockets.push` path;
 * - MESSAGE_DELIVERED means the recipient's client acked NEW_MESSAGE, also when the
 *   message is delivered later, on reconnect;
 * - USER_ROLE_CHANGED: the user's sockets on every node are told to reconnect and
 *   closed; the new socket joins the new role's room.
 */
import { Client } from "pg";
import { INTERNAL_EVENTS, type SocketPush } from "../../lib/events";
import { clusterEnv, startTestApp, type TestApp } from "../helpers/app";
import { connectSocket, type TestSocket } from "../helpers/sockets";

jest.setTimeout(60_000);

const C = "/api/v1/communications";

async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!(await check())) {
		if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 25));
	}
}

describe("broker events → moleculer-io → sockets, delivery acks, role changes", () => {
	let nodeA: TestApp;
	let nodeB: TestApp;
	const sockets: TestSocket[] = [];
	const env = clusterEnv("delivery");
	/** Every `sockets.push` either node emits, and every broker emit of the relayed events. */
	const privatePushes: SocketPush[] = [];
	const relayedEmits: { event: string; live: unknown }[] = [];

	beforeAll(async () => {
		nodeA = await startTestApp({ services: ["auth", "communications"], env });
		nodeB = await startTestApp({ services: ["auth", "communications"], env, db: nodeA.db });
		for (const node of [nodeA, nodeB]) {
			for (const method of ["emit", "broadcast"] as const) {
				const original = node.broker[method].bind(node.broker);
				jest.spyOn(node.broker, method).mockImplementation(((
					event: string,
					payload: unknown,
					opts?: { meta?: { live?: unknown } },
				) => {
					if (event === INTERNAL_EVENTS.socketPush) privatePushes.push(payload as SocketPush);
					if (event === "MESSAGE_RECEIVED" || event === "NOTIFICATION_SENT") relayedEmits.push({ event, live: opts?.meta?.live });
					return original(event, payload, opts as never);
				}) as never);
			}
		}
	});
	afterAll(async () => {
		for (const s of sockets) s.close();
		await nodeB?.stop();
		await nodeA?.stop();
	});

	const open = async (app: TestApp, token: string, ackMessages = true) => {
		const s = await connectSocket(app.baseUrl, { token, ackMessages });
		sockets.push(s);
		return s;
	};

	it("relays NEW_MESSAGE and NOTIFICATION_RECEIVED from the broker events, not from sockets.push", async () => {
		const [alice, bob, admin] = await Promise.all([nodeA.createUser("PATRON"), nodeA.createUser("PATRON"), nodeA.createUser("ADMIN")]);
		const conv = await nodeA.request("POST", `${C}/chat/conversations`, {
			token: alice.token,
			body: { type: "DIRECT", participantIds: [bob.id] },
		});
		const bobOnB = await open(nodeB, bob.token);
		const aliceOnA = await open(nodeA, alice.token);

		const sent = await nodeA.request("POST", `${C}/chat/conversations/${conv.body.id}/messages`, {
			token: alice.token,
			body: { content: "relayed" },
		});
		expect(sent.status).toBe(201);
		expect(await bobOnB.next("NEW_MESSAGE")).toMatchObject({ id: sent.body.id, content: "relayed" });
		const note = await nodeA.request("POST", `${C}/notifications`, {
			token: admin.token,
			body: { userId: bob.id, type: "HELLO", message: "relayed too" },
		});
		expect(note.status).toBe(201);
		expect(await bobOnB.next("NOTIFICATION_RECEIVED")).toEqual(note.body);

		expect(relayedEmits.find((e) => e.event === "MESSAGE_RECEIVED")?.live).toMatchObject({ id: sent.body.id, content: "relayed" });
		expect(relayedEmits.find((e) => e.event === "NOTIFICATION_SENT")?.live).toEqual(note.body);
		expect(privatePushes.filter((p) => p.event === "NEW_MESSAGE" || p.event === "NOTIFICATION_RECEIVED")).toEqual([]);
		// The sender's own sockets never get their message back.
		expect(aliceOnA.received("NEW_MESSAGE")).toEqual([]);
	});

	it("sends MESSAGE_DELIVERED only once the recipient's client acked, including on reconnect", async () => {
		const [alice, bob] = await Promise.all([nodeA.createUser("PATRON"), nodeA.createUser("PATRON")]);
		const conv = await nodeA.request("POST", `${C}/chat/conversations`, {
			token: alice.token,
			body: { type: "DIRECT", participantIds: [bob.id] },
		});
		const aliceOnA = await open(nodeA, alice.token);

		// Bob's client receives but never acks: not delivered.
		const silent = await open(nodeB, bob.token, false);
		const first = await nodeA.request("POST", `${C}/chat/conversations/${conv.body.id}/messages`, {
			token: alice.token,
			body: { content: "one" },
		});
		expect(await silent.next("NEW_MESSAGE")).toMatchObject({ id: first.body.id });
		silent.close();
		await until(
			async () => (await nodeA.request("GET", `${C}/chat/online-users`, { token: alice.token })).body.length === 0,
			"Bob offline",
		);
		expect(aliceOnA.received("MESSAGE_DELIVERED")).toEqual([]);

		// Sent while Bob has no socket at all.
		const second = await nodeA.request("POST", `${C}/chat/conversations/${conv.body.id}/messages`, {
			token: alice.token,
			body: { content: "two" },
		});
		expect(second.status).toBe(201);

		// Bob comes back (other node) with a client that acks: both arrive, oldest first, and both are delivered.
		const back = await open(nodeA, bob.token);
		expect(await back.next("NEW_MESSAGE", (m: { id: string }) => m.id === second.body.id)).toMatchObject({ content: "two" });
		expect(back.received<{ id: string }>("NEW_MESSAGE").map((m) => m.id)).toEqual([first.body.id, second.body.id]);
		const receipts = [
			await aliceOnA.next<{ messageId: string; deliveredTo: string[] }>("MESSAGE_DELIVERED"),
			await aliceOnA.next<{ messageId: string; deliveredTo: string[] }>("MESSAGE_DELIVERED"),
		];
		expect(receipts.map((r) => r.messageId).sort()).toEqual([first.body.id, second.body.id].sort());
		for (const r of receipts)
			expect(r).toMatchObject({ conversationId: conv.body.id, deliveredTo: [bob.id], deliveredAt: expect.any(String) });

		// Delivered messages are not sent again on the next connect; a live one is acked and receipted.
		back.close();
		const again = await open(nodeB, bob.token);
		const third = await nodeA.request("POST", `${C}/chat/conversations/${conv.body.id}/messages`, {
			token: alice.token,
			body: { content: "three" },
		});
		await again.next("NEW_MESSAGE", (m: { id: string }) => m.id === third.body.id);
		expect(again.received<{ id: string }>("NEW_MESSAGE").map((m) => m.id)).toEqual([third.body.id]);
		expect(await aliceOnA.next("MESSAGE_DELIVERED")).toMatchObject({ messageId: third.body.id, deliveredTo: [bob.id] });
	});

	it("records a group message's acks together: each recipient once, in receipts listing who acked, one row each", async () => {
		const [alice, bob, carol, dave] = await Promise.all([1, 2, 3, 4].map(() => nodeA.createUser("PATRON")));
		const conv = await nodeA.request("POST", `${C}/chat/conversations`, {
			token: alice.token,
			body: { type: "GROUP", name: "night shift", participantIds: [bob.id, carol.id, dave.id] },
		});
		expect(conv.status).toBe(201);
		const aliceOnA = await open(nodeA, alice.token);
		// Bob acks from two sockets (one per node), Carol from one; Dave's client never acks.
		const bobSockets = [await open(nodeA, bob.token), await open(nodeB, bob.token)];
		const carolOnB = await open(nodeB, carol.token);
		const daveOnA = await open(nodeA, dave.token, false);

		const sent = await nodeA.request("POST", `${C}/chat/conversations/${conv.body.id}/messages`, {
			token: alice.token,
			body: { content: "all hands" },
		});
		expect(sent.status).toBe(201);
		for (const s of [...bobSockets, carolOnB, daveOnA]) await s.next("NEW_MESSAGE", (m: { id: string }) => m.id === sent.body.id);

		type Receipt = { messageId: string; conversationId: string; deliveredTo: string[]; deliveredAt: string };
		const receipts = () => aliceOnA.received<Receipt>("MESSAGE_DELIVERED").filter((r) => r.messageId === sent.body.id);
		await until(() => receipts().flatMap((r) => r.deliveredTo).length >= 2, "receipts for Bob and Carol");
		// Anything still in flight (a second flush, Dave's missing ack) would show up within this wait.
		await new Promise((r) => setTimeout(r, 300));
		for (const r of receipts()) expect(r).toMatchObject({ conversationId: conv.body.id, deliveredAt: expect.any(String) });
		expect(
			receipts()
				.flatMap((r) => r.deliveredTo)
				.sort(),
		).toEqual([bob.id, carol.id].sort());
		const pg = new Client({ connectionString: nodeA.db.url });
		await pg.connect();
		try {
			const { rows } = await pg.query<{ user_id: string }>(
				`SELECT user_id FROM communications.message_deliveries WHERE message_id = $1 ORDER BY user_id`,
				[sent.body.id],
			);
			expect(rows.map((r) => r.user_id).sort()).toEqual([bob.id, carol.id].sort());
		} finally {
			await pg.end();
		}
	});

	it("on USER_ROLE_CHANGED tells the user's sockets on both nodes to reconnect; the new socket joins the new role's room", async () => {
		const [carol, admin] = await Promise.all([nodeA.createUser("PATRON"), nodeA.createUser("ADMIN")]);
		const onA = await open(nodeA, carol.token);
		const onB = await open(nodeB, carol.token);
		// Each node lists its own sockets of a room.
		const members = async (room: string) =>
			(await Promise.all([nodeA, nodeB].map((n) => n.broker.call<string[], { room: string }>("api.getClients", { room })))).flat();
		await until(async () => {
			const patrons = await members("role:PATRON");
			return [onA, onB].every((s) => patrons.includes(s.socket.id!));
		}, "Carol's sockets in role:PATRON");

		const res = await nodeA.request("PUT", `/api/v1/auth/users/${carol.id}/role`, { token: admin.token, body: { role: "CLERK" } });
		expect(res.status).toBe(200);
		// Node B hears of it only through the gateway's relay (no transporter between the brokers here).
		expect(await onB.next("RECONNECT_REQUIRED")).toEqual({ reason: "ROLE_CHANGED", role: "CLERK" });
		expect(await onA.next("RECONNECT_REQUIRED")).toMatchObject({ reason: "ROLE_CHANGED" });
		await until(() => !onA.socket.connected && !onB.socket.connected, "both sockets closed");

		const login = await nodeB.request("POST", "/api/v1/auth/login", { body: { email: carol.email, password: carol.password } });
		expect(login.status).toBe(200);
		const fresh = await open(nodeB, login.body.accessToken);
		await until(async () => (await members("role:CLERK")).includes(fresh.socket.id!), "the new socket in role:CLERK");
		expect(await members("role:PATRON")).not.toContain(fresh.socket.id);
	});
});
