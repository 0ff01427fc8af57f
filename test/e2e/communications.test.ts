/**
 * Communications over HTTP: the internal mailbox, notifications (CRUD, roles,
 * live push, event consumers, idempotency), chat attachments (413/415, magic
 * bytes, participants only), announcements.
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startSmtpServer, type TestSmtp } from "../helpers/smtp";
import { envelope } from "../../lib/events";
import { startTestApp, type TestApp, type TestUser } from "../helpers/app";
import { connectSocket, sleep, type TestSocket } from "../helpers/sockets";
import { closeDelivery, deliverDurably } from "../helpers/events";

const C = "/api/v1/communications";
/** A real 1×1 PNG: images must have a readable header (IMAGE_MAX_PIXELS is checked on upload). */
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==", "base64");

describe("communications over HTTP", () => {
	let app: TestApp;
	let a: TestUser, b: TestUser, c: TestUser, exec: TestUser;
	const sockets: TestSocket[] = [];
	const filesDir = fs.mkdtempSync(path.join(os.tmpdir(), "eislager-files-"));

	let smtp: TestSmtp;

	beforeAll(async () => {
		smtp = await startSmtpServer();
		app = await startTestApp({ services: ["auth", "communications"], env: { FILES_DIR: filesDir, SMTP_URL: smtp.url } });
		[a, b, c, exec] = await Promise.all([
			app.createUser("PATRON"),
			app.createUser("CLERK"),
			app.createUser("PATRON"),
			app.createUser("EXECUTIVE"),
		]);
	});
	afterAll(async () => {
		await closeDelivery();
		for (const s of sockets) s.close();
		await app?.stop();
		await smtp?.close();
		fs.rmSync(filesDir, { recursive: true, force: true });
	});

	it("publishes every route of docs/spec.md section 5 in the OpenAPI document, also under /api/communications", async () => {
		const doc = await app.request("GET", "/api/v1/openapi.json");
		const routes = [
			["get", "/chat/conversations"],
			["post", "/chat/conversations"],
			["get", "/chat/conversations/{id}/messages"],
			["post", "/chat/conversations/{id}/messages"],
			["post", "/chat/messages/{id}/read"],
			["get", "/chat/online-users"],
			["get", "/emails"],
			["post", "/emails"],
			["get", "/emails/{id}"],
			["put", "/emails/{id}/read"],
			["put", "/emails/{id}/star"],
			["post", "/emails/{id}/reply"],
			["get", "/notifications"],
			["post", "/notifications"],
			["put", "/notifications/{id}/read"],
			["delete", "/notifications/{id}"],
			["post", "/notifications/mark-all"],
			["post", "/upload/chat-attachments"],
			["get", "/chat/attachments/{id}"],
		];
		const missing = routes.filter(([method, route]) => !doc.body.paths[`/api/v1/communications${route}`]?.[method]);
		expect(missing).toEqual([]);
		const internal = Object.keys(doc.body.paths).filter((p) => /contacts|isParticipant|announce/.test(p));
		expect(internal).toEqual([]);
		expect((await app.request("GET", "/api/communications/notifications", { token: a.token })).status).toBe(200);
	});

	describe("email", () => {
		it("sends, lists by folder, filters, reads, stars and replies in a thread; outsiders get 404", async () => {
			const sb = await connectSocket(app.baseUrl, { token: b.token });
			sockets.push(sb);
			const sent = await app.request("POST", `${C}/emails`, {
				token: a.token,
				body: { receiverId: b.id, subject: "Order", content: "Two tubs of <i>pistachio</i>" },
			});
			expect(sent.status).toBe(201);
			expect(sent.headers.get("location")).toBe(`/api/v1/communications/emails/${sent.body.id}`);
			expect(sent.body).toMatchObject({
				subject: "Order",
				content: "Two tubs of <i>pistachio</i>",
				folder: "sent",
				read: false,
				starred: false,
			});
			expect(await sb.next("NOTIFICATION_RECEIVED")).toMatchObject({ type: "EMAIL_RECEIVED", data: { emailId: sent.body.id } });

			const inbox = await app.request("GET", `${C}/emails?folder=inbox&unread=true`, { token: b.token });
			expect(inbox.status).toBe(200);
			expect(inbox.body).toMatchObject({ total: 1, unreadCount: 1 });
			expect(inbox.body.rows[0]).toMatchObject({ id: sent.body.id, sender: { id: a.id }, folder: "inbox" });
			expect((await app.request("GET", `${C}/emails`, { token: a.token })).body.total).toBe(0);
			expect((await app.request("GET", `${C}/emails?folder=sent`, { token: a.token })).body.total).toBe(1);

			expect((await app.request("GET", `${C}/emails/${sent.body.id}`, { token: c.token })).status).toBe(404);
			expect((await app.request("PUT", `${C}/emails/${sent.body.id}/read`, { token: a.token, body: {} })).status).toBe(403);
			const read = await app.request("PUT", `${C}/emails/${sent.body.id}/read`, { token: b.token, body: {} });
			expect(read.body).toMatchObject({ read: true, status: "READ" });
			expect((await app.request("GET", `${C}/emails?unread=true`, { token: b.token })).body.total).toBe(0);

			const star = await app.request("PUT", `${C}/emails/${sent.body.id}/star`, { token: b.token, body: { starred: true } });
			expect(star.body.starred).toBe(true);
			expect((await app.request("GET", `${C}/emails?starred=true`, { token: b.token })).body.total).toBe(1);
			// Stars are per mailbox: the sender's copy is not starred.
			expect((await app.request("GET", `${C}/emails?folder=sent&starred=true`, { token: a.token })).body.total).toBe(0);

			const reply = await app.request("POST", `${C}/emails/${sent.body.id}/reply`, {
				token: b.token,
				body: { content: "On its way" },
			});
			expect(reply.status).toBe(201);
			expect(reply.body).toMatchObject({
				subject: "Re: Order",
				threadId: sent.body.id,
				replyToId: sent.body.id,
				receiver: { id: a.id },
			});
			const again = await app.request("POST", `${C}/emails/${reply.body.id}/reply`, { token: a.token, body: { content: "Thanks" } });
			expect(again.body.subject).toBe("Re: Order");
			const details = await app.request("GET", `${C}/emails/${sent.body.id}`, { token: a.token });
			expect(details.body.thread.map((e: { id: string }) => e.id)).toEqual([sent.body.id, reply.body.id, again.body.id]);

			// Relayed through SMTP_URL to the receivers' real addresses.
			for (let i = 0; i < 50 && smtp.inbox.length < 3; i++) await sleep(50);
			expect(smtp.inbox.map((m) => m.to)).toEqual(expect.arrayContaining([[b.email], [a.email]]));
			expect(smtp.inbox.find((m) => m.to[0] === b.email)!.raw).toMatch(/Subject: Order/);

			expect(
				(
					await app.request("POST", `${C}/emails`, {
						token: a.token,
						body: { receiverId: randomUUID(), subject: "x", content: "y" },
					})
				).status,
			).toBe(422);
			expect(
				(await app.request("POST", `${C}/emails`, { token: a.token, body: { receiverId: b.id, subject: "", content: "y" } }))
					.status,
			).toBe(422);
			expect(
				(await app.request("POST", `${C}/emails`, { token: a.token, body: { receiverId: a.id, subject: "me", content: "y" } }))
					.status,
			).toBe(422);
		});
	});

	describe("notifications", () => {
		it("create is ADMIN/EXECUTIVE only; the user lists, reads, marks all and deletes their own, pushed live", async () => {
			const sc = await connectSocket(app.baseUrl, { token: c.token });
			sockets.push(sc);
			expect(
				(await app.request("POST", `${C}/notifications`, { token: a.token, body: { userId: c.id, type: "HELLO", message: "hi" } }))
					.status,
			).toBe(403);
			const bad = await app.request("POST", `${C}/notifications`, {
				token: exec.token,
				body: { userId: c.id, type: "hello world", message: "" },
			});
			expect(bad.status).toBe(422);
			const n1 = await app.request("POST", `${C}/notifications`, {
				token: exec.token,
				body: { userId: c.id, type: "MEETING", message: "Staff meeting at 9" },
			});
			expect(n1.status).toBe(201);
			expect(await sc.next("NOTIFICATION_RECEIVED")).toMatchObject({
				id: n1.body.id,
				type: "MEETING",
				message: "Staff meeting at 9",
				read: false,
			});
			const n2 = await app.request("POST", `${C}/notifications`, {
				token: exec.token,
				body: { userId: c.id, type: "MEETING", message: "Moved to 10" },
			});

			const list = await app.request("GET", `${C}/notifications`, { token: c.token });
			expect(list.body).toMatchObject({ total: 2, unreadCount: 2 });
			expect(list.body.rows.map((n: { id: string }) => n.id)).toEqual([n2.body.id, n1.body.id]);
			expect((await app.request("GET", `${C}/notifications`, { token: a.token })).body.total).toBe(0);

			expect((await app.request("PUT", `${C}/notifications/${n1.body.id}/read`, { token: a.token })).status).toBe(404);
			expect((await app.request("PUT", `${C}/notifications/${n1.body.id}/read`, { token: c.token })).body.read).toBe(true);
			expect((await app.request("GET", `${C}/notifications?unread=true`, { token: c.token })).body.total).toBe(1);
			expect((await app.request("POST", `${C}/notifications/mark-all`, { token: c.token })).body).toEqual({ updated: 1 });
			expect((await app.request("DELETE", `${C}/notifications/${n2.body.id}`, { token: a.token })).status).toBe(404);
			expect((await app.request("DELETE", `${C}/notifications/${n2.body.id}`, { token: c.token })).status).toBe(204);
			expect((await app.request("GET", `${C}/notifications`, { token: c.token })).body).toMatchObject({ total: 1, unreadCount: 0 });

			const sentEvents = await app.broker.call<unknown>("$node.health").then(async () => {
				const [rows] = await (
					app.broker.getLocalService("communications.notifications") as unknown as {
						db: { query(q: string): Promise<[{ type: string }[]]> };
					}
				).db.query("SELECT type FROM communications.outbox WHERE type = 'NOTIFICATION_SENT'");
				return rows;
			});
			expect(sentEvents.length).toBeGreaterThanOrEqual(2);
		});

		it("EXPIRY_WARNING notifies the factory's manager once, even when the event arrives twice", async () => {
			const manager = await app.createUser("MANUFACTURER");
			const sm = await connectSocket(app.baseUrl, { token: manager.token });
			sockets.push(sm);
			const event = envelope("EXPIRY_WARNING", {
				stockItemId: randomUUID(),
				factoryId: randomUUID(),
				flavorId: randomUUID(),
				batchId: "B-42",
				quantity: 12,
				expiryDate: "2030-01-02",
				warningDays: 3,
				managerId: manager.id,
			});
			await deliverDurably(app.db.url, event);
			await deliverDurably(app.db.url, event);
			expect(await sm.next("NOTIFICATION_RECEIVED")).toMatchObject({
				type: "EXPIRY_WARNING",
				userId: manager.id,
				data: { batchId: "B-42" },
			});
			await sleep(300);
			const list = await app.request("GET", `${C}/notifications`, { token: manager.token });
			expect(list.body.total).toBe(1);
			expect(sm.received("NOTIFICATION_RECEIVED")).toHaveLength(1);
		});

		it("announcements reach every connected socket", async () => {
			const s1 = await connectSocket(app.baseUrl, { token: a.token });
			const s2 = await connectSocket(app.baseUrl, { token: c.token });
			sockets.push(s1, s2);
			await app.broker.call("communications.notifications.announce", {
				title: "Closing early",
				message: "All shops close at 18:00 today",
			});
			expect(await s1.next("SYSTEM_ANNOUNCEMENT")).toMatchObject({ title: "Closing early" });
			expect(await s2.next("SYSTEM_ANNOUNCEMENT")).toMatchObject({ message: "All shops close at 18:00 today" });
		});
	});

	describe("conversation list", () => {
		it("sorts by the latest message (either way; no message yet sorts last, then newest created) and shows its time", async () => {
			const [u, v, w] = await Promise.all([app.createUser("PATRON"), app.createUser("PATRON"), app.createUser("PATRON")]);
			const start = async (other: TestUser) =>
				(
					await app.request("POST", `${C}/chat/conversations`, {
						token: u.token,
						body: { type: "DIRECT", participantIds: [other.id] },
					})
				).body.id as string;
			const send = async (id: string, content: string) => {
				const res = await app.request("POST", `${C}/chat/conversations/${id}/messages`, { token: u.token, body: { content } });
				expect(res.status).toBe(201);
				return res.body.createdAt as string;
			};
			const withV = await start(v);
			const withW = await start(w);
			const group = (
				await app.request("POST", `${C}/chat/conversations`, {
					token: u.token,
					body: { type: "GROUP", name: "Quiet", participantIds: [v.id, w.id] },
				})
			).body.id as string;
			await send(withW, "first");
			await sleep(20);
			const latest = await send(withV, "second");
			const list = async (sort: string) => {
				const res = await app.request("GET", `${C}/chat/conversations?sort=${sort}`, { token: u.token });
				expect(res.status).toBe(200);
				return res.body.rows as { id: string; lastMessageAt: string | null; lastMessage: { content: string } | null }[];
			};
			const desc = await list("-lastMessageAt");
			expect(desc.map((c) => c.id)).toEqual([withV, withW, group]);
			expect(desc[0]).toMatchObject({ lastMessageAt: latest, lastMessage: { content: "second" } });
			expect(desc[2].lastMessageAt).toBeNull();
			expect((await list("lastMessageAt")).map((c) => c.id)).toEqual([group, withW, withV]);
			// A newer message moves its conversation to the top.
			await sleep(20);
			await send(withW, "third");
			expect((await list("-lastMessageAt")).map((c) => c.id)).toEqual([withW, withV, group]);
		});
	});

	describe("chat attachments", () => {
		let conversationId: string;
		const upload = async (token: string, content: Buffer, name: string, convId = conversationId) => {
			const form = new FormData();
			form.append("file", new Blob([content]), name);
			const res = await fetch(`${app.baseUrl}${C}/upload/chat-attachments?conversationId=${convId}`, {
				method: "POST",
				headers: { authorization: `Bearer ${token}` },
				body: form,
			});
			const text = await res.text();
			return { status: res.status, body: text ? JSON.parse(text) : null };
		};

		beforeAll(async () => {
			conversationId = (
				await app.request("POST", `${C}/chat/conversations`, { token: a.token, body: { type: "DIRECT", participantIds: [b.id] } })
			).body.id;
		});

		it("audits a sent message once, as SUCCESS with the message as target, and a refused one as FAILURE", async () => {
			const sent = await app.request("POST", `${C}/chat/conversations/${conversationId}/messages`, {
				token: a.token,
				body: { content: "audited", messageType: "TEXT" },
			});
			expect(sent.status).toBe(201);
			const refused = await app.request("POST", `${C}/chat/conversations/${conversationId}/messages`, {
				token: c.token,
				body: { content: "not mine", messageType: "TEXT" },
			});
			expect(refused.status).toBe(404);
			const db = (
				app.broker.getLocalService("communications.chat") as unknown as {
					db: {
						query(
							q: string,
							o: object,
						): Promise<
							[
								{
									actor_id: string;
									target: string | null;
									outcome: string;
									error_code: string | null;
									request_id: string | null;
								}[],
							]
						>;
					};
				}
			).db;
			const [rows] = await db.query(
				"SELECT actor_id, target, outcome, error_code, request_id FROM communications.audit_log WHERE action = 'communications.chat.sendMessage' AND actor_id IN (:a, :c) ORDER BY id",
				{ replacements: { a: a.id, c: c.id } },
			);
			expect(rows.filter((r) => r.target === sent.body.id)).toEqual([
				{ actor_id: a.id, target: sent.body.id, outcome: "SUCCESS", error_code: null, request_id: expect.any(String) },
			]);
			expect(rows.filter((r) => r.actor_id === c.id)).toEqual([
				expect.objectContaining({ outcome: "FAILURE", error_code: "NOT_FOUND" }),
			]);
		});

		it("stores an image recognised by its content and serves it to participants only", async () => {
			const up = await upload(a.token, PNG, "../../etc/cat.txt");
			expect(up.status).toBe(201);
			expect(up.body).toMatchObject({
				mimeType: "image/png",
				size: PNG.length,
				messageType: "IMAGE",
				name: "cat.txt",
				conversationId,
			});
			const stored = fs.readdirSync(path.join(filesDir, "chat"));
			expect(stored).toHaveLength(1);
			expect(stored[0]).toMatch(/^[0-9a-f-]{36}\.png$/);

			const msg = await app.request("POST", `${C}/chat/conversations/${conversationId}/messages`, {
				token: a.token,
				body: { content: "look", messageType: "IMAGE", attachmentId: up.body.id },
			});
			expect(msg.status).toBe(201);
			expect(msg.body.attachment).toMatchObject({ id: up.body.id, url: up.body.url });
			// Someone else's attachment cannot be sent by B.
			expect(
				(
					await app.request("POST", `${C}/chat/conversations/${conversationId}/messages`, {
						token: b.token,
						body: { content: "x", messageType: "IMAGE", attachmentId: up.body.id },
					})
				).status,
			).toBe(422);

			const got = await fetch(`${app.baseUrl}${up.body.url}`, { headers: { authorization: `Bearer ${b.token}` } });
			expect(got.status).toBe(200);
			expect(got.headers.get("content-type")).toBe("image/png");
			expect(Buffer.from(await got.arrayBuffer()).equals(PNG)).toBe(true);
			expect((await fetch(`${app.baseUrl}${up.body.url}`, { headers: { authorization: `Bearer ${c.token}` } })).status).toBe(404);
			expect((await fetch(`${app.baseUrl}${up.body.url}`)).status).toBe(401);
		});

		it("refuses wrong types (415), oversize files (413), outsiders (404) and a missing conversation id (422)", async () => {
			// A refused upload is answered once and logged as what it is, not as "Headers have already sent".
			const warn = jest.spyOn(app.broker.getLocalService("api").logger, "warn");
			const html = await upload(a.token, Buffer.from("<html><script>alert(1)</script></html>"), "pic.png");
			expect(html.status).toBe(415);
			expect(html.body.error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
			// PNG magic bytes without a readable PNG behind them: 422, nothing kept.
			const fake = await upload(a.token, Buffer.concat([PNG.subarray(0, 8), Buffer.alloc(64, 1)]), "fake.png");
			expect(fake.status).toBe(422);
			expect(fake.body.error.code).toBe("IMAGE_UNREADABLE");
			const big = await upload(a.token, Buffer.concat([PNG, Buffer.alloc(5 * 1024 * 1024)]), "big.png");
			expect(big.status).toBe(413);
			expect(big.body.error.code).toBe("PAYLOAD_TOO_LARGE");
			expect((await upload(c.token, PNG, "x.png")).status).toBe(404);
			expect((await upload(a.token, PNG, "x.png", "not-a-uuid")).status).toBe(422);
			expect(fs.readdirSync(path.join(filesDir, "chat"))).toHaveLength(1);
			expect(warn.mock.calls.filter(([line]) => String(line).includes("already sent"))).toEqual([]);
			warn.mockRestore();
			// Not multipart at all: 415; no token: 401 (never a 500 from the multipart parser).
			const json = await app.request("POST", `${C}/upload/chat-attachments?conversationId=${conversationId}`, {
				token: a.token,
				body: { file: "x" },
			});
			expect(json.status).toBe(415);
			expect((await app.request("POST", `${C}/upload/chat-attachments?conversationId=${conversationId}`)).status).toBe(401);
		});
	});
});
