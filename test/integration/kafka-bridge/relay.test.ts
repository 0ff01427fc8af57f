/**
 * The outbox relay and inbound bridge in-process against real PostgreSQL and Kafka:
 * auth's USER_LOGIN outbox rows reach Kafka (key = aggregate id, marked sent only
 * after the ack), one relay leads at a time and another takes over, external
 * envelopes become broker events once, and the retention purges old sent rows.
 */
import { randomUUID } from "node:crypto";
import type { Service, ServiceBroker } from "moleculer";
import { startTestApp, type TestApp } from "../../helpers/app";
import { createBroker, loadServices } from "../../../bin/broker";
import { EVENT_CATALOG, envelope } from "../../../lib/events";
import { kafkaTestLock, readerAtEnd, requireKafka, testKafka, KAFKA_BROKERS } from "../../helpers/kafka";
import type { OutboxRelay } from "../../../services/kafka-bridge/relay";
import { signMessage } from "../../../services/kafka-bridge/inbound-gate";

const INBOUND_KEY = "relay-test-inbound-key-0123456789abcdef";
import type { Sequelize } from "sequelize";
import { waitUntil as until } from "../../helpers/cluster";

jest.setTimeout(90_000);

describe("kafka-bridge: outbox relay and inbound events", () => {
	let app: TestApp;
	let unlock: () => Promise<void>;
	const extra: ServiceBroker[] = [];

	beforeAll(async () => {
		unlock = await kafkaTestLock("shared");
		await requireKafka();
		// Fake transporter: a second in-process bridge node joins the same cluster.
		app = await startTestApp({
			services: ["auth", "kafka-bridge"],
			env: {
				KAFKA_BROKERS,
				TRANSPORTER: "Fake",
				NAMESPACE: `t${randomUUID().slice(0, 8)}`,
				JWT_SECRET: randomUUID() + randomUUID(),
				KAFKA_INBOUND_EVENTS: "PURCHASE_ORDER_CREATED",
				KAFKA_INBOUND_KEY: INBOUND_KEY,
			},
		});
	}, 400_000); // may wait for the exclusive Kafka fault test to finish
	afterAll(async () => {
		for (const b of extra) await b.stop().catch(() => undefined);
		await app?.stop();
		await unlock?.();
	});

	const relayOf = (broker: ServiceBroker) => (broker.getLocalService("kafka-bridge") as Service & { relay: OutboxRelay }).relay;
	const outbox = async (id: string) => {
		const [rows] = await app.broker
			.getLocalService("auth")!
			.db.query(`SELECT sent_at, attempts FROM auth.outbox WHERE id = :id`, { replacements: { id } });
		return (rows as { sent_at: Date | null; attempts: number }[])[0];
	};

	it("relays a login's USER_LOGIN row to Kafka, keyed by the user id, and marks it sent", async () => {
		const reader = await readerAtEnd(EVENT_CATALOG.USER_LOGIN.topic);
		try {
			const user = await app.createUser("CLERK");
			const msgs = await reader.waitFor((m) => m.some((x) => x.value.data.userId === user.id), 20_000, `USER_LOGIN of ${user.id}`);
			const msg = msgs.find((x) => x.value.data.userId === user.id)!;
			expect(msg.message.key?.toString()).toBe(user.id);
			expect(msg.value).toMatchObject({
				type: "USER_LOGIN",
				source: "auth",
				data: { userId: user.id, role: "CLERK", method: "password" },
			});
			expect(typeof msg.value.occurredAt).toBe("string");
			expect(msg.message.headers?.["eislager-origin"]?.toString()).toBe("outbox");
			await until("sent_at set", async () => Boolean((await outbox(msg.value.id))?.sent_at));
		} finally {
			await reader.stop();
		}
	});

	it("lets one relay lead; a second bridge node stands by and takes over when the leader stops", async () => {
		const first = relayOf(app.broker);
		await until("first relay leads", () => first.role === "leader");
		const second = createBroker(app.config, { nodeID: `bridge-2-${randomUUID().slice(0, 6)}` });
		loadServices(second, ["kafka-bridge"]);
		extra.push(second);
		await second.start();
		const relay2 = relayOf(second);
		await until("second relay stands by", () => relay2.role === "standby");
		expect(first.role).toBe("leader");

		await first.stop();
		await until("second relay takes over", () => relay2.role === "leader", 10_000);

		const reader = await readerAtEnd(EVENT_CATALOG.USER_LOGIN.topic);
		try {
			const user = await app.createUser("PATRON");
			await reader.waitFor((m) => m.some((x) => x.value.data.userId === user.id), 20_000, "the login relayed by the second node");
		} finally {
			await reader.stop();
		}
	});

	it("turns an external envelope into one broker event, ignoring its redelivery and our own relayed events", async () => {
		const received: string[] = [];
		// Both bridge nodes consume in one group; the Fake transporter carries their emits to this listener.
		app.broker.createService({
			name: "po-listener",
			events: { PURCHASE_ORDER_CREATED: { handler: (ctx: { params: { id: string } }) => void received.push(ctx.params.id) } },
		});
		await app.broker.waitForServices(["po-listener"]);

		const bridge = extra[0];
		await until(
			"inbound consumer connected",
			() => (bridge.getLocalService("kafka-bridge") as Service & { inbound: { connected: boolean } }).inbound.connected,
			20_000,
		);

		const event = envelope("PURCHASE_ORDER_CREATED", {
			orderId: randomUUID(),
			shopId: randomUUID(),
			factoryId: randomUUID(),
			items: [{ flavorId: randomUUID(), quantity: 3 }],
			requestedBy: randomUUID(),
			createdAt: new Date().toISOString(),
		});
		const external = JSON.stringify({ ...event, source: "erp" });
		const signed = { key: event.data.shopId, value: external, headers: { "eislager-signature": signMessage(INBOUND_KEY, external) } };
		const ownRelayed = envelope("PURCHASE_ORDER_CREATED", event.data);
		const producer = testKafka().producer();
		await producer.connect();
		try {
			// The group joins at the latest offset: send until it sees one, then the real ones.
			const topic = EVENT_CATALOG.PURCHASE_ORDER_CREATED.topic;
			await until(
				"the bridge's consumer receives external events",
				async () => {
					await producer.send({ topic, messages: [signed] });
					await new Promise((r) => setTimeout(r, 300));
					return received.includes(event.id);
				},
				30_000,
			);
			await producer.send({ topic, messages: [signed, { key: "x", value: "not json" }] });
			await producer.send({
				topic,
				messages: [
					{
						key: event.data.shopId,
						value: JSON.stringify(ownRelayed),
						headers: { "eislager-origin": "outbox", "eislager-namespace": app.config.namespace },
					},
				],
			});
			await new Promise((r) => setTimeout(r, 2000));
			expect(received.filter((id) => id === event.id)).toHaveLength(1);
			expect(received).not.toContain(ownRelayed.id);
			// Durable for internal consumer groups: one row in the bridge's outbox, born sent (never relayed back).
			const db = (bridge.getLocalService("kafka-bridge") as Service & { db: Sequelize }).db;
			const [stored] = await db.query(
				`SELECT id, sent_at IS NOT NULL AS sent, envelope->>'source' AS source FROM kafka_bridge.outbox WHERE id IN (:ids)`,
				{ replacements: { ids: [event.id, ownRelayed.id] } },
			);
			expect(stored).toEqual([{ id: event.id, sent: true, source: "erp" }]);
		} finally {
			await producer.disconnect();
		}
	});

	it("purges sent rows older than the retention and keeps unsent ones", async () => {
		const db = app.broker.getLocalService("auth")!.db;
		const oldSent = randomUUID();
		const oldUnsent = randomUUID();
		await db.query(
			`INSERT INTO auth.outbox (id, type, topic, aggregate_id, envelope, created_at, sent_at) VALUES
			 (:a, 'USER_LOGIN', 'user-login', 'x', '{}', now() - interval '30 days', now() - interval '30 days'),
			 (:b, 'USER_LOGIN', 'user-login', 'x', '{}', now() - interval '30 days', NULL)`,
			{ replacements: { a: oldSent, b: oldUnsent } },
		);
		// Stop the relay first so the unsent row stays unsent for the check.
		const bridge = extra[0];
		await relayOf(bridge).stop();
		const purged = await bridge.call<Record<string, number>>("kafka-bridge.purge");
		expect(purged.auth).toBeGreaterThanOrEqual(1);
		expect(await outbox(oldSent)).toBeUndefined();
		expect(await outbox(oldUnsent)).toMatchObject({ sent_at: null });
	});
});

