/**
 * Outbox wake-ups name the event types committed (lib/outbox-wake.ts): a consumer group
 * wakes only for its own types, so a stream of sales does not make every group that reads
 * the sales outbox for some other type run a pass per commit.
 * - the NOTIFY a real commit sends carries its schema and types (real PostgreSQL, LISTEN);
 * - a reader wakes for its types, for a payload without types, and for a replay request,
 *   and stays asleep for other types.
 */
import { Client, type Notification } from "pg";
import type { LoggerInstance, ServiceBroker } from "moleculer";
import type { Sequelize } from "sequelize";
import { startTestApp, type TestApp } from "../../helpers/app";
import { eventually } from "../../helpers/eventually";
import { OUTBOX_CHANNEL, parseWake } from "../../../lib/outbox-wake";
import { REPLAY_WAKE, StreamReader } from "../../../lib/event-stream";
import type { StreamHub } from "../../../lib/stream-hub";

describe("outbox wake-ups carry the event types", () => {
	let app: TestApp;
	let listener: Client;
	const payloads: string[] = [];
	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "communications"] });
		listener = new Client({ connectionString: app.db.url });
		await listener.connect();
		listener.on("notification", (n: Notification) => void payloads.push(n.payload ?? ""));
		await listener.query(`LISTEN ${OUTBOX_CHANNEL}`);
	});
	afterAll(async () => {
		await listener?.end();
		await app?.stop();
	});

	it("a committed publish notifies '<schema>:<type>'", async () => {
		const user = await app.createUser("PATRON");
		await app.broker.call("communications.notifications.notifyUsers", {
			userIds: [user.id],
			type: "BATCH_RECALLED",
			message: "Batch B-2 is recalled",
			data: { batchId: "B-2" },
			sourceEventId: "1b7d5bb4-5bd4-4a43-9d0c-7f0d3f4ad1e2",
		});
		await eventually(async () => payloads.includes("communications:NOTIFICATION_SENT"), "the typed wake-up", 10_000);
		expect(parseWake("communications:NOTIFICATION_SENT")).toEqual({ schema: "communications", types: ["NOTIFICATION_SENT"] });
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
