/**
 * The kafka-bridge's inbound gate (services/kafka-bridge/inbound-gate.ts) without Kafka:
 * allow-list, HMAC signature (with rotation), envelope and catalog payload schema,
 * the rejection counter and its once-a-minute log; and the inbound consumer's join
 * watchdog against a fake kafkajs.
 */
import { randomUUID } from "node:crypto";
import type { Kafka, KafkaMessage } from "kafkajs";
import type { Sequelize } from "sequelize";
import { ServiceBroker, type LoggerInstance } from "moleculer";
import { envelope, EVENT_NAMES, type EventName, type EventPayloads } from "../../lib/events";
import { APP_METRICS, metricsOptions, prometheusText, registerAppMetrics } from "../../lib/metrics";
import { checkSignature, InboundGate, signMessage, validPayload } from "../../services/kafka-bridge/inbound-gate";
import { InboundConsumer } from "../../services/kafka-bridge/inbound";

const KEY = "i".repeat(40);
const OLD = "p".repeat(40);
const now = new Date().toISOString();

/** One valid payload per catalog event, as our own services emit them. */
const SAMPLES: { [K in EventName]: EventPayloads[K] } = {
	SALE_COMPLETED: {
		transactionId: randomUUID(),
		shopId: randomUUID(),
		clerkId: randomUUID(),
		patronId: null,
		items: [{ flavorId: randomUUID(), quantity: 2, unitPrice: 350, lineTotal: 700 }],
		totalAmount: 700,
		paymentMethod: "CARD",
		createdAt: now,
	},
	PURCHASE_ORDER_CREATED: {
		orderId: randomUUID(),
		shopId: randomUUID(),
		factoryId: randomUUID(),
		items: [{ flavorId: randomUUID(), quantity: 5 }],
		requestedBy: randomUUID(),
		createdAt: now,
	},
	INVENTORY_LOW: { shopId: randomUUID(), flavorId: randomUUID(), quantity: 1, reorderThreshold: 5 },
	REVIEW_SUBMITTED: { reviewId: randomUUID(), shopId: randomUUID(), patronId: randomUUID(), rating: 4, comment: null },
	STOCK_REGISTERED: {
		stockItemId: randomUUID(),
		factoryId: randomUUID(),
		flavorId: randomUUID(),
		batchId: "B-2026/11",
		quantity: 100,
		cost: 12000,
		productionDate: "2026-11-01",
		expiryDate: "2027-01-01",
	},
	INVOICE_GENERATED: {
		invoiceId: randomUUID(),
		orderId: null,
		factoryId: randomUUID(),
		shopId: randomUUID(),
		totalAmount: 0,
		status: "ISSUED",
		dueDate: "2026-12-27",
	},
	INVOICE_OVERDUE: {
		invoiceId: randomUUID(),
		orderId: randomUUID(),
		factoryId: randomUUID(),
		shopId: randomUUID(),
		totalAmount: 1250,
		dueDate: "2026-11-26",
		asOf: "2026-11-27",
	},
	EXPIRY_WARNING: {
		stockItemId: randomUUID(),
		factoryId: randomUUID(),
		flavorId: randomUUID(),
		batchId: "B1",
		quantity: 3,
		expiryDate: "2026-11-30",
		warningDays: 3,
		managerId: randomUUID(),
	},
	BUDGET_ALLOCATION_UPDATED: { factoryId: randomUUID(), previousAmount: 0, budgetAllocated: 500000, reason: "Q1", changedBy: null },
	USER_LOGIN: { userId: randomUUID(), role: "PATRON", method: "password", ip: "203.0.113.9" },
	USER_ROLE_CHANGED: { userId: randomUUID(), previousRole: "PATRON", role: "CLERK", changedBy: randomUUID() },
	MESSAGE_RECEIVED: {
		messageId: randomUUID(),
		conversationId: randomUUID(),
		senderId: randomUUID(),
		recipientIds: [randomUUID()],
		messageType: "TEXT",
		createdAt: now,
	},
	NOTIFICATION_SENT: { notificationId: randomUUID(), userId: randomUUID(), type: "INFO", message: "hello" },
	STOCK_WRITTEN_OFF: {
		batchId: randomUUID(),
		shopId: randomUUID(),
		factoryId: null,
		flavorId: randomUUID(),
		quantity: 3,
		reason: "EXPIRY",
		costCents: 450,
		at: now,
	},
	BATCH_RECALLED: {
		batchId: randomUUID(),
		batchLabel: "B-1042",
		factoryId: randomUUID(),
		flavorId: randomUUID(),
		reason: "Listeria suspected",
		recalledBy: randomUUID(),
		at: now,
	},
	COLD_CHAIN_EXCURSION: {
		freezerId: randomUUID(),
		shopId: randomUUID(),
		factoryId: null,
		startedAt: now,
		detectedAt: now,
		maxCelsius: -9.5,
	},
};

