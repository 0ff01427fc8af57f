/**
 * communications.notifications.notifyUsers writes its rows and their NOTIFICATION_SENT
 * outbox rows in bulk (OutboxMixin.publishMany): one row each, in the order given,
 * each outbox row naming its notification; a retried call (same sourceEventId) adds nothing.
 */
import { randomUUID } from "node:crypto";
import { Client } from "pg";
import { startTestApp, type TestApp } from "../../helpers/app";

describe("notifyUsers in bulk", () => {
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
});
