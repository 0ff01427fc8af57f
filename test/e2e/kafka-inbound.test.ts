/**
 * Kafka inbound is not trusted blindly (issue 10), against the real Kafka: the bridge
 * accepts PURCHASE_ORDER_CREATED from outside only when it is allow-listed and signed
 * with KAFKA_INBOUND_KEY. A forged (unsigned) purchase order used to drain factory
 * stock into an invoice; now it changes nothing, and a signed one takes effect once.
 * The bridge's own relayed messages carry the same signature.
 */
import { randomUUID } from "node:crypto";
import type { Producer } from "kafkajs";
import { startTestApp, type TestApp, type TestUser } from "../helpers/app";
import { waitUntil } from "../helpers/cluster";
import { kafkaTestLock, readerAtEnd, requireKafka, startInboundWorld, KAFKA_BROKERS, type InboundWorld } from "../helpers/kafka";
import { createFlavor, day, registerBatch, sqlRows } from "../integration/inventory/helpers";
import { EVENT_CATALOG, envelope, type EventPayloads } from "../../lib/events";
import { APP_METRICS, prometheusText } from "../../lib/metrics";
import { metricsText } from "../../lib/health";
import { checkSignature, signMessage } from "../../services/kafka-bridge/inbound-gate";

jest.setTimeout(120_000);

const KEY = `inbound-${randomUUID()}`;
const TOPIC = EVENT_CATALOG.PURCHASE_ORDER_CREATED.topic;