describe("catalog payload schemas", () => {
	test.each(EVENT_NAMES)("%s: our own payload passes", (name) => {
		expect(validPayload(name, SAMPLES[name])).toBe(true);
	});

	test("a missing field, a wrong type, an unknown field or a non-object fails", () => {
		const po = SAMPLES.PURCHASE_ORDER_CREATED;
		expect(validPayload("PURCHASE_ORDER_CREATED", { ...po, factoryId: undefined })).toBe(false);
		expect(validPayload("PURCHASE_ORDER_CREATED", { ...po, items: [{ flavorId: randomUUID(), quantity: -3 }] })).toBe(false);
		expect(validPayload("PURCHASE_ORDER_CREATED", { ...po, items: [] })).toBe(false);
		expect(validPayload("PURCHASE_ORDER_CREATED", { ...po, isAdmin: true })).toBe(false);
		expect(validPayload("EXPIRY_WARNING", { ...SAMPLES.EXPIRY_WARNING, managerId: "someone" })).toBe(false);
		expect(validPayload("PURCHASE_ORDER_CREATED", [po])).toBe(false);
		expect(validPayload("PURCHASE_ORDER_CREATED", null)).toBe(false);
	});
});

test("signatures: sha256=<hex HMAC of the value>, current or previous key", () => {
	const value = Buffer.from('{"a":1}');
	expect(signMessage(KEY, value)).toMatch(/^sha256=[0-9a-f]{64}$/);
	expect(checkSignature([KEY], value, signMessage(KEY, value))).toBeUndefined();
	expect(checkSignature([KEY, OLD], value, signMessage(OLD, value))).toBeUndefined();
	expect(checkSignature([KEY], value, signMessage(OLD, value))).toBe("bad_signature");
	expect(checkSignature([KEY], Buffer.from('{"a":2}'), signMessage(KEY, value))).toBe("bad_signature");
	expect(checkSignature([KEY], value, "sha256=zz")).toBe("bad_signature");
	expect(checkSignature([KEY], value, undefined)).toBe("unsigned");
});

