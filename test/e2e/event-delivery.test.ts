/**
 * Durable internal delivery (lib/event-stream.ts, issue 11), one process, real gateway:
 * - deadlocks: concurrent sales of the same two flavors in opposite basket orders
 *   cause no deadlock anywhere in the database, and every sale is counted;
 * - dead letters: a poison event is parked after STREAM_MAX_ATTEMPTS tries (the
 *   events behind it flow on), listed through the admin route, and replayed once
 *   after the fix;
 * - burst: POS sales as fast as the gateway takes them while inventory's and
 *   analytics' consumers are slowed on purpose (STREAM_DELAY_MS): after the
 *   backlog drains, sales = analytics = inventory consumption, and the shop's
 *   stock went down by exactly the units sold.
 */
import { randomUUID } from "node:crypto";
import { Client } from "pg";
import { startTestApp, type TestApp } from "../helpers/app";
import { buildWorld, ok, setStock, type SalesWorld } from "../helpers/sales-world";
import { closeDelivery, deliverDurably } from "../helpers/events";
import { envelope } from "../../lib/events";
import { startHealthServer, type HealthServer } from "../../lib/health";
import { freePort } from "../helpers/cluster";
import { httpRequest } from "../helpers/http";
import { eventually } from "../helpers/eventually";

jest.setTimeout(330_000);

/** Delivery across restarts is slow: a longer default wait. */
const until = <T>(fn: () => Promise<T | null | undefined | false>, what: string, timeoutMs = 120_000) =>
	eventually(fn, what, timeoutMs, 200);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Figures {
	sales: number;
	units: Record<string, number>;
	analyticsSales: number;
	analyticsUnits: Record<string, number>;
	consumedUnits: Record<string, number>;
	consumedSales: Record<string, number>;
	stock: Record<string, number>;
}

/** What each side recorded for one shop, read straight from the database. */
async function figures(pg: Client, shopId: string): Promise<Figures> {
	const byFlavor = async (sql: string) =>
		Object.fromEntries((await pg.query<{ f: string; n: string }>(sql, [shopId])).rows.map((r) => [r.f, Number(r.n)]));
	const one = async (sql: string) => Number((await pg.query<{ n: string | null }>(sql, [shopId])).rows[0]?.n ?? 0);
	return {
		sales: await one("SELECT count(*) AS n FROM sales.transactions WHERE shop_id = $1"),
		units: await byFlavor(
			"SELECT i.flavor_id AS f, sum(i.quantity) AS n FROM sales.transaction_items i JOIN sales.transactions t ON t.id = i.transaction_id WHERE t.shop_id = $1 GROUP BY 1",
		),
		analyticsSales: await one("SELECT sum(transaction_count) AS n FROM analytics.daily_sales WHERE shop_id = $1"),
		analyticsUnits: await byFlavor(
			"SELECT flavor_id AS f, sum(sales_volume) AS n FROM analytics.product_performance WHERE shop_id = $1 GROUP BY 1",
		),
		consumedUnits: await byFlavor(
			"SELECT flavor_id AS f, sum(quantity) AS n FROM inventory.consumption_daily WHERE shop_id = $1 GROUP BY 1",
		),
		consumedSales: await byFlavor(
			"SELECT flavor_id AS f, sum(sales) AS n FROM inventory.consumption_daily WHERE shop_id = $1 GROUP BY 1",
		),
		stock: await byFlavor("SELECT flavor_id AS f, quantity AS n FROM sales.shop_inventory WHERE shop_id = $1"),
	};
}

/** Sales per flavor (how many sales contain it), from sales' own lines. */
async function salesPerFlavor(pg: Client, shopId: string): Promise<Record<string, number>> {
	const rows = await pg.query<{ f: string; n: string }>(
		"SELECT i.flavor_id AS f, count(DISTINCT t.id) AS n FROM sales.transaction_items i JOIN sales.transactions t ON t.id = i.transaction_id WHERE t.shop_id = $1 GROUP BY 1",
		[shopId],
	);
	return Object.fromEntries(rows.rows.map((r) => [r.f, Number(r.n)]));
}

function drained(f: Figures, perFlavor: Record<string, number>): boolean {
	const same = (a: Record<string, number>, b: Record<string, number>) =>
		JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
	return (
		f.analyticsSales === f.sales &&
		same(f.analyticsUnits, f.units) &&
		same(f.consumedUnits, f.units) &&
		same(f.consumedSales, perFlavor)
	);
}

async function deadlocks(pg: Client): Promise<number> {
	return Number(
		(await pg.query<{ n: string }>("SELECT deadlocks AS n FROM pg_stat_database WHERE datname = current_database()")).rows[0].n,
	);
}