describe("kafka-bridge without KAFKA_BROKERS", () => {
	let app: TestApp;
	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "kafka-bridge"], env: { KAFKA_BROKERS: "" } });
	});
	afterAll(async () => app?.stop());

	it("idles and the outbox keeps the rows", async () => {
		await app.createUser("PATRON");
		const status = await app.broker.call<{ role: string; kafkaConfigured: boolean }>("kafka-bridge.status");
		expect(status).toMatchObject({ role: "idle", kafkaConfigured: false });
		await new Promise((r) => setTimeout(r, 500));
		const backlog = await app.broker.call<{ schema: string; unsent: number }[]>("kafka-bridge.backlog");
		expect(backlog.find((b) => b.schema === "auth")?.unsent).toBeGreaterThanOrEqual(1);
	});
});

describe("kafka-bridge with Kafka unreachable", () => {
	let app: TestApp;
	beforeAll(async () => {
		// Nothing listens on port 1: every connection is refused at once.
		app = await startTestApp({ services: ["auth", "kafka-bridge"], env: { KAFKA_BROKERS: "127.0.0.1:1" } });
	});
	afterAll(async () => app?.stop());

	it("retries with backoff, reports not ready, and keeps the rows unsent", async () => {
		const user = await app.createUser("PATRON");
		const db = app.broker.getLocalService("auth")!.db;
		await until("a failed relay attempt recorded on the row", async () => {
			const [rows] = await db.query(`SELECT attempts, last_error, sent_at FROM auth.outbox WHERE aggregate_id = :id`, {
				replacements: { id: user.id },
			});
			const row = (rows as { attempts: number; last_error: string | null; sent_at: Date | null }[])[0];
			return Boolean(row && row.attempts > 0 && row.last_error && row.sent_at === null);
		});
		const { readiness } = await import("../../../lib/health");
		const ready = await readiness(app.broker);
		expect(ready.ready).toBe(false);
		expect(ready.checks.kafka.ok).toBe(false);
		expect(ready.checks["database:auth"].ok).toBe(true);
		const status = await app.broker.call<{ role: string; kafkaOk: boolean; lastError: string | null }>("kafka-bridge.status");
		expect(status).toMatchObject({ role: "leader", kafkaOk: false });
		expect(status.lastError).toBeTruthy();
	});
});
