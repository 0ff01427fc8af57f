/**
 * Outbox wake-ups name the event types committed (lib/outbox-wake.ts): a consumer group
 * wakes only for its own types, so a stream of sales does not make every group that reads
 * the sales outbox for some other type run a pass per commit.
 * - with a transporter (readers may run on other nodes), a real commit NOTIFYs its schema
 *   and types (real PostgreSQL, LISTEN, NATS);
 * - without one (the process is the whole cluster), the same wake-up reaches this process's
 *   consumer groups directly, and PostgreSQL carries no NOTIFY;
 * - a reader wakes for its types, for a payload without types, and for a replay request,
 *   and stays asleep for other types.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { Client, type Notification } from "pg";
import type { LoggerInstance, ServiceBroker } from "moleculer";
import type { Sequelize } from "sequelize";
import { startTestApp, type TestApp } from "../../helpers/app";
import { eventually } from "../../helpers/eventually";
import { NATS_URL } from "../../helpers/cluster";
import { OUTBOX_CHANNEL, parseWake } from "../../../lib/outbox-wake";
import { REPLAY_WAKE, StreamReader } from "../../../lib/event-stream";
import type { StreamHub } from "../../../lib/stream-hub";

/** A notification to one user: commits a NOTIFICATION_SENT outbox row in the communications schema. */
async function notifyOne(app: TestApp): Promise<void> {
	const user = await app.createUser("PATRON");
	await app.broker.call("communications.notifications.notifyUsers", {
		userIds: [user.id],
		type: "BATCH_RECALLED",
		message: "Batch B-2 is recalled",
		data: { batchId: "B-2" },
		sourceEventId: randomUUID(),
	});
}

/** LISTENs on the outbox channel of `app`'s database; `payloads` collects what PostgreSQL delivers. */
async function listen(app: TestApp): Promise<{ client: Client; payloads: string[] }> {
	const client = new Client({ connectionString: app.db.url });
	await client.connect();
	const payloads: string[] = [];
	client.on("notification", (n: Notification) => void payloads.push(n.payload ?? ""));
	await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
	return { client, payloads };
}

describe("outbox wake-ups with a transporter (readers may run on other nodes)", () => {
	let app: TestApp;
	let listener: { client: Client; payloads: string[] };
	beforeAll(async () => {
		app = await startTestApp({
			services: ["auth", "communications"],
			env: {
				TRANSPORTER: NATS_URL,
				NAMESPACE: `wake-${randomBytes(4).toString("hex")}`,
				JWT_SECRET: randomBytes(32).toString("hex"),
			},
		});
		listener = await listen(app);
	});
	afterAll(async () => {
		await listener?.client.end();
		await app?.stop();
	});

	it("a committed publish notifies '<schema>:<type>'", async () => {
		await notifyOne(app);
		await eventually(async () => listener.payloads.includes("communications:NOTIFICATION_SENT"), "the typed wake-up", 10_000);
		expect(parseWake("communications:NOTIFICATION_SENT")).toEqual({ schema: "communications", types: ["NOTIFICATION_SENT"] });
	});
});

describe("outbox wake-ups without a transporter (the process is the whole cluster)", () => {
	let app: TestApp;
	let listener: { client: Client; payloads: string[] };
	const notified = jest.spyOn(StreamReader.prototype, "notified");
	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "communications"] });
		listener = await listen(app);
	});
	afterAll(async () => {
		notified.mockRestore();
		await listener?.client.end();
		await app?.stop();
	});

	it("reach this process's consumer groups directly, with no NOTIFY", async () => {
		notified.mockClear();
		await notifyOne(app);
		await eventually(
			async () => notified.mock.calls.some(([p]) => p === "communications:NOTIFICATION_SENT"),
			"the local wake-up",
			10_000,
		);
		// Anything the writer had NOTIFYed would come before a NOTIFY sent now (its wake-up ran right after its commit).
		await listener.client.query("SELECT pg_notify($1, 'sentinel')", [OUTBOX_CHANNEL]);
		await eventually(async () => listener.payloads.includes("sentinel"), "the sentinel", 10_000);
		expect(listener.payloads).toEqual(["sentinel"]);
	});
});

describe("a consumer group's reader and wake-ups", () => {
	const reader = new StreamReader({
		db: {} as Sequelize,
		schema: "inventory",
		subscription: { group: "test.consumption", types: ["SALE_COMPLETED"], handler: async () => undefined },
		self: undefined,
		hub: {} as StreamHub,
		broker: {} as ServiceBroker,
		logger: {} as LoggerInstance,
		maxAttempts: 5,
		delayMs: 0,
	});
	const wakes = (payload: string): boolean => {
		const wake = jest.spyOn(reader, "wake").mockImplementation(() => undefined);
		reader.notified(payload);
		const woken = wake.mock.calls.length > 0;
		wake.mockRestore();
		return woken;
	};

	it("wakes for its own types, for an untyped payload and for a replay request", () => {
		expect(wakes("sales:SALE_COMPLETED")).toBe(true);
		expect(wakes("sales:STOCK_LOW,SALE_COMPLETED")).toBe(true);
		expect(wakes("sales")).toBe(true);
		expect(wakes(REPLAY_WAKE)).toBe(true);
	});

	it("sleeps through other groups' types", () => {
		expect(wakes("sales:PURCHASE_ORDER_CREATED")).toBe(false);
		expect(wakes("inventory:STOCK_LOW,BATCH_RECALLED")).toBe(false);
	});
});