describe("durable internal delivery", () => {
	let app: TestApp;
	let w: SalesWorld;
	let pg: Client;
	const pos = (items: { flavorId: string; quantity: number }[]) =>
		app.request("POST", `/api/v1/sales/shops/${w.shopId}/pos-transactions`, {
			token: w.clerk.token,
			body: { items, paymentMethod: "CASH" },
		});

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "inventory", "sales", "analytics", "admin"], env: { STREAM_MAX_ATTEMPTS: "3" } });
		w = await buildWorld(app);
		pg = new Client({ connectionString: app.db.url });
		await pg.connect();
	});
	afterAll(async () => {
		await closeDelivery();
		await pg?.end();
		await app?.stop();
	});

	it("40 concurrent sales of the same two flavors in opposite basket orders: no deadlock, all counted", async () => {
		const [a, b] = w.flavors;
		await setStock(app, w.exec, w.shopId, [
			{ flavorId: a.id, quantity: 1000 },
			{ flavorId: b.id, quantity: 1000 },
		]);
		const before = await deadlocks(pg);
		const results = await Promise.all(
			Array.from({ length: 40 }, (_, i) =>
				pos(
					i % 2
						? [
								{ flavorId: a.id, quantity: 1 },
								{ flavorId: b.id, quantity: 2 },
							]
						: [
								{ flavorId: b.id, quantity: 2 },
								{ flavorId: a.id, quantity: 1 },
							],
				),
			),
		);
		expect(results.map((r) => r.status)).toEqual(Array(40).fill(201));
		const f = await until(async () => {
			const now = await figures(pg, w.shopId);
			return drained(now, await salesPerFlavor(pg, w.shopId)) && now;
		}, "every sale in analytics and inventory");
		expect([
			f.sales,
			f.analyticsSales,
			f.consumedSales[a.id],
			f.consumedSales[b.id],
			f.consumedUnits[a.id],
			f.consumedUnits[b.id],
		]).toEqual([40, 40, 40, 40, 40, 80]);
		// Backends flush their statistics when idle for a while (PostgreSQL 15: within 10 s).
		await sleep(11_000);
		expect((await deadlocks(pg)) - before).toBe(0);
	});

	it("a poison event is dead-lettered after STREAM_MAX_ATTEMPTS tries, listed, and replayed once after the fix", async () => {
		// The "bug": analytics cannot store this one sale (a trigger stands in for a faulty handler).
		await pg.query(
			`CREATE FUNCTION analytics.test_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.total_amount = 4242 THEN RAISE EXCEPTION 'poisoned sale'; END IF; RETURN NEW; END $$`,
		);
		await pg.query(
			`CREATE TRIGGER test_poison BEFORE INSERT ON analytics.sale_facts FOR EACH ROW EXECUTE FUNCTION analytics.test_poison()`,
		);
		const sale = (totalAmount: number) =>
			envelope("SALE_COMPLETED", {
				transactionId: randomUUID(),
				shopId: w.otherShopId,
				clerkId: w.otherClerk.id,
				patronId: null,
				items: [{ flavorId: w.flavors[2].id, quantity: 1, unitPrice: totalAmount, lineTotal: totalAmount }],
				totalAmount,
				paymentMethod: "CARD",
				createdAt: new Date().toISOString(),
			});
		const poison = sale(4242);
		const next = sale(100);
		await deliverDurably(app.db.url, poison);
		await deliverDurably(app.db.url, next);

		// The sale behind the poison flows on; inventory's group, which has no bug, took both.
		await until(
			async () =>
				(await pg.query("SELECT 1 FROM analytics.sale_facts WHERE transaction_id = $1", [next.data.transactionId])).rowCount,
			"the sale behind the poison",
		);
		// Inventory's group reads on its own, at its own pace.
		await until(
			async () =>
				(await pg.query("SELECT sum(sales)::int AS n FROM inventory.consumption_daily WHERE shop_id = $1", [w.otherShopId])).rows[0]
					.n === 2,
			"inventory to take both",
		);

		const admin = await app.createUser("ADMIN");
		const listed = await ok<{ rows: Record<string, unknown>[]; total: number }>(
			app.request("GET", "/api/v1/admin/system/dead-letters?replayed=false", { token: admin.token }),
		);
		expect(listed.total).toBe(1);
		expect(listed.rows[0]).toMatchObject({
			schema: "analytics",
			group: "analytics.ingest",
			sourceSchema: "kafka_bridge",
			eventId: poison.id,
			type: "SALE_COMPLETED",
			attempts: 3,
			replayedAt: null,
		});
		expect(String(listed.rows[0].lastError)).toContain("poisoned sale");
		expect((await app.request("GET", "/api/v1/admin/system/dead-letters", { token: w.exec.token })).status).toBe(403);
		expect((await pg.query("SELECT 1 FROM analytics.sale_facts WHERE transaction_id = $1", [poison.data.transactionId])).rowCount).toBe(
			0,
		);

		// The fix, then the replay.
		await pg.query("DROP TRIGGER test_poison ON analytics.sale_facts");
		const replay = await app.request("POST", `/api/v1/admin/system/dead-letters/analytics/${String(listed.rows[0].id)}/replay`, {
			token: admin.token,
		});
		expect(replay.status).toBe(202);
		await until(
			async () =>
				(await pg.query("SELECT 1 FROM analytics.sale_facts WHERE transaction_id = $1", [poison.data.transactionId])).rowCount,
			"the replayed sale",
		);
		const after = await until(async () => {
			const page = await ok<{ rows: { replayedAt: string | null }[] }>(
				app.request("GET", "/api/v1/admin/system/dead-letters?replayed=true", { token: admin.token }),
			);
			return page.rows.length === 1 && page.rows[0].replayedAt ? page : null;
		}, "the dead letter marked replayed");
		expect(after.rows).toHaveLength(1);
		const counted = await pg.query(
			"SELECT sum(transaction_count)::int AS n, sum(total_sales)::int AS total FROM analytics.daily_sales WHERE shop_id = $1",
			[w.otherShopId],
		);
		expect(counted.rows[0]).toEqual({ n: 2, total: 4342 });
		// Replaying it again changes nothing (the envelope id is recorded).
		expect(
			(
				await app.request("POST", `/api/v1/admin/system/dead-letters/analytics/${String(listed.rows[0].id)}/replay`, {
					token: admin.token,
				})
			).status,
		).toBe(202);
		await sleep(1500);
		expect(
			(await pg.query("SELECT sum(transaction_count)::int AS n FROM analytics.daily_sales WHERE shop_id = $1", [w.otherShopId]))
				.rows[0].n,
		).toBe(2);
		expect(
			(await app.request("POST", "/api/v1/admin/system/dead-letters/analytics/999999/replay", { token: admin.token })).status,
		).toBe(404);
	});
});

