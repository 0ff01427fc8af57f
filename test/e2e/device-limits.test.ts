/**
 * The freezer-readings route's rate limits (a machine client, limited per device): requests with a wrong device key
 * spend their own budget, so they cannot lock the real sensor out of its freezer (cold-chain excursions unseen);
 * an address whose wrong keys or random freezer ids keep failing is stopped before any validation or database work.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { startTestApp, type TestApp } from "../helpers/app";
import { buildWorld, type SalesWorld } from "../helpers/sales-world";
import type { RateLimiters } from "../../services/gateway/http";

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

describe("wrong device keys per address (Redis, as in production)", () => {
	const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
	let app: TestApp;
	let w: SalesWorld;
	let freezer: { id: string; deviceKey: string };
	// Fresh addresses each run: the budget lives in Redis for a minute.
	const address = () => `10.${randomBytes(3).join(".")}`;
	const reading = () => ({ readings: [{ at: new Date().toISOString(), celsius: -20 }] });
	const post = (from: string, freezerId: string, key: string, body: unknown = reading()) =>
		app.request("POST", `/api/v1/inventory/freezers/${freezerId}/readings`, {
			headers: { "x-device-key": key, "x-forwarded-for": from },
			body,
		});

	beforeAll(async () => {
		app = await startTestApp({
			services: ["auth", "inventory", "sales"],
			env: { REDIS_URL, TRUST_PROXY: "1", DEVICE_KEY_FAILURES_PER_MIN: "3" },
		});
		w = await buildWorld(app);
		freezer = await app.broker.call(
			"inventory.freezers.create",
			{ name: "Ice wall", shopId: w.shopId },
			{
				meta: { user: { id: w.exec.id, role: "EXECUTIVE" } },
			},
		);
	}, 60_000);
	afterAll(async () => {
		await app?.stop();
	});

	it("random freezer ids from one address are refused after the budget, before validation; the sensor elsewhere still posts", async () => {
		const attacker = address();
		const sensor = address();
		const probes = [];
		for (let i = 0; i < 3; i++) probes.push((await post(attacker, randomUUID(), `frz_${randomBytes(16).toString("hex")}`)).status);
		expect(probes).toEqual([401, 401, 401]);

		const refused = await post(attacker, randomUUID(), "frz_guess");
		expect(refused.status).toBe(429);
		expect(refused.body).toMatchObject({ error: { code: "RATE_LIMITED", details: { retryAfter: expect.any(Number) } } });
		expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
		// A body the validator would refuse (422) is not even read: the address is stopped first.
		expect((await post(attacker, randomUUID(), "frz_guess", { readings: "many" })).status).toBe(429);
		// While it is paused, the address's right keys wait too (the price of a per-address budget).
		expect((await post(attacker, freezer.id, freezer.deviceKey)).status).toBe(429);

		// Another address is untouched, and right keys spend nothing: more posts than the failure budget all land.
		const posted = [];
		for (let i = 0; i < 5; i++) posted.push((await post(sensor, freezer.id, freezer.deviceKey)).status);
		expect(posted).toEqual([200, 200, 200, 200, 200]);
	});

	it("an address this node never saw fail costs no read of the budget; after its first failure it does, and a budget spent through another node still stops it", async () => {
		const limiters = (app.broker.getLocalService("api") as unknown as { limiters: RateLimiters }).limiters;
		const reads = jest.spyOn(limiters.deviceKeyFailures, "get");
		try {
			const sensor = address();
			for (let i = 0; i < 3; i++) expect((await post(sensor, freezer.id, freezer.deviceKey)).status).toBe(200);
			expect(reads).not.toHaveBeenCalled();

			// Another gateway node spent this address's budget (same Redis key): this node learns it at the first failure here.
			const roamer = address();
			for (let i = 0; i < 3; i++) await limiters.deviceKeyFailures.penalty(`ip:${roamer}`);
			expect((await post(roamer, randomUUID(), "frz_guess")).status).toBe(401);
			expect(reads).not.toHaveBeenCalled();
			expect((await post(roamer, freezer.id, freezer.deviceKey)).status).toBe(429);
			expect(reads).toHaveBeenCalledTimes(1);
		} finally {
			reads.mockRestore();
		}
	});

	it("a failure that is not a wrong key (invalid readings: 422) spends nothing", async () => {
		const from = address();
		const statuses = [];
		for (let i = 0; i < 5; i++) statuses.push((await post(from, freezer.id, freezer.deviceKey, { readings: [] })).status);
		expect(statuses).toEqual([422, 422, 422, 422, 422]);
		expect((await post(from, freezer.id, freezer.deviceKey)).status).toBe(200);
	});
});
