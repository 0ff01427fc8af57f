/**
 * How communications writes, checked on its statements:
 * - communications.notifications.notifyUsers writes its rows and their NOTIFICATION_SENT
 *   outbox rows in bulk (OutboxMixin.publishMany): one row each, in the order given,
 *   each outbox row naming its notification; a retried call (same sourceEventId) adds nothing.
 * - a chat message is one prepared statement (services/communications/send-message.ts): PostgreSQL parses and plans
 *   it once per connection, and every message after that sends only its values. The statement still writes the
 *   message, its outbox row and its audit row together.
 * - a delivery receipt is recorded only for a message that exists, from a participant who is not its sender, once:
 *   the receipts statement's own joins hold that (the table has no foreign key to messages: 240-receipts-lean).
 */
import { randomUUID } from "node:crypto";
import { Client } from "pg";
import { startTestApp, type TestApp } from "../../helpers/app";

describe("communications' statements", () => {
	let app: TestApp;
	let pg: Client;
	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "communications"] });
		pg = new Client({ connectionString: app.db.url });
		await pg.connect();
	});
	afterAll(async () => {
		await pg?.end();
		await app?.stop();
	});

	it("one notification and one outbox row per user, in order, once", async () => {
		const users = await Promise.all([1, 2, 3].map(() => app.createUser("PATRON")));
		const ids = [users[2].id, users[0].id, users[1].id, users[0].id];
		const sourceEventId = randomUUID();
		const notify = () =>
			app.broker.call<{ created: number }, Record<string, unknown>>("communications.notifications.notifyUsers", {
				userIds: ids,
				type: "BATCH_RECALLED",
				message: "Batch B-1 is recalled",
				data: { batchId: "B-1" },
				sourceEventId,
			});
		expect(await notify()).toEqual({ created: 3 });
		const { rows: notes } = await pg.query<{ id: string; user_id: string }>(
			"SELECT id, user_id FROM communications.notifications WHERE source_event_id = $1",
			[sourceEventId],
		);
		expect(notes.map((n) => n.user_id).sort()).toEqual([users[0].id, users[1].id, users[2].id].sort());
		const { rows: outbox } = await pg.query<{ aggregate_id: string; envelope: { data: { notificationId: string; userId: string } } }>(
			"SELECT aggregate_id, envelope FROM communications.outbox WHERE type = 'NOTIFICATION_SENT' AND envelope->'data'->>'notificationId' = ANY($1) ORDER BY seq",
			[notes.map((n) => n.id)],
		);
		// The order given (the duplicate dropped), each row naming its user's notification.
		expect(outbox.map((o) => o.aggregate_id)).toEqual([users[2].id, users[0].id, users[1].id]);
		const noteOf = new Map(notes.map((n) => [n.user_id, n.id]));
		for (const o of outbox)
			expect(o.envelope.data).toMatchObject({ userId: o.aggregate_id, notificationId: noteOf.get(o.aggregate_id) });

		expect(await notify()).toEqual({ created: 0 });
	});

	it("is sent by name with its values only, and stores the message, its outbox row and its audit row", async () => {
		const [alice, bob] = await Promise.all([app.createUser("PATRON"), app.createUser("PATRON")]);
		const conversation = await app.request("POST", "/api/v1/communications/chat/conversations", {
			token: alice.token,
			body: { type: "DIRECT", participantIds: [bob.id] },
		});
		expect(conversation.status).toBe(201);
		const id = (conversation.body as { id: string }).id;
		const send = (content: string) =>
			app.request("POST", `/api/v1/communications/chat/conversations/${id}/messages`, {
				token: alice.token,
				body: { content, messageType: "TEXT" },
			});
		expect((await send("warm-up")).status).toBe(201);

		const spy = jest.spyOn(Client.prototype, "query");
		let sent: Awaited<ReturnType<typeof send>>;
		let statements: { name?: string; text?: string }[];
		try {
			sent = await send("hello");
		} finally {
			statements = spy.mock.calls.map(([q]) => (typeof q === "string" ? { text: q } : (q as { name?: string; text?: string })));
			spy.mockRestore();
		}
		expect(sent.status).toBe(201);
		const messageId = (sent.body as { id: string }).id;
		const named = statements.filter((s) => s.name === "communications.send_message");
		expect(named).toHaveLength(1);
		// No unnamed copy of the statement (which PostgreSQL would parse and plan again).
		expect(statements.filter((s) => !s.name && s.text?.includes('INSERT INTO "communications".messages'))).toHaveLength(0);

		const stored = await pg.query(
			`SELECT (SELECT count(*)::int FROM communications.messages WHERE id = $1 AND content = 'hello') AS messages,
			        (SELECT count(*)::int FROM communications.outbox WHERE type = 'MESSAGE_RECEIVED' AND envelope->'data'->>'messageId' = $1::text) AS events,
			        (SELECT count(*)::int FROM communications.audit_log WHERE target = $1::text AND outcome = 'SUCCESS') AS audits`,
			[messageId],
		);
		expect(stored.rows[0]).toEqual({ messages: 1, events: 1, audits: 1 });
	});

	it("records a receipt only for an existing message, from a participant other than its sender, once", async () => {
		const [alice, bob, eve] = await Promise.all([app.createUser("PATRON"), app.createUser("PATRON"), app.createUser("PATRON")]);
		const conversation = await app.request("POST", "/api/v1/communications/chat/conversations", {
			token: alice.token,
			body: { type: "DIRECT", participantIds: [bob.id] },
		});
		const sent = await app.request("POST", `/api/v1/communications/chat/conversations/${conversation.body.id}/messages`, {
			token: alice.token,
			body: { content: "receipt?", messageType: "TEXT" },
		});
		expect(sent.status).toBe(201);
		const messageId = (sent.body as { id: string }).id;
		const deliver = (deliveries: { messageId: string; userId: string }[]) =>
			app.broker.call<{ recorded: number }, object>("communications.chat.markDelivered", { deliveries });
		expect(
			await deliver([
				{ messageId: randomUUID(), userId: bob.id }, // no such message
				{ messageId, userId: eve.id }, // not a participant
				{ messageId, userId: alice.id }, // its sender
			]),
		).toEqual({ recorded: 0 });
		expect(await deliver([{ messageId, userId: bob.id }])).toEqual({ recorded: 1 });
		expect(await deliver([{ messageId, userId: bob.id }])).toEqual({ recorded: 0 });
		const rows = await pg.query("SELECT message_id, user_id FROM communications.message_deliveries WHERE user_id = ANY($1::uuid[])", [
			[alice.id, bob.id, eve.id],
		]);
		expect(rows.rows).toEqual([{ message_id: messageId, user_id: bob.id }]);
	});
});
