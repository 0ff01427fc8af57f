/**
 * The socket gateway end to end: handshake auth, allow-listed calls, chat over
 * HTTP + sockets (live NEW_MESSAGE, MESSAGE_DELIVERED, read receipts, unread
 * counts, nothing for outsiders), typing relay, presence across tabs.
 */
import jwt from "jsonwebtoken";
import { startTestApp, type TestApp, type TestUser } from "../helpers/app";
import { connectSocket, sleep, type TestSocket } from "../helpers/sockets";

const C = "/api/v1/communications";

describe("socket gateway + chat", () => {
	let app: TestApp;
	let a: TestUser, b: TestUser, c: TestUser;
	const sockets: TestSocket[] = [];
	const open = async (user: TestUser) => {
		const s = await connectSocket(app.baseUrl, { token: user.token });
		sockets.push(s);
		return s;
	};

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "communications"] });
		[a, b, c] = await Promise.all([app.createUser("PATRON"), app.createUser("CLERK"), app.createUser("PATRON")]);
	});
	afterAll(async () => {
		for (const s of sockets) s.close();
		await app?.stop();
	});

	describe("handshake", () => {
		it("refuses a socket without a token, with a clear error", async () => {
			const err = await connectSocket(app.baseUrl).catch((e: Error & { data?: { code: string; status: number } }) => e);
			expect(err).toBeInstanceOf(Error);
			expect((err as Error).message).toMatch(/Authentication required/);
			expect((err as { data?: unknown }).data).toEqual({ code: "UNAUTHORIZED", status: 401 });
		});

		it("refuses an expired token and a forged one", async () => {
			const claims = jwt.decode(a.token) as Record<string, unknown>;
			const expired = jwt.sign(
				{ ...claims, iat: Math.floor(Date.now() / 1000) - 120, exp: Math.floor(Date.now() / 1000) - 60 },
				app.config.jwt.secret,
				{ algorithm: "HS256" },
			);
			const e1 = await connectSocket(app.baseUrl, { token: expired }).catch((e: { data?: { code: string } }) => e);
			expect((e1 as { data?: { code: string } }).data?.code).toBe("TOKEN_EXPIRED");
			const forged = jwt.sign({ ...claims }, "not-the-secret-not-the-secret-not-the-secret", { algorithm: "HS256" });
			const e2 = await connectSocket(app.baseUrl, { token: forged }).catch((e: { data?: { code: string } }) => e);
			expect((e2 as { data?: { code: string } }).data?.code).toBe("INVALID_TOKEN");
		});

		it("refuses a revoked token (after logout) and closes its open socket", async () => {
			const d = await app.createUser("PATRON");
			const live = await open(d);
			const [err0, me] = await live.ack<{ id: string }>("call", "auth.me", {});
			expect(err0).toBeNull();
			expect(me.id).toBe(d.id);
			expect((await app.request("POST", "/api/v1/auth/logout", { token: d.token, body: {} })).status).toBe(204);
			const refused = await connectSocket(app.baseUrl, { token: d.token }).catch((e: { data?: { code: string } }) => e);
			expect((refused as { data?: { code: string } }).data?.code).toBe("TOKEN_REVOKED");
			// Logout closes the sockets opened with that token (socket-revocation.test.ts covers every case).
			await new Promise((r) => (live.socket.connected ? live.socket.once("disconnect", r) : r(null)));
			expect(live.socket.connected).toBe(false);
		});

		it("accepts an Authorization: Bearer header and the /socket path", async () => {
			const s = await connectSocket(app.baseUrl, { headers: { authorization: `Bearer ${a.token}` } });
			sockets.push(s);
			expect(s.socket.connected).toBe(true);
			const s2 = await connectSocket(app.baseUrl, { token: a.token, path: "/socket" });
			sockets.push(s2);
			expect(s2.socket.connected).toBe(true);
		});
	});

	describe("allow-list", () => {
		it("runs an allowed action with the caller's identity and role checks", async () => {
			const s = await open(a);
			const [err, page] = await s.ack<{ rows: unknown[] }>("call", "communications.chat.listConversations", {});
			expect(err).toBeNull();
			expect(Array.isArray(page.rows)).toBe(true);
		});

		it("refuses actions outside the allow-list, even for an ADMIN, and internal actions", async () => {
			const admin = await app.createUser("ADMIN");
			const s = await open(admin);
			for (const action of [
				"auth.listUsers",
				"auth.createUser",
				"communications.notifications.create",
				"communications.chat.contacts",
				"communications.chat.watchers",
				"api.broadcast",
				"$node.list",
			]) {
				const [err] = await s.ack("call", action, {});
				expect(err).toMatchObject({ code: "NOT_FOUND", status: 404 });
			}
			expect(s.socket.connected).toBe(true);
		});

		it("answers a bad client-event payload with an error ack and keeps the connection", async () => {
			const s = await open(a);
			for (const payload of [undefined, {}, { conversationId: "nope" }, "x"]) {
				const [err] = await s.ack("JOIN_CONVERSATION", payload);
				expect(err).toMatchObject({ code: "VALIDATION_ERROR", status: 422 });
			}
			const [err] = await s.ack("TYPING_START", { conversationId: "00000000-0000-4000-8000-000000000000" });
			expect(err).toMatchObject({ code: "NOT_FOUND", status: 404 });
			expect(s.socket.connected).toBe(true);
		});
	});

	describe("chat over HTTP and sockets", () => {
		it("delivers NEW_MESSAGE live to B, MESSAGE_DELIVERED to A, nothing to C; read receipts and unread counts", async () => {
			const sa = await open(a);
			const sb = await open(b);
			const sc = await open(c);
			const conv = await app.request("POST", `${C}/chat/conversations`, {
				token: a.token,
				body: { type: "DIRECT", participantIds: [b.id] },
			});
			expect(conv.status).toBe(201);
			// A DIRECT pair is unique: starting it again (from either side) returns the same conversation.
			const again = await app.request("POST", `${C}/chat/conversations`, {
				token: b.token,
				body: { type: "DIRECT", participantIds: [a.id] },
			});
			expect(again.status).toBe(200);
			expect(again.body.id).toBe(conv.body.id);
			const conversationId = conv.body.id as string;

			const [joinErr] = await sb.ack("JOIN_CONVERSATION", { conversationId });
			expect(joinErr).toBeNull();
			const [outsider] = await sc.ack("JOIN_CONVERSATION", { conversationId });
			expect(outsider).toMatchObject({ code: "NOT_FOUND" });

			// Over HTTP...
			const sent = await app.request("POST", `${C}/chat/conversations/${conversationId}/messages`, {
				token: a.token,
				body: { content: "<script>alert(1)</script> hi" },
			});
			expect(sent.status).toBe(201);
			expect(sent.body.content).toBe("<script>alert(1)</script> hi");
			const live = await sb.next<{ id: string; content: string }>("NEW_MESSAGE");
			expect(live).toMatchObject({ id: sent.body.id, conversationId, senderId: a.id, content: "<script>alert(1)</script> hi" });
			const delivered = await sa.next<{ messageId: string; deliveredTo: string[] }>("MESSAGE_DELIVERED");
			expect(delivered).toMatchObject({ messageId: sent.body.id, conversationId, deliveredTo: [b.id] });

			// ...and over the socket.
			const [err2, second] = await sa.ack<{ id: string }>("call", "communications.chat.sendMessage", {
				id: conversationId,
				content: "second",
			});
			expect(err2).toBeNull();
			await sb.next("NEW_MESSAGE", (m: { id: string }) => m.id === second.id);
			await sa.next("MESSAGE_DELIVERED", (m: { messageId: string }) => m.messageId === second.id);

			// B sees 2 unread; A sees 0 (own messages).
			const listB = await app.request("GET", `${C}/chat/conversations`, { token: b.token });
			expect(listB.body.rows[0]).toMatchObject({
				id: conversationId,
				unreadCount: 2,
				lastMessage: { id: second.id, content: "second" },
			});
			const listA = await app.request("GET", `${C}/chat/conversations`, { token: a.token });
			expect(listA.body.rows[0].unreadCount).toBe(0);

			// B reads the first message: one left unread, A is told, the receipt shows on the message.
			const read = await app.request("POST", `${C}/chat/messages/${sent.body.id}/read`, { token: b.token });
			expect(read.status).toBe(200);
			expect(read.body).toMatchObject({ conversationId, userId: b.id, unreadCount: 1 });
			await sa.next("CONVERSATION_UPDATED", (u: { change: string; userId: string }) => u.change === "READ" && u.userId === b.id);
			const msgs = await app.request("GET", `${C}/chat/conversations/${conversationId}/messages`, { token: a.token });
			expect(msgs.status).toBe(200);
			expect(msgs.body.rows.map((m: { id: string }) => m.id)).toEqual([second.id, sent.body.id]);
			expect(msgs.body.rows[1].readBy).toEqual([b.id]);
			expect(msgs.body.rows[0].readBy).toEqual([]);
			await app.request("POST", `${C}/chat/messages/${second.id}/read`, { token: b.token });
			expect((await app.request("GET", `${C}/chat/conversations`, { token: b.token })).body.rows[0].unreadCount).toBe(0);

			// The cursor pages backwards, newest first.
			const page1 = await app.request("GET", `${C}/chat/conversations/${conversationId}/messages?limit=1`, { token: b.token });
			expect(page1.body.rows[0].id).toBe(second.id);
			const page2 = await app.request(
				"GET",
				`${C}/chat/conversations/${conversationId}/messages?limit=1&cursor=${page1.body.nextCursor}`,
				{ token: b.token },
			);
			expect(page2.body.rows[0].id).toBe(sent.body.id);

			// Typing reaches B (joined), never A's own sockets; a burst is throttled.
			const [, joinedA] = await sa.ack("JOIN_CONVERSATION", { conversationId });
			expect(joinedA).toEqual({ joined: conversationId });
			const [, t1] = await sa.ack("TYPING_START", { conversationId });
			const [, t2] = await sa.ack("TYPING_START", { conversationId });
			expect(t1).toEqual({ relayed: true });
			expect(t2).toEqual({ relayed: false, throttled: true });
			expect(await sb.next("TYPING_START")).toEqual({ conversationId, userId: a.id });

			await sleep(200);
			expect(sc.events.map((e) => e.event)).toEqual([]);
			expect(sa.received("NEW_MESSAGE")).toEqual([]);
			expect(sb.received("TYPING_START")).toHaveLength(1);
		});

		it("keeps outsiders out: 404 on read/send, 422 on empty or over-long messages", async () => {
			const conv = await app.request("POST", `${C}/chat/conversations`, {
				token: a.token,
				body: { type: "GROUP", name: "Team", participantIds: [b.id] },
			});
			expect(conv.status).toBe(201);
			const id = conv.body.id;
			expect((await app.request("GET", `${C}/chat/conversations/${id}/messages`, { token: c.token })).status).toBe(404);
			expect(
				(await app.request("POST", `${C}/chat/conversations/${id}/messages`, { token: c.token, body: { content: "hi" } })).status,
			).toBe(404);
			const empty = await app.request("POST", `${C}/chat/conversations/${id}/messages`, { token: a.token, body: { content: "   " } });
			expect(empty.status).toBe(422);
			expect(empty.body.error.details[0].field).toBe("content");
			expect(
				(
					await app.request("POST", `${C}/chat/conversations/${id}/messages`, {
						token: a.token,
						body: { content: "x".repeat(4001) },
					})
				).status,
			).toBe(422);
			const msg = await app.request("POST", `${C}/chat/conversations/${id}/messages`, { token: a.token, body: { content: "ok" } });
			expect((await app.request("POST", `${C}/chat/messages/${msg.body.id}/read`, { token: c.token })).status).toBe(404);
			expect(
				(await app.request("POST", `${C}/chat/conversations`, { token: a.token, body: { type: "GROUP", participantIds: [b.id] } }))
					.status,
			).toBe(422);
			expect(
				(
					await app.request("POST", `${C}/chat/conversations`, {
						token: a.token,
						body: { type: "DIRECT", participantIds: [b.id, c.id] },
					})
				).status,
			).toBe(422);
			const ghost = await app.request("POST", `${C}/chat/conversations`, {
				token: a.token,
				body: { type: "DIRECT", participantIds: ["00000000-0000-4000-8000-000000000000"] },
			});
			expect(ghost.status).toBe(422);
			expect((await app.request("GET", `${C}/chat/conversations`)).status).toBe(401);
		});
	});

	describe("presence", () => {
		it("announces OFFLINE to contacts only when the user's last tab closes", async () => {
			const x = await app.createUser("PATRON");
			const y = await app.createUser("PATRON");
			const stranger = await app.createUser("PATRON");
			// y opened the conversation: x may see y's status (y took part), not the other way round until x writes.
			await app.request("POST", `${C}/chat/conversations`, { token: y.token, body: { type: "DIRECT", participantIds: [x.id] } });
			const watcher = await open(x);
			const outsider = await open(stranger);
			const tab1 = await connectSocket(app.baseUrl, { token: y.token });
			await watcher.next("USER_STATUS_CHANGE", (s: { userId: string; status: string }) => s.userId === y.id && s.status === "ONLINE");
			const tab2 = await connectSocket(app.baseUrl, { token: y.token });

			const online = await app.request("GET", `${C}/chat/online-users`, { token: x.token });
			expect(online.body.map((u: { id: string }) => u.id)).toEqual([y.id]);

			tab1.close();
			await sleep(400);
			expect(watcher.received<{ userId: string; status: string }>("USER_STATUS_CHANGE").filter((s) => s.userId === y.id)).toEqual([
				{ userId: y.id, status: "ONLINE" },
			]);

			tab2.close();
			expect(
				await watcher.next(
					"USER_STATUS_CHANGE",
					(s: { userId: string; status: string }) => s.userId === y.id && s.status === "OFFLINE",
				),
			).toEqual({ userId: y.id, status: "OFFLINE" });
			expect((await app.request("GET", `${C}/chat/online-users`, { token: x.token })).body).toEqual([]);
			expect(outsider.received("USER_STATUS_CHANGE")).toEqual([]);
		});

		it("shows a conversation partner's status only once they took part: opening a DIRECT conversation with someone reveals nothing about them", async () => {
			const fan = await app.createUser("PATRON");
			const star = await app.createUser("CLERK");
			const conv = await app.request("POST", `${C}/chat/conversations`, {
				token: fan.token,
				body: { type: "DIRECT", participantIds: [star.id] },
			});
			expect(conv.status).toBe(201);
			const starSocket = await open(star);
			const fanSocket = await open(fan);
			// The star, who never answered, is invisible to the fan; the fan, who opened the conversation, is visible to the star.
			await starSocket.next(
				"USER_STATUS_CHANGE",
				(s: { userId: string; status: string }) => s.userId === fan.id && s.status === "ONLINE",
			);
			await sleep(300);
			expect(fanSocket.received<{ userId: string }>("USER_STATUS_CHANGE").filter((s) => s.userId === star.id)).toEqual([]);
			expect((await app.request("GET", `${C}/chat/online-users`, { token: fan.token })).body).toEqual([]);
			expect(
				(await app.request("GET", `${C}/chat/online-users`, { token: star.token })).body.map((u: { id: string }) => u.id),
			).toEqual([fan.id]);

			// Once the star answers, the fan sees them.
			const reply = await app.request("POST", `${C}/chat/conversations/${conv.body.id}/messages`, {
				token: star.token,
				body: { content: "hello" },
			});
			expect(reply.status).toBe(201);
			expect(
				(await app.request("GET", `${C}/chat/online-users`, { token: fan.token })).body.map((u: { id: string }) => u.id),
			).toEqual([star.id]);
			starSocket.close();
			await fanSocket.next(
				"USER_STATUS_CHANGE",
				(s: { userId: string; status: string }) => s.userId === star.id && s.status === "OFFLINE",
			);
		});

		it("opening the same DIRECT pair again is taking part too", async () => {
			const [one, two] = await Promise.all([app.createUser("PATRON"), app.createUser("PATRON")]);
			const first = await app.request("POST", `${C}/chat/conversations`, {
				token: one.token,
				body: { type: "DIRECT", participantIds: [two.id] },
			});
			const twoSocket = await open(two);
			const onlineOf = async (u: TestUser) =>
				(await app.request("GET", `${C}/chat/online-users`, { token: u.token })).body.map((x: { id: string }) => x.id);
			expect(await onlineOf(one)).toEqual([]);
			const again = await app.request("POST", `${C}/chat/conversations`, {
				token: two.token,
				body: { type: "DIRECT", participantIds: [one.id] },
			});
			expect(again.body.id).toBe(first.body.id);
			expect(await onlineOf(one)).toEqual([two.id]);
			twoSocket.close();
		});

		it("USER_OFFLINE / USER_ONLINE switch a connected user's status", async () => {
			const x = await app.createUser("PATRON");
			const y = await app.createUser("PATRON");
			await app.request("POST", `${C}/chat/conversations`, { token: y.token, body: { type: "DIRECT", participantIds: [x.id] } });
			const watcher = await open(x);
			const sy = await open(y);
			await watcher.next("USER_STATUS_CHANGE", (s: { userId: string; status: string }) => s.userId === y.id && s.status === "ONLINE");
			expect(await sy.ack("USER_OFFLINE", {})).toEqual([null, { status: "OFFLINE" }]);
			await watcher.next(
				"USER_STATUS_CHANGE",
				(s: { userId: string; status: string }) => s.userId === y.id && s.status === "OFFLINE",
			);
			expect(await sy.ack("USER_ONLINE")).toEqual([null, { status: "ONLINE" }]);
			await watcher.next("USER_STATUS_CHANGE", (s: { userId: string; status: string }) => s.userId === y.id && s.status === "ONLINE");
		});
	});
});
