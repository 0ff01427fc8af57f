/**
 * `npm run seed` (scripts/seed/seed.ts) on a fresh database, through the real gateway: every
 * count of the demo chain arrives, the history lands on past days, and the sales reach
 * analytics through the events. A shorter history than the command's 90 days keeps it quick.
 */
import { demoChain, salesHistory } from "../../scripts/seed/generator";
import { seed } from "../../scripts/seed/seed";
import { startTestApp, type TestApp } from "../helpers/app";

const ADMIN = { email: "root@seed.example.com", password: "seed-admin-password-1" };
let app: TestApp;

beforeAll(async () => {
	app = await startTestApp({ env: { BOOTSTRAP_ADMIN_EMAIL: ADMIN.email, BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password } });
}, 60_000);
afterAll(() => app?.stop());

test("the generator is deterministic and has the chain the README promises", () => {
	const chain = demoChain(1);
	expect(demoChain(1)).toEqual(chain);
	expect([chain.factories.length, chain.shops.length, chain.flavors.length]).toEqual([3, 10, 30]);
	expect(new Set(chain.users.map((u) => u.role))).toEqual(new Set(["ADMIN", "EXECUTIVE", "MANUFACTURER", "CLERK", "PATRON"]));
	expect(chain.flavors.filter((f) => f.allergens.length > 0).length).toBeGreaterThan(15);
	expect(chain.shops.every((s) => Math.abs(s.latitude) <= 90 && Math.abs(s.longitude) <= 180)).toBe(true);
	// Weekends sell more than midweek over a long history (weekday pattern).
	const sales = salesHistory(chain, { days: 91, perShopPerDay: 20, now: new Date("2025-08-01T12:00:00Z"), seed: 3 });
	const byWeekday = new Array(7).fill(0) as number[];
	for (const s of sales) byWeekday[new Date(s.occurredAt).getUTCDay()]++;
	expect(byWeekday[6]).toBeGreaterThan(byWeekday[2]);
	expect(sales.every((s) => s.occurredAt < "2025-08-01")).toBe(true);
});

test("seeds a fresh database through the API; the counts arrive and analytics fills", async () => {
	const days = 7;
	const result = await seed(app.baseUrl, ADMIN, { days, perShopPerDay: 3, seed: 5 });
	const chain = demoChain(5);
	const expectedSales = salesHistory(chain, { days, perShopPerDay: 3, seed: 5 }).length;
	expect(result).toMatchObject({
		users: chain.users.length,
		factories: 3,
		shops: 10,
		flavors: 30,
		batches: 30,
		invoices: 10,
		sales: expectedSales,
		reviews: 15,
		conversations: 4,
		messages: 8,
	});
	expect(expectedSales).toBeGreaterThan(0);

	const admin = await app.request("POST", "/api/v1/auth/login", {
		body: { email: "executive@demo.eislager.local", password: "eislager-demo-2024" },
	});
	expect(admin.status).toBe(200);
	const token = (admin.body as { accessToken: string }).accessToken;
	const shops = await app.request("GET", "/api/v1/sales/shops?pageSize=50", { token });
	expect(shops.body.total).toBe(10);
	const flavors = await app.request("GET", "/api/v1/inventory/flavors?pageSize=50", { token });
	expect(flavors.body.total).toBe(30);
	expect(flavors.body.rows.filter((f: { allergens: string[] }) => f.allergens.length > 0).length).toBe(
		chain.flavors.filter((f) => f.allergens.length > 0).length,
	);
	// Coordinates arrive wherever shops have them (the shop coordinates of the analytics work); all or none.
	const berlin = (shops.body.rows as { name: string; latitude?: number | null }[]).find((s) => s.name === chain.shops[0].name);
	if (berlin && "latitude" in berlin) {
		expect(result.shopsWithCoordinates).toBe(10);
		expect(berlin.latitude).toBeCloseTo(chain.shops[0].latitude, 5);
	} else expect(result.shopsWithCoordinates).toBe(0);

	// Every role can sign in with the demo password; a repeated seed refuses instead of doubling the data.
	for (const u of chain.users) {
		const login = await app.request("POST", "/api/v1/auth/login", { body: { email: u.email, password: "eislager-demo-2024" } });
		expect([u.email, login.status, (login.body as { user?: { role: string } }).user?.role]).toEqual([u.email, 200, u.role]);
	}
	await expect(seed(app.baseUrl, ADMIN, { days: 1, perShopPerDay: 1, seed: 5 })).rejects.toThrow(/fills a fresh database/);

	// The history sits on past days, and analytics counts it once its consumers caught up.
	const from = new Date(Date.now() - (days + 1) * 86_400_000).toISOString().slice(0, 10);
	const to = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
	let transactions = 0;
	for (const until = Date.now() + 60_000; Date.now() < until; ) {
		const summary = await app.request("GET", `/api/v1/analytics/analytics/sales?from=${from}&to=${to}`, { token });
		expect(summary.status).toBe(200);
		transactions = Number((summary.body as { transactionCount?: number }).transactionCount ?? 0);
		if (transactions >= expectedSales) break;
		await new Promise((r) => setTimeout(r, 500));
	}
	expect(transactions).toBe(expectedSales);
}, 180_000);