describe("a burst against slowed consumers", () => {
	const seconds = Number(process.env.BURST_SECONDS ?? 30);
	let app: TestApp;
	let w: SalesWorld;
	let pg: Client;

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "inventory", "sales", "analytics"], env: { STREAM_DELAY_MS: "2" } });
		w = await buildWorld(app);
		pg = new Client({ connectionString: app.db.url });
		await pg.connect();
	});
	afterAll(async () => {
		await pg?.end();
		await app?.stop();
	});

	it(`${seconds} s of POS sales as fast as the gateway takes them: after the drain sales = analytics = consumption, stock down by the units sold`, async () => {
		const stock = 1_000_000;
		await setStock(
			app,
			w.exec,
			w.shopId,
			w.flavors.map((f) => ({ flavorId: f.id, quantity: stock })),
		);
		const end = Date.now() + seconds * 1000;
		const statuses = new Map<number, number>();
		const client = async (n: number) => {
			for (let i = 0; Date.now() < end; i++) {
				// Baskets of 1-3 flavors in rotating order, 1-3 scoops each.
				const items = w.flavors.slice(0, 1 + ((n + i) % 3)).map((f, k) => ({ flavorId: f.id, quantity: 1 + ((n + i + k) % 3) }));
				if ((n + i) % 2) items.reverse();
				const res = await app.request("POST", `/api/v1/sales/shops/${w.shopId}/pos-transactions`, {
					token: w.clerk.token,
					body: { items, paymentMethod: "CASH" },
				});
				statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
			}
		};
		await Promise.all(Array.from({ length: 16 }, (_, n) => client(n)));
		const accepted = statuses.get(201) ?? 0;
		expect(accepted).toBeGreaterThan(0);
		const backlog = await figures(pg, w.shopId);
		const f = await until(
			async () => {
				const now = await figures(pg, w.shopId);
				return drained(now, await salesPerFlavor(pg, w.shopId)) && now;
			},
			"the backlog to drain",
			240_000,
		);
		// Every 201 is a sale; the database is the truth (a timed-out request may still have sold).
		expect(f.sales).toBeGreaterThanOrEqual(accepted);
		expect(f.analyticsSales).toBe(f.sales);
		expect(f.consumedUnits).toEqual(f.units);
		for (const flavor of w.flavors) expect(stock - f.stock[flavor.id]).toBe(f.units[flavor.id] ?? 0);
		console.log(
			`burst: ${f.sales} sales in ${seconds} s (HTTP ${JSON.stringify(Object.fromEntries(statuses))}); when the burst ended analytics had ${backlog.analyticsSales}, inventory ${Math.max(0, ...Object.values(backlog.consumedSales))} (sales of one flavor)`,
		);
	});
});

