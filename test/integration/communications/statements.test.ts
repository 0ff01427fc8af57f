/**
 * How communications writes, checked on its statements:
 * - communications.notifications.notifyUsers writes its rows and their NOTIFICATION_SENT
 *   outbox rows in bulk (OutboxMixin.publishMany): one row each, in the order given,
 *   each outbox row naming its notification; a retried call (same sourceEventId) adds nothing.
 * - a chat message is one prepared statement (services/communications/send-message.ts): PostgreSQL parses and plans
 *   it once per connection, and every message after that sends only its values. The statement still writes the
 *   message, its outbox row and its audit row together. Messages that arrive while one is being written go
 *   together in one statement (group commit), each with its own answer, rows, read mark and order.
 * - a delivery receipt is recorded only for a message that exists, from a participant who is not its sender, once:
 *   the receipts statement's own joins hold that (the table has no foreign key to messages: 240-receipts-lean).
 */
import { randomUUID } from "node:crypto";
import { Client } from "pg";
import { startTestApp, type TestApp } from "../../helpers/app";
import { eventually } from "../../helpers/eventually";

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

	it("messages that arrive together are one statement; each keeps its own answer, rows and order", async () => {
		const [alice, bob, carol, eve] = await Promise.all([1, 2, 3, 4].map(() => app.createUser("PATRON")));
		const open = async (token: string, other: string) =>
			(
				(
					await app.request("POST", "/api/v1/communications/chat/conversations", {
						token,
						body: { type: "DIRECT", participantIds: [other] },
					})
				).body as { id: string }
			).id;
		const [ab, ac] = await Promise.all([open(alice.token, bob.id), open(alice.token, carol.id)]);
		const send = (token: string, conversation: string, body: object) =>
			app.request("POST", `/api/v1/communications/chat/conversations/${conversation}/messages`, { token, body });
		const text = (content: string) => ({ content, messageType: "TEXT" });
		// Goes into the batch's array parameters: quotes, backslashes, braces, commas, NULL, non-ASCII.
		const TRICKY = "m4 {\"a\", \\b\\} NULL, 'c' äöü 🍦";

		const spy = jest.spyOn(Client.prototype, "query");
		let answers: Awaited<ReturnType<typeof send>>[];
		let batches: number;
		// The participants' rows held: the first message to be written waits on its read mark, and the others
		// arrive meanwhile and go together once it is done.
		const holder = new Client({ connectionString: app.db.url });
		await holder.connect();
		try {
			await holder.query("BEGIN");
			await holder.query(
				"SELECT 1 FROM communications.conversation_participants WHERE conversation_id = ANY($1::uuid[]) FOR UPDATE",
				[[ab, ac]],
			);
			const sending = Promise.all([
				send(alice.token, ab, text("m1")),
				send(bob.token, ab, text("m2")),
				send(alice.token, ac, text("m3")),
				send(alice.token, ab, text(TRICKY)),
				send(eve.token, ab, text("not hers")),
				send(alice.token, ab, { content: "a picture", messageType: "IMAGE", attachmentId: randomUUID() }),
				send(bob.token, ab, text("m5")),
			]);
			await eventually(async () => {
				const { rows } = await pg.query(
					"SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO \"communications\".messages%'",
				);
				return rows.length > 0;
			}, "a message waiting on the held rows");
			await new Promise((r) => setTimeout(r, 300));
			await holder.query("COMMIT");
			answers = await sending;
		} finally {
			await holder.end();
			batches = spy.mock.calls.filter(([q]) => (q as { name?: string }).name === "communications.send_messages").length;
			spy.mockRestore();
		}
		expect(batches).toBeGreaterThan(0);
		expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201, 404, 422, 201]);
		expect(answers[5].body.error.details).toEqual([expect.objectContaining({ field: "attachmentId" })]);

		const sent = [0, 1, 2, 3, 6].map(
			(i) => answers[i].body as { id: string; createdAt: string; senderId: string; conversationId: string },
		);
		const { rows } = await pg.query<{
			id: string;
			seq: string;
			content: string;
			created_at: string;
			event_seq: string;
			event: { data: { messageId: string; createdAt: string; recipientIds: string[] } };
			audits: number;
		}>(
			`SELECT m.id, m.seq, m.content, o.seq AS event_seq, o.envelope AS event,
			        (SELECT count(*)::int FROM communications.audit_log a WHERE a.target = m.id::text AND a.outcome = 'SUCCESS') AS audits
			   FROM communications.messages m
			   JOIN communications.outbox o ON o.type = 'MESSAGE_RECEIVED' AND o.envelope->'data'->>'messageId' = m.id::text
			  WHERE m.conversation_id = ANY($1::uuid[]) ORDER BY m.seq`,
			[[ab, ac]],
		);
		// Only the accepted five, each with one event and one audit row; events in the messages' own order.
		expect(rows.map((r) => r.content).sort()).toEqual(["m1", "m2", "m3", "m5", TRICKY].sort());
		expect(rows.map((r) => r.audits)).toEqual([1, 1, 1, 1, 1]);
		expect([...rows].sort((x, y) => Number(x.event_seq) - Number(y.event_seq)).map((r) => r.id)).toEqual(rows.map((r) => r.id));
		for (const answer of sent) {
			const row = rows.find((r) => r.id === answer.id)!;
			const others = answer.conversationId === ac ? [carol.id] : answer.senderId === alice.id ? [bob.id] : [alice.id];
			expect(row.event.data).toMatchObject({ messageId: answer.id, createdAt: answer.createdAt, recipientIds: others });
		}
		// Each sender's read mark is their last message in the conversation.
		const marks = await pg.query<{ conversation_id: string; user_id: string; last_read_seq: string }>(
			"SELECT conversation_id, user_id, last_read_seq FROM communications.conversation_participants WHERE conversation_id = ANY($1::uuid[])",
			[[ab, ac]],
		);
		const lastSeq = (conversation: string, sender: string) =>
			String(
				Math.max(
					...rows
						.filter((r) => sent.some((a) => a.id === r.id && a.conversationId === conversation && a.senderId === sender))
						.map((r) => Number(r.seq)),
				),
			);
		const mark = (conversation: string, user: string) =>
			marks.rows.find((m) => m.conversation_id === conversation && m.user_id === user)?.last_read_seq;
		expect(mark(ab, alice.id)).toBe(lastSeq(ab, alice.id));
		expect(mark(ab, bob.id)).toBe(lastSeq(ab, bob.id));
		expect(mark(ac, alice.id)).toBe(lastSeq(ac, alice.id));
		expect(mark(ac, carol.id)).toBe("0");
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
