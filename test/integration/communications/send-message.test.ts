/**
 * A chat message is one prepared statement (services/communications/send-message.ts): PostgreSQL parses and plans
 * it once per connection, and every message after that sends only its values. The statement still writes the
 * message, its outbox row and its audit row together.
 */
import { Client } from "pg";
import { startTestApp, type TestApp } from "../../helpers/app";

describe("sendMessage's statement", () => {
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
});
