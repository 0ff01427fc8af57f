/**
 * Inventory's background jobs (issue 14, section 4), on two nodes sharing one database:
 * - the expiry scan and the overdue-invoice job run at start, not an interval later;
 * - invoices past their due date and not paid become OVERDUE once, with one INVOICE_OVERDUE
 *   each, however many nodes run the job at the same time (advisory lock + the status change);
 * - PAID, VOID and not-yet-due invoices are left alone.
 */
import { startTestApp, type TestApp, type TestUser } from "../helpers/app";
import { waitUntil } from "../helpers/cluster";
import { day, sqlRows } from "../integration/inventory/helpers";
import type { EventPayloads } from "../../lib/events";

jest.setTimeout(60_000);

describe("inventory jobs: at start, once across nodes", () => {
	let first: TestApp;
	let second: TestApp | undefined;
	let maker: TestUser;
	let factoryId: string;
	const invoice: Record<string, string> = {};

	// One secret for both nodes: tokens signed by the first stay valid when the second starts.
	const env = { EXPIRY_SCAN_INTERVAL_SEC: "3600", EXPIRY_WARNING_DAYS: "2", JWT_SECRET: "jobs-test-secret-0123456789abcdef0123456789" };

	beforeAll(async () => {
		// Hourly scans: anything the second node does within the test, it does at start.
		first = await startTestApp({ services: ["auth", "inventory"], env });
		maker = await first.createUser("MANUFACTURER");
		[{ id: factoryId }] = await sqlRows<{ id: string }>(
			first,
			`INSERT INTO inventory.factories (name, manager_id) VALUES ('Jobs works', $1) RETURNING id`,
			[maker.id],
		);
		const [flavor] = await sqlRows<{ id: string }>(
			first,
			`INSERT INTO inventory.flavors (name, category, price) VALUES ('Jobs', 'CREAM', 1) RETURNING id`,
		);
		await sqlRows(
			first,
			`INSERT INTO inventory.stock_items (factory_id, flavor_id, batch_id, initial_quantity, quantity, cost, production_date, expiry_date)
			 VALUES ($1, $2, 'J-1', 5, 5, 1, $3, $4), ($1, $2, 'J-2', 5, 5, 1, $3, $5)`,
			[factoryId, flavor.id, day(-5), day(1), day(30)],
		);
		for (const [name, status, due] of [
			["late", "ISSUED", day(-1)],
			["veryLate", "ISSUED", day(-40)],
			["dueToday", "ISSUED", day(0)],
			["paid", "PAID", day(-5)],
			["void", "VOID", day(-5)],
		] as const) {
			[{ id: invoice[name] }] = await sqlRows<{ id: string }>(
				first,
				`INSERT INTO inventory.invoices (factory_id, shop_id, total_amount, status, due_date) VALUES ($1, gen_random_uuid(), 1250, $2, $3) RETURNING id`,
				[factoryId, status, due],
			);
		}
	});
	afterAll(async () => {
		await second?.stop();
		await first?.stop();
	});

	const overdueEvents = async () =>
		(
			await sqlRows<{ data: EventPayloads["INVOICE_OVERDUE"] }>(
				first,
				`SELECT envelope->'data' AS data FROM inventory.outbox WHERE type = 'INVOICE_OVERDUE' ORDER BY seq`,
			)
		).map((r) => r.data);
	const status = async (id: string) => {
		const res = await first.request("GET", `/api/v1/inventory/invoices/${id}`, { token: maker.token });
		if (res.status !== 200) throw new Error(`GET invoice ${id}: ${res.status} ${JSON.stringify(res.body)}`);
		return res.body.status;
	};

	it("a node starting scans for expiring batches and overdue invoices at once", async () => {
		// The first node started before the rows existed: nothing yet.
		expect(await overdueEvents()).toEqual([]);
		second = await startTestApp({ services: ["inventory"], db: first.db, gateway: false, env });
		await waitUntil(
			"the start-up jobs of the second node",
			async () =>
				(await overdueEvents()).length === 2 &&
				(await sqlRows(first, `SELECT 1 FROM inventory.outbox WHERE type = 'EXPIRY_WARNING'`)).length === 1,
			15_000,
			100,
		);
		const warnings = await sqlRows<{ batch: string }>(
			first,
			`SELECT envelope->'data'->>'batchId' AS batch FROM inventory.outbox WHERE type = 'EXPIRY_WARNING'`,
		);
		expect(warnings.map((w) => w.batch)).toEqual(["J-1"]);
		expect((await overdueEvents()).map((e) => e.invoiceId).sort()).toEqual([invoice.late, invoice.veryLate].sort());
		expect((await overdueEvents()).find((e) => e.invoiceId === invoice.late)).toEqual({
			invoiceId: invoice.late,
			orderId: null,
			factoryId,
			shopId: expect.any(String),
			totalAmount: 1250,
			dueDate: day(-1),
			asOf: day(0),
		});
		expect(await status(invoice.late)).toBe("OVERDUE");
		expect(await status(invoice.veryLate)).toBe("OVERDUE");
		for (const name of ["dueToday", "paid", "void"])
			expect([name, await status(invoice[name])]).toEqual([name, { dueToday: "ISSUED", paid: "PAID", void: "VOID" }[name]]);
	});

	it("the job run on both nodes at once marks each invoice once, with one event", async () => {
		// Tomorrow: today's invoice is overdue too.
		const runs = await Promise.all(
			[first, second!].flatMap((app) => [
				app.broker.call<{ overdue: number }, object>("inventory.overdue.markOverdue", { asOf: day(1) }),
				app.broker.call<{ overdue: number }, object>("inventory.overdue.markOverdue", { asOf: day(1) }),
			]),
		);
		expect(runs.map((r) => r.overdue).sort()).toEqual([0, 0, 0, 1]);
		const events = await overdueEvents();
		expect(events.map((e) => e.invoiceId).filter((id) => id === invoice.dueToday)).toHaveLength(1);
		expect(events).toHaveLength(3);
		expect(await status(invoice.dueToday)).toBe("OVERDUE");
		// Paid after it was overdue: stays PAID, no new event on the next runs.
		expect(
			(
				await first.request("PUT", `/api/v1/inventory/invoices/${invoice.late}/status`, {
					token: maker.token,
					body: { status: "PAID" },
				})
			).status,
		).toBe(200);
		expect((await first.broker.call<{ overdue: number }, object>("inventory.overdue.markOverdue", { asOf: day(2) })).overdue).toBe(0);
		expect(await overdueEvents()).toHaveLength(3);
	});
});