describe("InboundGate", () => {
	const broker = new ServiceBroker({ logger: false, metrics: metricsOptions() });
	const warnings: string[] = [];
	const logger = { warn: (line: string) => warnings.push(line) } as unknown as LoggerInstance;
	const gate = new InboundGate({ events: ["PURCHASE_ORDER_CREATED"], keys: [KEY, OLD] }, broker, logger);
	let offset = 0;
	const message = (value: string | null, signature?: string): KafkaMessage =>
		({
			key: null,
			value: value === null ? null : Buffer.from(value),
			headers: signature ? { "eislager-signature": Buffer.from(signature) } : {},
			offset: String(offset++),
			timestamp: "0",
			attributes: 0,
		}) as KafkaMessage;
	const rejected = (reason: string) =>
		(broker.metrics.getMetric(APP_METRICS.inboundRejected)?.get({ reason })?.value as number | undefined) ?? 0;

	beforeAll(() => registerAppMetrics(broker));

	test("admits a signed, allow-listed, valid envelope (also signed with the previous key)", () => {
		const env = envelope("PURCHASE_ORDER_CREATED", SAMPLES.PURCHASE_ORDER_CREATED);
		const value = JSON.stringify(env);
		expect(gate.admit("purchase-order", 0, message(value, signMessage(KEY, value)))).toMatchObject({
			id: env.id,
			type: "PURCHASE_ORDER_CREATED",
			data: env.data,
		});
		expect(gate.admit("purchase-order", 0, message(value, signMessage(OLD, value)))).toMatchObject({ id: env.id });
	});

	test("drops and counts everything else by reason, logging once per reason", () => {
		const po = JSON.stringify(envelope("PURCHASE_ORDER_CREATED", SAMPLES.PURCHASE_ORDER_CREATED));
		const warning = JSON.stringify(envelope("EXPIRY_WARNING", SAMPLES.EXPIRY_WARNING));
		const badPayload = JSON.stringify(envelope("PURCHASE_ORDER_CREATED", { ...SAMPLES.PURCHASE_ORDER_CREATED, items: [] }));
		const cases: [string, KafkaMessage, string][] = [
			["expiry-warning", message(warning, signMessage(KEY, warning)), "not_allowed"],
			["purchase-order", message(po), "unsigned"],
			["purchase-order", message(po), "unsigned"],
			["purchase-order", message(po, signMessage("x".repeat(40), po)), "bad_signature"],
			["purchase-order", message("not json", signMessage(KEY, "not json")), "invalid_envelope"],
			["purchase-order", message(warning, signMessage(KEY, warning)), "invalid_envelope"],
			["purchase-order", message(badPayload, signMessage(KEY, badPayload)), "invalid_payload"],
		];
		for (const [topic, msg, reason] of cases) {
			const before = rejected(reason);
			expect({ reason, admitted: gate.admit(topic, 1, msg) }).toEqual({ reason, admitted: undefined });
			expect(rejected(reason)).toBe(before + 1);
		}
		expect(warnings.filter((w) => w.includes("unsigned"))).toHaveLength(1);
		expect(warnings).toHaveLength(5);
		expect(prometheusText(broker)).toMatch(/eislager_kafka_inbound_rejected_total\{[^}]*reason="unsigned"[^}]*\} 2/);
	});
});

describe("the inbound consumer's join watchdog (services/kafka-bridge/inbound.ts)", () => {
	/** A kafkajs consumer that connects, subscribes and runs, and joins its group only if `joins`. */
	function fakeConsumer(joins: boolean) {
		const handlers = new Map<string, () => void>();
		return {
			events: { GROUP_JOIN: "consumer.group_join", CRASH: "consumer.crash" },
			on: (event: string, cb: () => void) => void handlers.set(event, cb),
			connect: async () => undefined,
			subscribe: async () => undefined,
			run: async () => void (joins && setImmediate(() => handlers.get("consumer.group_join")?.())),
			disconnect: jest.fn(async () => undefined),
		};
	}

	it("replaces a consumer that never joins its group, and keeps the one that does", async () => {
		const consumers: ReturnType<typeof fakeConsumer>[] = [];
		const kafka = {
			admin: () => ({
				connect: async () => undefined,
				disconnect: async () => undefined,
				listTopics: async () => ["purchase-order"],
				createTopics: async () => true,
			}),
			// The first consumer hangs in its join, as one did on a broker just restarted; the next one joins.
			consumer: () => {
				const c = fakeConsumer(consumers.length > 0);
				consumers.push(c);
				return c;
			},
		} as unknown as Kafka;
		const warnings: string[] = [];
		const logger = {
			warn: (m: string) => warnings.push(m),
			info: () => undefined,
			error: () => undefined,
		} as unknown as LoggerInstance;
		const inbound = new InboundConsumer({
			kafka,
			db: {} as Sequelize,
			broker: new ServiceBroker({ logger: false }),
			logger,
			namespace: "test",
			groupId: "eislager-bridge-test",
			policy: { events: ["PURCHASE_ORDER_CREATED"], keys: [KEY] },
			joinTimeoutMs: 200,
		});
		inbound.start();
		try {
			const deadline = Date.now() + 5000;
			while (!inbound.joined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
			expect(inbound.joined).toBe(true);
			expect(consumers).toHaveLength(2);
			expect(consumers[0].disconnect).toHaveBeenCalled();
			expect(warnings).toEqual(["Kafka inbound: the consumer did not join group eislager-bridge-test within 200 ms; reconnecting"]);
			// Joined: no more replacements.
			await new Promise((r) => setTimeout(r, 500));
			expect(consumers).toHaveLength(2);
		} finally {
			await inbound.stop();
		}
	});
});
