/** The expiry scanner runs on its own, every EXPIRY_SCAN_INTERVAL_SEC, and still warns once per batch and window. */
import { startTestApp, type TestApp } from "../../helpers/app";
import { day, sqlRows } from "./helpers";

describe("inventory.expiry: scheduled scan", () => {
	let app: TestApp;
	beforeAll(async () => {
		app = await startTestApp({
			services: ["inventory"],
			gateway: false,
			env: { EXPIRY_SCAN_INTERVAL_SEC: "1", EXPIRY_WARNING_DAYS: "2" },
		});
	});
	afterAll(async () => app?.stop());

	it("warns about a batch entering its window without being asked, once", async () => {
		const [factory] = await sqlRows<{ id: string }>(
			app,
			`INSERT INTO inventory.factories (name, manager_id) VALUES ('Timer works', gen_random_uuid()) RETURNING id`,
		);
		const [flavor] = await sqlRows<{ id: string }>(
			app,
			`INSERT INTO inventory.flavors (name, category, price) VALUES ('Timer', 'CREAM', 1) RETURNING id`,
		);
		await sqlRows(
			app,
			`INSERT INTO inventory.stock_items (factory_id, flavor_id, batch_id, initial_quantity, quantity, cost, production_date, expiry_date)
			 VALUES ($1, $2, 'T-1', 5, 5, 1, $3, $4), ($1, $2, 'T-2', 5, 5, 1, $3, $5)`,
			[factory.id, flavor.id, day(-5), day(1), day(30)],
		);
		const warnings = async () =>
			(
				await sqlRows<{ batch: string }>(
					app,
					`SELECT envelope->'data'->>'batchId' AS batch FROM inventory.outbox WHERE type = 'EXPIRY_WARNING'`,
				)
			).map((r) => r.batch);
		const deadline = Date.now() + 10_000;
		while ((await warnings()).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
		expect(await warnings()).toEqual(["T-1"]);
		// Let a few more scheduled scans pass: still one warning.
		await new Promise((r) => setTimeout(r, 2500));
		expect(await warnings()).toEqual(["T-1"]);
	});
});