describe("kafka-bridge inbound: allow-listed, signed, validated", () => {
	let world: InboundWorld;
	let app: TestApp;
	let producer: Producer;
	let exec: TestUser;
	let maker: TestUser;
	let factoryId: string;
	let flavorId: string;
	let shopId: string;

	beforeAll(async () => {
		world = await startInboundWorld("PURCHASE_ORDER_CREATED", KEY);
		({ app, producer, exec, maker, factoryId } = world);
		flavorId = await createFlavor(app, maker.token, { name: `Pistachio ${randomUUID().slice(0, 6)}`, price: 250 });
		await registerBatch(app, maker.token, factoryId, {
			flavorId,
			batchId: "IN-1",
			quantity: 50,
			cost: 100,
			productionDate: day(-2),
			expiryDate: day(30),
		});
		shopId = randomUUID();
	}, 400_000); // may wait for the exclusive Kafka fault test to finish
	afterAll(() => world?.stop());

	const counter = (name: string, labels: Record<string, string>) =>
		(app.broker.metrics.getMetric(name)?.get(labels)?.value as number | undefined) ?? 0;
	const stock = async () =>
		(await sqlRows<{ quantity: number }>(app, "SELECT quantity FROM inventory.stock_items WHERE factory_id = $1", [factoryId]))[0]
			.quantity;
	const invoices = async (orderId: string) =>
		(await sqlRows<{ n: number }>(app, "SELECT count(*)::int AS n FROM inventory.invoices WHERE order_id = $1", [orderId]))[0].n;
	const order = (quantity: number): EventPayloads["PURCHASE_ORDER_CREATED"] => ({
		orderId: randomUUID(),
		shopId,
		factoryId,
		items: [{ flavorId, quantity }],
		requestedBy: exec.id,
		createdAt: new Date().toISOString(),
	});
	/** One key (the shop), so one partition: the bridge sees these messages in the order sent. */
	const send = (value: string, headers: Record<string, string> = {}) =>
		producer.send({ topic: TOPIC, messages: [{ key: shopId, value, headers }] });

	it("a forged unsigned purchase order changes nothing; a signed one takes effect once", async () => {
		const forged = envelope("PURCHASE_ORDER_CREATED", order(10));
		// The consumer group joins at the latest offset: repeat the forgery until the bridge has handled one
		// (dropped it, or, as it used to, turned it into an invoice).
		await waitUntil(
			"the bridge to handle an unsigned message",
			async () => {
				await send(JSON.stringify(forged));
				await new Promise((r) => setTimeout(r, 300));
				return counter(APP_METRICS.inboundRejected, { reason: "unsigned" }) > 0 || (await invoices(forged.data.orderId)) > 0;
			},
			60_000,
			0,
		);
		// Signed with another key, and signed but with a payload the catalog refuses.
		const otherKeyed = envelope("PURCHASE_ORDER_CREATED", order(10));
		const otherKey = JSON.stringify(otherKeyed);
		await send(otherKey, { "eislager-signature": signMessage(`not-${KEY}`, otherKey) });
		const badPayloadEvent = envelope("PURCHASE_ORDER_CREATED", { ...order(10), items: [{ flavorId, quantity: -10 }] });
		const badPayload = JSON.stringify(badPayloadEvent);
		await send(badPayload, { "eislager-signature": signMessage(KEY, badPayload) });

		const genuine = envelope("PURCHASE_ORDER_CREATED", order(7));
		const value = JSON.stringify(genuine);
		await send(value, { "eislager-signature": signMessage(KEY, value) });
		await waitUntil("the signed purchase order's invoice", async () => (await invoices(genuine.data.orderId)) === 1, 30_000);
		// Re-produced: the bridge skips it as a duplicate.
		const duplicatesBefore = counter(APP_METRICS.inboundDuplicates, { topic: TOPIC });
		await send(value, { "eislager-signature": signMessage(KEY, value) });
		await waitUntil(
			"the re-produced message to be skipped",
			() => counter(APP_METRICS.inboundDuplicates, { topic: TOPIC }) > duplicatesBefore,
			30_000,
		);

		expect(await invoices(forged.data.orderId)).toBe(0);
		expect(await invoices(genuine.data.orderId)).toBe(1);
		expect(await stock()).toBe(50 - 7);
		// Both were handled before the genuine one (one partition) and turned into nothing. The counters are at least 1:
		// other suites (the relay's) sign messages on this topic with their own keys at the same time.
		expect(await invoices(otherKeyed.data.orderId)).toBe(0);
		expect(await invoices(badPayloadEvent.data.orderId)).toBe(0);
		expect(counter(APP_METRICS.inboundRejected, { reason: "bad_signature" })).toBeGreaterThanOrEqual(1);
		expect(counter(APP_METRICS.inboundRejected, { reason: "invalid_payload" })).toBeGreaterThanOrEqual(1);
		expect(prometheusText(app.broker)).toMatch(/eislager_kafka_inbound_rejected_total\{[^}]*reason="unsigned"[^}]*\} [1-9]/);
	});

	it("signs the bridge's own relayed messages with the same key", async () => {
		const reader = await readerAtEnd(EVENT_CATALOG.USER_LOGIN.topic);
		try {
			const user = await app.createUser("PATRON");
			const msgs = await reader.waitFor((m) => m.some((x) => x.value.data.userId === user.id), 30_000, `USER_LOGIN of ${user.id}`);
			const msg = msgs.find((x) => x.value.data.userId === user.id)!;
			const signature = msg.message.headers?.["eislager-signature"]?.toString();
			expect(checkSignature([KEY], msg.message.value!, signature)).toBeUndefined();
		} finally {
			await reader.stop();
		}
	});

	it("reports Kafka reachable and the inbound group's lag per topic on /metrics (docs/monitoring.md)", async () => {
		// The relay leader reports the lag (one node only); the lock is taken a moment after start.
		let text = "";
		await waitUntil(
			"the Kafka business metrics",
			async () => {
				text = await metricsText(app.broker);
				return /^eislager_kafka_consumer_lag\{/m.test(text);
			},
			30_000,
		);
		expect(text).toMatch(/^eislager_kafka_up\{[^}]*\} 1$/m);
		expect(text).toMatch(new RegExp(`^eislager_kafka_consumer_lag\\{[^}]*topic="${TOPIC}"[^}]*\\} \\d+$`, "m"));
	});
});

describe("kafka-bridge inbound is off by default", () => {
	let app: TestApp;
	let unlock: () => Promise<void>;
	beforeAll(async () => {
		unlock = await kafkaTestLock("shared");
		await requireKafka();
		app = await startTestApp({ services: ["kafka-bridge"], env: { KAFKA_BROKERS, NAMESPACE: `t${randomUUID().slice(0, 8)}` } });
	}, 400_000);
	afterAll(async () => {
		await app?.stop();
		await unlock?.();
	});

	it("runs no inbound consumer without KAFKA_INBOUND_EVENTS", async () => {
		const status = await app.broker.call<{ inboundEvents: string[]; inboundConnected: boolean }>("kafka-bridge.status");
		expect(status).toMatchObject({ inboundEvents: [], inboundConnected: false });
		expect((app.broker.getLocalService("kafka-bridge") as unknown as { inbound?: unknown }).inbound).toBeUndefined();
	});
});
