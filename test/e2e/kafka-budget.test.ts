/**
 * BUDGET_ALLOCATION_UPDATED from an external finance system (issue 14, section 4), against
 * the real Kafka: allow-listed and signed, it sets the factory's budget and lands in the
 * budget history with its source (`kafka:finance`); unsigned it changes nothing; and
 * inventory's own budget event, relayed to Kafka and read back (or arriving with
 * inventory as its source), is never applied a second time.
 */
import { randomUUID } from "node:crypto";
import type { Producer } from "kafkajs";
import type { TestApp, TestUser } from "../helpers/app";
import { waitUntil } from "../helpers/cluster";
import { startInboundWorld, type InboundWorld } from "../helpers/kafka";
import { sqlRows } from "../integration/inventory/helpers";
import { EVENT_CATALOG, type EventEnvelope } from "../../lib/events";
import { signMessage } from "../../services/kafka-bridge/inbound-gate";

jest.setTimeout(120_000);

const KEY = `budget-${randomUUID()}`;
const TOPIC = EVENT_CATALOG.BUDGET_ALLOCATION_UPDATED.topic;

describe("budget allocations from the finance system through Kafka", () => {
	let world: InboundWorld;
	let app: TestApp;
	let producer: Producer;
	let exec: TestUser;
	let factoryId: string;

	beforeAll(async () => {
		world = await startInboundWorld("BUDGET_ALLOCATION_UPDATED", KEY);
		({ app, producer, exec, factoryId } = world);
	}, 400_000); // may wait for the exclusive Kafka fault test to finish
	afterAll(() => world?.stop());

	const finance = (budgetAllocated: number, reason: string, source = "finance"): EventEnvelope<"BUDGET_ALLOCATION_UPDATED"> => ({
		id: randomUUID(),
		type: "BUDGET_ALLOCATION_UPDATED",
		occurredAt: new Date().toISOString(),
		source,
		requestId: null,
		data: { factoryId, previousAmount: 0, budgetAllocated, reason, changedBy: null },
	});
	/** Keyed by factory, like the relay: one partition, so the bridge sees the messages in the order sent. */
	const send = (env: EventEnvelope, signed = true) => {
		const value = JSON.stringify(env);
		return producer.send({
			topic: TOPIC,
			messages: [{ key: factoryId, value, headers: signed ? { "eislager-signature": signMessage(KEY, value) } : {} }],
		});
	};
	const history = async () =>
		(await app.request("GET", `/api/v1/inventory/factories/${factoryId}/budget-history?pageSize=100`, { token: exec.token })).body
			.rows as { budgetAllocated: number; reason: string; source: string }[];
	const budget = async () =>
		(await app.request("GET", `/api/v1/inventory/factories/${factoryId}`, { token: exec.token })).body.budgetAllocated as number;

	it("a signed allocation sets the budget and is kept in the history with its source; an unsigned one changes nothing", async () => {
		// The consumer group joins at the latest offset: resend until the bridge has one.
		await waitUntil(
			"the first signed allocation to apply",
			async () => {
				await send(finance(500_000, "FY27 Q1"));
				await new Promise((r) => setTimeout(r, 300));
				return (await budget()) === 500_000;
			},
			60_000,
			0,
		);
		await send(finance(9_999_999, "forged"), false);
		await send(finance(650_000, "FY27 Q1 top-up"));
		await waitUntil("the top-up", async () => (await budget()) === 650_000, 30_000);
		const rows = await history();
		expect(rows[0]).toMatchObject({ budgetAllocated: 650_000, reason: "FY27 Q1 top-up", source: "kafka:finance" });
		expect(rows.some((r) => r.reason === "forged")).toBe(false);
		expect(rows.filter((r) => r.source === "api")).toEqual([expect.objectContaining({ reason: "Initial allocation" })]);
	});

	it("inventory's own budget event is not applied again: relayed and read back, or coming in with inventory as its source", async () => {
		const own = await app.request("PUT", `/api/v1/inventory/factories/${factoryId}/budget`, {
			token: exec.token,
			body: { budgetAllocated: 700_000, reason: "Set by the executive" },
		});
		expect(own.status).toBe(200);
		// Wait until the relay has sent it to Kafka (it comes back on the same partition).
		await waitUntil(
			"the relay to send the executive's change",
			async () =>
				(
					await sqlRows(
						app,
						`SELECT 1 FROM inventory.outbox WHERE type = 'BUDGET_ALLOCATION_UPDATED' AND sent_at IS NOT NULL AND envelope->'data'->>'reason' = 'Set by the executive'`,
					)
				).length === 1,
			30_000,
		);
		// A copy of an inventory envelope with a fresh id and no relay header: its source still says it is ours.
		await send(finance(1, "echo", "inventory"));
		// A marker behind both on the same partition: once it applied, the two before it were handled.
		await send(finance(710_000, "marker"));
		await waitUntil("the marker", async () => (await budget()) === 710_000, 30_000);
		const rows = await history();
		expect(rows.filter((r) => r.reason === "Set by the executive")).toEqual([
			expect.objectContaining({ source: "api", budgetAllocated: 700_000 }),
		]);
		expect(rows.some((r) => r.reason === "echo")).toBe(false);
		expect(rows[0]).toMatchObject({ reason: "marker", source: "kafka:finance" });
	});
});