describe("standby, backlog bound and retention", () => {
	let app: TestApp;
	let w: SalesWorld;
	let pg: Client;
	// /ready and /metrics are operator data: served on the node's operator port, not the public one.
	let ops: HealthServer;
	const opsGet = <T>(path: string) => httpRequest<T>(`http://127.0.0.1:${ops.port}`, "GET", path);
	const lockAnalytics = "SELECT pg_advisory_lock(x'45495354'::int, hashtext('analytics.ingest'))";

	beforeAll(async () => {
		app = await startTestApp({
			services: ["auth", "inventory", "sales", "analytics", "kafka-bridge"],
			env: { STREAM_MAX_BACKLOG: "3", KAFKA_BROKERS: "", OUTBOX_RETENTION_DAYS: "1" },
		});
		w = await buildWorld(app);
		pg = new Client({ connectionString: app.db.url });
		await pg.connect();
		await setStock(app, w.exec, w.shopId, [{ flavorId: w.flavors[0].id, quantity: 100 }]);
		ops = await startHealthServer(app.broker, await freePort(), "127.0.0.1");
	});
	afterAll(async () => {
		await ops?.close();
		await pg?.end();
		await app?.stop();
	});

	it("a group whose reader is gone builds a backlog (/ready 503, lag in /metrics, its rows survive the purge); a standby takes over and drains it", async () => {
		// Take analytics' group away from the app: end its stream connection and hold the group's lock ourselves.
		await pg.query(
			"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'eislager-streams' AND datname = current_database()",
		);
		await pg.query(lockAnalytics);
		const sell = () =>
			ok(
				app.request("POST", `/api/v1/sales/shops/${w.shopId}/pos-transactions`, {
					token: w.clerk.token,
					body: { items: [{ flavorId: w.flavors[0].id, quantity: 1 }], paymentMethod: "CASH" },
				}),
				201,
			);
		for (let i = 0; i < 5; i++) await sell();
		// Inventory's group still reads (the app took its lock again on a new connection).
		await until(
			async () =>
				(await pg.query("SELECT sum(sales)::int AS n FROM inventory.consumption_daily WHERE shop_id = $1", [w.shopId])).rows[0]
					.n === 5,
			"inventory's consumption",
		);
		const ready = await opsGet<{ checks: Record<string, { ok: boolean; error?: string }> }>("/ready");
		expect(ready.status).toBe(503);
		// At least the 5 sales (sign-ins of the set-up may still be waiting too).
		const behind = /^(\d+) events behind \(bound 3\)$/.exec(ready.body.checks["stream:analytics.ingest"]?.error ?? "");
		expect(ready.body.checks["stream:analytics.ingest"]?.ok).toBe(false);
		expect(Number(behind?.[1])).toBeGreaterThanOrEqual(5);
		expect(ready.body.checks["stream:inventory.consumption"]).toEqual({ ok: true });
		const metrics = await opsGet<string>("/metrics");
		expect(String(metrics.body)).toMatch(new RegExp(`eislager_stream_lag\\{[^}]*group="analytics\\.ingest"[^}]*\\} ${behind?.[1]}\\b`));
		// Retention: these rows are old and sent, but analytics has not read them.
		await pg.query(
			"UPDATE sales.outbox SET sent_at = now() - interval '2 days', created_at = now() - interval '2 days' WHERE type = 'SALE_COMPLETED'",
		);
		await app.broker.call("kafka-bridge.purge");
		expect((await pg.query("SELECT count(*)::int AS n FROM sales.outbox WHERE type = 'SALE_COMPLETED'")).rows[0].n).toBe(5);

		await pg.query("SELECT pg_advisory_unlock_all()");
		await until(
			async () =>
				(await pg.query("SELECT count(*)::int AS n FROM analytics.sale_facts WHERE shop_id = $1", [w.shopId])).rows[0].n === 5,
			"analytics to take over and drain",
		);
		await until(async () => (await opsGet("/ready")).status === 200, "/ready again");
		// Every group reading the sales outbox must have passed them, also those that want other types and move their
		// cursor past these rows on their next poll (every 2 s; later on a loaded machine): purged once they have.
		await until(async () => {
			await app.broker.call("kafka-bridge.purge");
			return (await pg.query("SELECT count(*)::int AS n FROM sales.outbox WHERE type = 'SALE_COMPLETED'")).rows[0].n === 0;
		}, "the purge once every group passed the sales");
	});
});
