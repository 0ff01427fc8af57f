/**
 * Cold chain through the gateway (issue #15, acceptance 3): freezers and their device keys,
 * batched readings, an excursion detected on the first reading past the grace period,
 * quarantine of the freezer's lots (and of the shop's unassigned lots) by the sales consumer,
 * notifications, release and write-off, and a factory freezer quarantining its batches.
 * Lots are inserted with SQL: the delivery flow that creates them is another branch's work.
 */
import { randomUUID } from "node:crypto";
import { Client } from "pg";
import { startTestApp, type TestApp } from "../helpers/app";
import { buildWorld, ok, type SalesWorld } from "../helpers/sales-world";

const V1 = "/api/v1/inventory";
const MIN = 60_000;

describe("cold chain", () => {
	let app: TestApp;
	let w: SalesWorld;
	let pg: Client;
	let shopFreezer: { id: string; deviceKey: string };
	let otherFreezer: { id: string; deviceKey: string };
	let factoryFreezer: { id: string; deviceKey: string };
	const lots: Record<string, string> = {};

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "inventory", "sales", "communications"] });
		w = await buildWorld(app);
		pg = new Client({ connectionString: app.db.url });
		await pg.connect();
		// The shop's clerk is also its manager (release and write-off are the manager's).
		await ok(app.request("PUT", `/api/v1/sales/shops/${w.shopId}`, { token: w.exec.token, body: { managerId: w.clerk.id } }));
	}, 60_000);
	afterAll(async () => {
		await pg?.end();
		await app?.stop();
	});

	const post = (freezerId: string, key: string | undefined, readings: { at: string; celsius: number }[]) =>
		app.request("POST", `${V1}/freezers/${freezerId}/readings`, { headers: key ? { "x-device-key": key } : {}, body: { readings } });
	const minutes = (start: number, count: number, celsius: number) =>
		Array.from({ length: count }, (_, i) => ({ at: new Date(start + i * MIN).toISOString(), celsius }));
	const lotStatus = async (id: string) =>
		(await pg.query<{ status: string }>("SELECT status FROM sales.stock_lots WHERE id = $1", [id])).rows[0].status;
	const poll = async <T>(fn: () => Promise<T | undefined>, what: string, ms = 20_000): Promise<T> => {
		const deadline = Date.now() + ms;
		for (;;) {
			const v = await fn();
			if (v !== undefined) return v;
			if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
			await new Promise((r) => setTimeout(r, 100));
		}
	};
	/** A shop's stock of one flavor as lots (and the matching per-flavor total), in one transaction. */
	const insertLots = async (
		shopId: string,
		flavorId: string,
		rows: { name: string; quantity: number; freezerId: string | null; unitCost?: number }[],
	) => {
		await pg.query("BEGIN");
		for (const r of rows) {
			const res = await pg.query<{ id: string }>(
				`INSERT INTO sales.stock_lots (shop_id, flavor_id, stock_item_id, batch_label, factory_id, expiry_date, unit_cost, quantity, freezer_id)
				 VALUES ($1, $2, $3, $4, $5, current_date + 30, $6, $7, $8) RETURNING id`,
				[shopId, flavorId, randomUUID(), r.name, w.factoryId, r.unitCost ?? 90, r.quantity, r.freezerId],
			);
			lots[r.name] = res.rows[0].id;
		}
		const total = rows.reduce((s, r) => s + r.quantity, 0);
		await pg.query(
			`INSERT INTO sales.shop_inventory (shop_id, flavor_id, quantity, reorder_threshold) VALUES ($1, $2, $3, 0)
			 ON CONFLICT (shop_id, flavor_id) DO UPDATE SET quantity = sales.shop_inventory.quantity + EXCLUDED.quantity`,
			[shopId, flavorId, total],
		);
		await pg.query("COMMIT");
	};

	it("registers freezers for their owners only and shows each its key once", async () => {
		const created = await app.request("POST", `${V1}/freezers`, {
			token: w.exec.token,
			body: { name: "Display case", shopId: w.shopId },
		});
		expect(created.status).toBe(201);
		expect(created.body).toMatchObject({
			name: "Display case",
			shopId: w.shopId,
			factoryId: null,
			inExcursion: false,
			warmSince: null,
		});
		expect(created.body.deviceKey).toMatch(/^frz_[\w-]{43}$/);
		shopFreezer = created.body;
		otherFreezer = await ok(
			app.request("POST", `${V1}/freezers`, { token: w.exec.token, body: { name: "Back room", shopId: w.shopId } }),
			201,
		);
		factoryFreezer = await ok(
			app.request("POST", `${V1}/freezers`, { token: w.maker.token, body: { name: "Blast freezer", factoryId: w.factoryId } }),
			201,
		);
		const unknownFactory = await app.request("POST", `${V1}/freezers`, {
			token: w.exec.token,
			body: { name: "Ghost", factoryId: "00000000-0000-4000-8000-000000000000" },
		});
		expect([unknownFactory.status, unknownFactory.body.error.details]).toEqual([
			422,
			[expect.objectContaining({ field: "factoryId", type: "reference" })],
		]);

		expect(
			(await app.request("POST", `${V1}/freezers`, { token: w.clerk.token, body: { name: "Mine", shopId: w.shopId } })).status,
		).toBe(403);
		expect(
			(await app.request("POST", `${V1}/freezers`, { token: w.maker.token, body: { name: "Not mine", shopId: w.shopId } })).status,
		).toBe(403);
		const both = await app.request("POST", `${V1}/freezers`, {
			token: w.exec.token,
			body: { name: "Both", shopId: w.shopId, factoryId: w.factoryId },
		});
		expect(both.status).toBe(422);
		expect(
			(await app.request("POST", `${V1}/freezers`, { token: w.exec.token, body: { name: "Nowhere", shopId: randomUUID() } })).status,
		).toBe(404);

		// The key is stored hashed: it appears nowhere in the database or in reads.
		const stored = await pg.query("SELECT key_hash FROM inventory.freezers WHERE id = $1", [shopFreezer.id]);
		expect(stored.rows[0].key_hash).not.toContain(shopFreezer.deviceKey);
		const read = await app.request("GET", `${V1}/freezers/${shopFreezer.id}`, { token: w.clerk.token });
		expect(read.status).toBe(200);
		expect(JSON.stringify(read.body)).not.toContain("frz_");

		const clerkList = await ok<{ rows: { id: string }[]; total: number }>(
			app.request("GET", `${V1}/freezers`, { token: w.clerk.token }),
		);
		expect(clerkList.rows.map((f) => f.id).sort()).toEqual([shopFreezer.id, otherFreezer.id].sort());
		const makerList = await ok<{ rows: { id: string }[] }>(app.request("GET", `${V1}/freezers`, { token: w.maker.token }));
		expect(makerList.rows.map((f) => f.id)).toEqual([factoryFreezer.id]);
		expect((await app.request("GET", `${V1}/freezers/${shopFreezer.id}`, { token: w.otherClerk.token })).status).toBe(404);
		expect((await app.request("GET", `${V1}/freezers?shopId=${w.shopId}`, { token: w.otherClerk.token })).status).toBe(403);
		expect((await app.request("GET", `${V1}/freezers`, { token: w.patron.token })).status).toBe(403);
	});

	it("takes readings only with the freezer's own device key (401 otherwise, a user token included)", async () => {
		const one = [{ at: new Date(Date.now() - 13 * 60 * MIN).toISOString(), celsius: -21 }];
		const cases: [string, string | undefined, string | undefined][] = [
			["no key", undefined, undefined],
			["wrong key", `frz_${"A".repeat(43)}`, undefined],
			["another freezer's key", otherFreezer.deviceKey, undefined],
			["a user's token instead", undefined, w.exec.token],
		];
		for (const [what, key, token] of cases) {
			const res = await app.request("POST", `${V1}/freezers/${shopFreezer.id}/readings`, {
				token,
				headers: key ? { "x-device-key": key } : {},
				body: { readings: one },
			});
			expect([what, res.status]).toEqual([what, 401]);
		}
		expect((await post(randomUUID(), shopFreezer.deviceKey, one)).status).toBe(401);
		expect(Number((await pg.query("SELECT count(*) FROM inventory.freezer_readings")).rows[0].count)).toBe(0);
	});

	it("stores a batch of readings in one request, bounded in size, and ignores a retried batch", async () => {
		const start = Date.now() - 12 * 60 * MIN;
		const batch = minutes(start, 600, -22);
		const first = await post(shopFreezer.id, shopFreezer.deviceKey, batch);
		expect(first.status).toBe(200);
		expect(first.body).toMatchObject({ received: 600, stored: 600, excursions: [] });
		const again = await post(shopFreezer.id, shopFreezer.deviceKey, batch);
		expect(again.body).toMatchObject({ received: 600, stored: 0 });
		expect((await post(shopFreezer.id, shopFreezer.deviceKey, minutes(start, 2001, -22))).status).toBe(422);
		const future = await post(shopFreezer.id, shopFreezer.deviceKey, [
			{ at: new Date(Date.now() + 60 * MIN).toISOString(), celsius: -20 },
		]);
		expect([future.status, future.body.error.details[0].field]).toEqual([422, "readings[0].at"]);
		expect((await post(shopFreezer.id, shopFreezer.deviceKey, [{ at: "yesterday", celsius: -20 }])).status).toBe(422);
		const listed = await ok<{ readings: { at: string; celsius: number }[] }>(
			app.request("GET", `${V1}/freezers/${shopFreezer.id}/readings?limit=5`, { token: w.clerk.token }),
		);
		expect(listed.readings).toHaveLength(5);
		expect(listed.readings[0]).toEqual({ at: batch[599].at, celsius: -22 });
	});

	it("quarantines the freezer's lots and the shop's unassigned ones within one reading of the grace period, once, and notifies the staff", async () => {
		const [vanilla, hazelnut] = w.flavors;
		await insertLots(w.shopId, vanilla.id, [
			{ name: "IN-FREEZER", quantity: 10, freezerId: shopFreezer.id },
			{ name: "UNASSIGNED", quantity: 12, freezerId: null },
			{ name: "OTHER-FREEZER", quantity: 8, freezerId: otherFreezer.id },
		]);
		await insertLots(w.otherShopId, vanilla.id, [{ name: "OTHER-SHOP", quantity: 5, freezerId: null }]);
		await insertLots(w.shopId, hazelnut.id, [{ name: "HAZEL-IN-FREEZER", quantity: 4, freezerId: shopFreezer.id }]);

		// Warm from T: 31 readings cover exactly 30 minutes (T .. T+30): not longer than the grace period yet.
		const warmFrom = Date.now() - 100 * MIN;
		const upToGrace = await post(shopFreezer.id, shopFreezer.deviceKey, minutes(warmFrom, 31, -12));
		expect(upToGrace.body.excursions).toEqual([]);
		const warm = await ok<{ warmSince: string; inExcursion: boolean }>(
			app.request("GET", `${V1}/freezers/${shopFreezer.id}`, { token: w.clerk.token }),
		);
		expect(warm).toMatchObject({ warmSince: new Date(warmFrom).toISOString(), inExcursion: false });

		// The next reading (T+31) is past it: the excursion is detected by that very reading.
		const past = await post(shopFreezer.id, shopFreezer.deviceKey, minutes(warmFrom + 31 * MIN, 1, -9.5));
		expect(past.body.excursions).toEqual([
			{ startedAt: new Date(warmFrom).toISOString(), detectedAt: new Date(warmFrom + 31 * MIN).toISOString() },
		]);
		expect(
			(await ok<{ inExcursion: boolean }>(app.request("GET", `${V1}/freezers/${shopFreezer.id}`, { token: w.exec.token })))
				.inExcursion,
		).toBe(true);

		// Still warm: the same excursion, not a new one.
		expect((await post(shopFreezer.id, shopFreezer.deviceKey, minutes(warmFrom + 32 * MIN, 10, -8))).body.excursions).toEqual([]);
		const events = await pg.query<{ envelope: { data: Record<string, unknown> } }>(
			"SELECT envelope FROM inventory.outbox WHERE type = 'COLD_CHAIN_EXCURSION'",
		);
		expect(events.rows.map((r) => r.envelope.data)).toEqual([
			{
				freezerId: shopFreezer.id,
				shopId: w.shopId,
				factoryId: null,
				startedAt: new Date(warmFrom).toISOString(),
				detectedAt: new Date(warmFrom + 31 * MIN).toISOString(),
				maxCelsius: -9.5,
			},
		]);

		await poll(
			async () => ((await lotStatus(lots["UNASSIGNED"])) === "QUARANTINED" ? true : undefined),
			"the sales consumer's quarantine",
		);
		const listed = await ok<{ lots: { id: string; status: string; freezerId: string | null }[] }>(
			app.request("GET", `/api/v1/sales/shops/${w.shopId}/lots`, { token: w.clerk.token }),
		);
		const status = Object.fromEntries(listed.lots.map((l) => [l.id, l.status]));
		expect(status[lots["IN-FREEZER"]]).toBe("QUARANTINED");
		expect(status[lots["UNASSIGNED"]]).toBe("QUARANTINED");
		expect(status[lots["HAZEL-IN-FREEZER"]]).toBe("QUARANTINED");
		expect(status[lots["OTHER-FREEZER"]]).toBe("SELLABLE");
		expect(await lotStatus(lots["OTHER-SHOP"])).toBe("SELLABLE");
		const quarantined = await ok<{ lots: { id: string }[] }>(
			app.request("GET", `/api/v1/sales/shops/${w.shopId}/lots?status=QUARANTINED`, { token: w.exec.token }),
		);
		expect(quarantined.lots).toHaveLength(3);
		expect((await app.request("GET", `/api/v1/sales/shops/${w.shopId}/lots`, { token: w.otherClerk.token })).status).toBe(403);

		const note = await poll(async () => {
			const res = await app.request("GET", "/api/v1/communications/notifications", { token: w.clerk.token });
			return (res.body.rows as { type: string; data: { freezerId: string } }[]).find((n) => n.type === "COLD_CHAIN_EXCURSION");
		}, "the clerk's notification");
		expect(note.data.freezerId).toBe(shopFreezer.id);
		const other = await app.request("GET", "/api/v1/communications/notifications", { token: w.otherClerk.token });
		expect((other.body.rows as { type: string }[]).filter((n) => n.type === "COLD_CHAIN_EXCURSION")).toEqual([]);

		// Cold again: the excursion ends; a new warm run would be a new excursion.
		await post(shopFreezer.id, shopFreezer.deviceKey, minutes(warmFrom + 42 * MIN, 1, -20));
		const excursion = await pg.query("SELECT ended_at, max_celsius FROM inventory.freezer_excursions WHERE freezer_id = $1", [
			shopFreezer.id,
		]);
		expect(excursion.rows).toEqual([{ ended_at: new Date(warmFrom + 42 * MIN), max_celsius: -8 }]);
		expect(
			(
				await ok<{ inExcursion: boolean; warmSince: string | null }>(
					app.request("GET", `${V1}/freezers/${shopFreezer.id}`, { token: w.exec.token }),
				)
			).inExcursion,
		).toBe(false);
	});

	it("the POS does not sell quarantined lots (once pos_sale draws from lots)", async () => {
		const fefo = await pg.query(
			"SELECT prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'sales' AND p.proname = 'pos_sale'",
		);
		if (!fefo.rows.some((r: { prosrc: string }) => r.prosrc.includes("stock_lots"))) {
			console.warn("pos_sale does not read sales.stock_lots on this branch yet: the POS check runs after the FEFO POS is merged");
			return;
		}
		// Hazelnut: its only lot is quarantined, so nothing is sellable although the total says 4.
		const sale = await app.request("POST", `/api/v1/sales/shops/${w.shopId}/pos-transactions`, {
			token: w.clerk.token,
			body: { items: [{ flavorId: w.flavors[1].id, quantity: 1 }], paymentMethod: "CARD" },
		});
		expect([sale.status, sale.body.error.code]).toEqual([409, "INSUFFICIENT_STOCK"]);
	});

	it("lets the shop's manager release quarantined lots and write others off, keeping the totals", async () => {
		const release = (token: string, lotIds: string[]) =>
			app.request("POST", `/api/v1/sales/shops/${w.shopId}/lots/release`, { token, body: { lotIds } });
		expect((await release(w.otherClerk.token, [lots["IN-FREEZER"]])).status).toBe(403);
		expect((await release(w.patron.token, [lots["IN-FREEZER"]])).status).toBe(403);
		const notHeld = await release(w.clerk.token, [lots["OTHER-FREEZER"]]);
		expect([notHeld.status, notHeld.body.error.code]).toEqual([409, "LOT_NOT_QUARANTINED"]);
		expect((await release(w.clerk.token, [lots["OTHER-SHOP"]])).status).toBe(404);
		const released = await release(w.clerk.token, [lots["IN-FREEZER"]]);
		expect(released.status).toBe(200);
		expect(released.body.lots).toEqual([expect.objectContaining({ id: lots["IN-FREEZER"], status: "SELLABLE", quantity: 10 })]);

		const writeOff = await app.request("POST", `/api/v1/sales/shops/${w.shopId}/lots/write-off`, {
			token: w.exec.token,
			body: { lotIds: [lots["UNASSIGNED"]], reason: "QUARANTINE" },
		});
		expect(writeOff.status).toBe(200);
		expect(writeOff.body.lots).toEqual([expect.objectContaining({ lotId: lots["UNASSIGNED"], quantity: 12, costCents: 12 * 90 })]);
		const stock = await pg.query("SELECT quantity FROM sales.shop_inventory WHERE shop_id = $1 AND flavor_id = $2", [
			w.shopId,
			w.flavors[0].id,
		]);
		const lotSum = await pg.query("SELECT sum(quantity)::int AS n FROM sales.stock_lots WHERE shop_id = $1 AND flavor_id = $2", [
			w.shopId,
			w.flavors[0].id,
		]);
		expect([stock.rows[0].quantity, lotSum.rows[0].n]).toEqual([18, 18]);
		const written = await pg.query<{ envelope: { source: string; data: Record<string, unknown> } }>(
			"SELECT envelope FROM sales.outbox WHERE type = 'STOCK_WRITTEN_OFF'",
		);
		expect(written.rows.map((r) => r.envelope.data)).toEqual([
			expect.objectContaining({
				shopId: w.shopId,
				factoryId: null,
				flavorId: w.flavors[0].id,
				quantity: 12,
				reason: "QUARANTINE",
				costCents: 1080,
			}),
		]);
		const badReason = await app.request("POST", `/api/v1/sales/shops/${w.shopId}/lots/write-off`, {
			token: w.exec.token,
			body: { lotIds: [lots["OTHER-FREEZER"]], reason: "RECALL" },
		});
		expect(badReason.status).toBe(422);
	});

	it("moves a lot between the shop's freezers only", async () => {
		const place = (freezerId: string | null) =>
			app.request("PUT", `/api/v1/sales/shops/${w.shopId}/lots/${lots["OTHER-FREEZER"]}/freezer`, {
				token: w.clerk.token,
				body: { freezerId },
			});
		expect((await place(factoryFreezer.id)).status).toBe(422);
		const moved = await place(shopFreezer.id);
		expect([moved.status, moved.body.freezerId]).toEqual([200, shopFreezer.id]);
	});

	it("rotates a device key: the old one stops working at once", async () => {
		expect((await app.request("POST", `${V1}/freezers/${otherFreezer.id}/key`, { token: w.clerk.token })).status).toBe(403);
		const rotated = await app.request("POST", `${V1}/freezers/${otherFreezer.id}/key`, { token: w.exec.token });
		expect(rotated.status).toBe(200);
		expect(rotated.body.deviceKey).not.toBe(otherFreezer.deviceKey);
		const reading = [{ at: new Date(Date.now() - MIN).toISOString(), celsius: -21 }];
		expect((await post(otherFreezer.id, otherFreezer.deviceKey, reading)).status).toBe(401);
		expect((await post(otherFreezer.id, rotated.body.deviceKey, reading)).status).toBe(200);
	});

	it("absorbs a reading a minute from each of a thousand freezers (one request each, in parallel)", async () => {
		const { hashDeviceKey } = await import("../../services/inventory/cold-chain");
		const key = `frz_${"k".repeat(43)}`;
		const ids = (
			await pg.query<{ id: string }>(
				`INSERT INTO inventory.freezers (name, shop_id, key_hash) SELECT 'Fleet ' || n, $1, $2 FROM generate_series(1, 1000) n RETURNING id`,
				[w.otherShopId, hashDeviceKey(key)],
			)
		).rows.map((r) => r.id);
		const at = new Date(Date.now() - 2 * MIN).toISOString();
		const started = Date.now();
		const statuses: number[] = [];
		const queue = [...ids];
		await Promise.all(
			Array.from({ length: 32 }, async () => {
				for (let id = queue.pop(); id; id = queue.pop()) statuses.push((await post(id, key, [{ at, celsius: -21 }])).status);
			}),
		);
		const seconds = (Date.now() - started) / 1000;
		console.log(
			`1000 freezers, one reading each: ${seconds.toFixed(1)} s, ${(1000 / seconds).toFixed(0)} requests/s (a minute holds ${Math.round((60 * 1000) / seconds)} freezers at this rate)`,
		);
		expect(statuses.filter((s) => s !== 200)).toEqual([]);
		expect(
			Number(
				(await pg.query("SELECT count(*) FROM inventory.freezer_readings WHERE freezer_id = ANY($1::uuid[])", [ids])).rows[0].count,
			),
		).toBe(1000);
	});

	it("a factory freezer's excursion quarantines the factory's batches stored there and tells its manager", async () => {
		const batch = await ok<{ id: string }>(
			app.request("POST", `${V1}/factories/${w.factoryId}/stock-items`, {
				token: w.maker.token,
				body: {
					flavorId: w.flavors[2].id,
					batchId: "COLD-1",
					quantity: 50,
					cost: 40,
					productionDate: new Date(Date.now() - 86_400_000).toISOString().slice(0, 10),
					expiryDate: "2099-01-01",
				},
			}),
			201,
		);
		expect(
			(
				await app.request("PUT", `${V1}/stock-items/${batch.id}/freezer`, {
					token: w.maker.token,
					body: { freezerId: shopFreezer.id },
				})
			).status,
		).toBe(422);
		await ok(
			app.request("PUT", `${V1}/stock-items/${batch.id}/freezer`, { token: w.maker.token, body: { freezerId: factoryFreezer.id } }),
		);
		const res = await post(factoryFreezer.id, factoryFreezer.deviceKey, minutes(Date.now() - 60 * MIN, 40, -5));
		expect(res.body.excursions).toHaveLength(1);
		const quarantined = await pg.query("SELECT quarantined_at FROM inventory.stock_items WHERE id = $1", [batch.id]);
		expect(quarantined.rows[0].quarantined_at).not.toBeNull();
		await poll(async () => {
			const n = await app.request("GET", "/api/v1/communications/notifications", { token: w.maker.token });
			return (n.body.rows as { type: string }[]).find((r) => r.type === "COLD_CHAIN_EXCURSION");
		}, "the factory manager's notification");
		expect((await app.request("POST", `${V1}/stock-items/${batch.id}/release`, { token: w.clerk.token })).status).toBe(403);
		await ok(app.request("POST", `${V1}/stock-items/${batch.id}/release`, { token: w.maker.token }));
		expect(
			(await pg.query("SELECT quarantined_at FROM inventory.stock_items WHERE id = $1", [batch.id])).rows[0].quarantined_at,
		).toBeNull();
	});

	it("deletes readings past the retention period in batches, keeps the rest and the excursions", async () => {
		const freezer = shopFreezer.id;
		const excursions = async () => Number((await pg.query("SELECT count(*) FROM inventory.freezer_excursions")).rows[0].count);
		const before = await excursions();
		// 25,000 old readings (three delete batches) a year ago, and a day of recent ones.
		const yearAgo = Date.now() - 365 * 24 * 60 * MIN;
		await pg.query(
			`INSERT INTO inventory.freezer_readings (freezer_id, at, celsius)
			 SELECT $1, to_timestamp($2::double precision / 1000) + make_interval(secs => i), -20 FROM generate_series(1, 25000) AS i`,
			[freezer, yearAgo],
		);
		const count = async (sql: string) => Number((await pg.query(sql, [freezer])).rows[0].count);
		const recent = await count(
			"SELECT count(*) FROM inventory.freezer_readings WHERE freezer_id = $1 AND at > now() - interval '30 days'",
		);
		expect(recent).toBeGreaterThan(0);

		const cutoff = new Date(Date.now() - 30 * 24 * 60 * MIN).toISOString();
		const result = await app.broker.call<{ deleted: number }, { before: string }>("inventory.readingsRetention.purge", {
			before: cutoff,
		});
		expect(result.deleted).toBeGreaterThanOrEqual(25_000);
		expect(
			await count("SELECT count(*) FROM inventory.freezer_readings WHERE freezer_id = $1 AND at <= now() - interval '30 days'"),
		).toBe(0);
		expect(
			await count("SELECT count(*) FROM inventory.freezer_readings WHERE freezer_id = $1 AND at > now() - interval '30 days'"),
		).toBe(recent);
		expect(await excursions()).toBe(before);
		// Nothing left to delete: a second run is a no-op.
		expect(await app.broker.call("inventory.readingsRetention.purge", { before: cutoff })).toMatchObject({ deleted: 0 });
	});
});
