/**
 * The freezer-readings route's rate limit (a machine client, limited per device): requests with a wrong device key
 * spend their own budget, so they cannot lock the real sensor out of its freezer (cold-chain excursions unseen).
 */
import { startTestApp, type TestApp } from "../helpers/app";
import { buildWorld, type SalesWorld } from "../helpers/sales-world";

describe("freezer readings rate limit", () => {
	let app: TestApp;
	let w: SalesWorld;

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "inventory", "sales"], env: { RATE_LIMIT_PER_MIN: "5" } });
		w = await buildWorld(app);
	}, 60_000);
	afterAll(async () => {
		await app?.stop();
	});

	it("a flood with a wrong key is limited on its own; the sensor with the right key still posts", async () => {
		// Registered through the broker: the set-up's own requests already spent the executive's budget of 5.
		const freezer = await app.broker.call<{ id: string; deviceKey: string }, object>(
			"inventory.freezers.create",
			{ name: "Display case", shopId: w.shopId },
			{ meta: { user: { id: w.exec.id, role: "EXECUTIVE" } } },
		);
		const post = (key: string) =>
			app.request("POST", `/api/v1/inventory/freezers/${freezer.id}/readings`, {
				headers: { "x-device-key": key },
				body: { readings: [{ at: new Date().toISOString(), celsius: -20 }] },
			});
		const flood = [];
		for (let i = 0; i < 8; i++) flood.push((await post("frz_wrong-key")).status);
		expect(flood.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
		expect(flood.slice(5)).toEqual([429, 429, 429]);
		expect((await post(freezer.deviceKey)).status).toBe(200);
	});
});
