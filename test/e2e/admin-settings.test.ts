/**
 * Admin settings that act (issue 14, section 3), through the gateway:
 * - the public settings (siteName, theme, defaultLanguage, supportEmail) reach clients before sign-in;
 *   the platform's mails carry siteName and reply to supportEmail; new accounts get defaultLanguage;
 * - registrationOpen: false closes POST /auth/register (403 REGISTRATION_CLOSED);
 * - lowStockThreshold is the reorder threshold of new shop stock rows (INVENTORY_LOW by default);
 * - a maintenance window: 503 MAINTENANCE + Retry-After for everyone but ADMINs, who still sign in
 *   and lift it; /health stays up; sockets get SYSTEM_ANNOUNCEMENT ahead of a window (15 and 5 minutes).
 * The two-node propagation is in admin-settings-cluster.test.ts.
 */
import { startTestApp, uniqueEmail, type TestApp, type TestUser } from "../helpers/app";
import { connectSocket, type TestSocket } from "../helpers/sockets";
import { waitUntil } from "../helpers/cluster";
import { buildWorld, setStock, type SalesWorld } from "../helpers/sales-world";
import { createFlavor, sqlRows } from "../integration/inventory/helpers";
import { startSmtpServer, type TestSmtp } from "../helpers/smtp";

jest.setTimeout(60_000);
const A = "/api/v1/admin";
const MIN = 60_000;

describe("admin settings that act", () => {
	let app: TestApp;
	let admin: TestUser;
	let w: SalesWorld;
	let smtp: TestSmtp;
	const sockets: TestSocket[] = [];

	beforeAll(async () => {
		smtp = await startSmtpServer();
		app = await startTestApp({ services: ["auth", "admin", "sales", "inventory"], env: { SMTP_URL: smtp.url } });
		admin = await app.createUser("ADMIN");
		w = await buildWorld(app);
	});
	afterAll(async () => {
		for (const s of sockets) s.close();
		await app?.stop();
		await smtp?.close();
	});

	const put = (body: Record<string, unknown>) => app.request("PUT", `${A}/config`, { token: admin.token, body });

	it("the public settings: anonymous clients read siteName, theme, language, support address, registration state", async () => {
		const before = await app.request("GET", `${A}/config/public`);
		expect(before.status).toBe(200);
		expect(before.body).toMatchObject({
			siteName: "EisLager",
			theme: { id: "classic", primary: expect.any(String) },
			defaultLanguage: "de",
			registrationOpen: true,
			maintenance: [],
		});
		expect(
			(await put({ siteName: "Gelato Nord", theme: "dark", defaultLanguage: "en", supportEmail: "help@gelato.example" })).status,
		).toBe(200);
		expect((await app.request("GET", "/api/admin/config/public")).body).toMatchObject({
			siteName: "Gelato Nord",
			theme: { id: "dark", background: "#16161a" },
			defaultLanguage: "en",
			supportEmail: "help@gelato.example",
		});
	});

	it("registrationOpen: false refuses self-registration with 403 REGISTRATION_CLOSED; true opens it again", async () => {
		const body = () => ({ email: uniqueEmail("reg"), password: "Correct-Horse-42", name: "New Patron" });
		expect((await put({ registrationOpen: false })).status).toBe(200);
		const closed = await app.request("POST", "/api/v1/auth/register", { body: body() });
		expect([closed.status, closed.body.error?.code]).toEqual([403, "REGISTRATION_CLOSED"]);
		expect((await app.request("POST", "/auth/register", { body: body() })).status).toBe(403);
		expect((await app.request("GET", `${A}/config/public`)).body.registrationOpen).toBe(false);
		// Administrators still create accounts.
		await app.createUser("CLERK");
		expect((await put({ registrationOpen: true })).status).toBe(200);
		const opened = await app.request("POST", "/api/v1/auth/register", { body: body() });
		expect(opened.status).toBe(201);
		// The settings of the first test: language of new accounts, name and support address in the mail.
		expect(opened.body.user.preferences).toEqual({ language: "en" });
		const to = opened.body.user.email as string;
		await waitUntil("the verification mail", () => smtp.inbox.some((m) => m.to.includes(to)), 10_000, 50);
		const raw = smtp.inbox.find((m) => m.to.includes(to))!.raw;
		expect(raw).toMatch(/^Subject: Confirm your Gelato Nord email address/m);
		expect(raw).toMatch(/^Reply-To: help@gelato\.example/m);
	});

	it("lowStockThreshold is the reorder threshold of new shop stock rows: INVENTORY_LOW fires without one given", async () => {
		const [vanilla] = w.flavors;
		await setStock(app, w.clerk, w.shopId, [{ flavorId: vanilla.id, quantity: 4 }]);
		const stock = async (flavorId: string) =>
			(await app.request("GET", `/api/v1/sales/shops/${w.shopId}/inventory`, { token: w.clerk.token })).body.items.find(
				(r: { flavorId: string }) => r.flavorId === flavorId,
			);
		expect(await stock(vanilla.id)).toMatchObject({ quantity: 4, reorderThreshold: 10, low: true });
		const low = await sqlRows<{ data: { flavorId: string; reorderThreshold: number } }>(
			app,
			`SELECT envelope->'data' AS data FROM sales.outbox WHERE type = 'INVENTORY_LOW'`,
		);
		expect(low.map((r) => r.data)).toEqual([expect.objectContaining({ flavorId: vanilla.id, reorderThreshold: 10, quantity: 4 })]);

		expect((await put({ lowStockThreshold: 2 })).status).toBe(200);
		const pistachio = await createFlavor(app, w.maker.token, { name: "Pistachio", price: 280, category: "CREAM" });
		await setStock(app, w.clerk, w.shopId, [{ flavorId: pistachio, quantity: 4 }]);
		expect(await stock(pistachio)).toMatchObject({ quantity: 4, reorderThreshold: 2, low: false });
		// An existing row keeps its own threshold; an explicit one wins.
		await setStock(app, w.clerk, w.shopId, [{ flavorId: vanilla.id, quantity: 5 }]);
		expect(await stock(vanilla.id)).toMatchObject({ reorderThreshold: 10 });
	});

	it("a maintenance window: 503 MAINTENANCE with Retry-After for all but ADMINs; ADMINs sign in and lift it; /health stays up", async () => {
		const patron = await app.createUser("PATRON");
		const clerk = w.clerk;
		const [patronSocket, adminSocket] = [
			await connectSocket(app.baseUrl, { token: patron.token }),
			await connectSocket(app.baseUrl, { token: admin.token }),
		];
		sockets.push(patronSocket, adminSocket);
		const window = await app.request("POST", `${A}/config/maintenance`, {
			token: admin.token,
			body: {
				startsAt: new Date(Date.now() - 1000).toISOString(),
				endsAt: new Date(Date.now() + 10 * MIN).toISOString(),
				message: "Database upgrade",
			},
		});
		expect(window.status).toBe(201);

		for (const [who, token] of [
			["patron", patron.token],
			["clerk", clerk.token],
			["anonymous", undefined],
		] as const) {
			const res = await app.request("GET", `/api/v1/sales/shops/${w.shopId}/inventory`, { token });
			expect([who, res.status, res.body.error?.code]).toEqual([who, 503, "MAINTENANCE"]);
			const retryAfter = Number(res.headers.get("retry-after"));
			expect(retryAfter).toBeGreaterThan(0);
			expect(retryAfter).toBeLessThanOrEqual(600);
			expect(res.body.error.details).toMatchObject({ retryAfter, endsAt: window.body.endsAt });
		}
		// Socket calls too (the connection stays: it carries the announcements).
		const [socketErr] = await patronSocket.ack("call", "auth.me", {});
		expect(socketErr).toMatchObject({ code: "MAINTENANCE", status: 503 });
		expect(patronSocket.socket.connected).toBe(true);
		const [adminErr, adminMe] = await adminSocket.ack<{ id: string }>("call", "auth.me", {});
		expect([adminErr, adminMe?.id]).toEqual([null, admin.id]);
		const register = await app.request("POST", "/api/v1/auth/register", {
			body: { email: uniqueEmail("m"), password: "Correct-Horse-42", name: "Late" },
		});
		expect(register.status).toBe(503);
		// Sign-in answers MAINTENANCE to everyone but ADMINs.
		const patronLogin = await app.request("POST", "/api/v1/auth/login", { body: { email: patron.email, password: patron.password } });
		expect([patronLogin.status, patronLogin.body.error?.code]).toEqual([503, "MAINTENANCE"]);
		const adminLogin = await app.request("POST", "/api/v1/auth/login", { body: { email: admin.email, password: admin.password } });
		expect(adminLogin.status).toBe(200);
		expect((await app.request("GET", "/api/v1/auth/me", { token: adminLogin.body.accessToken })).status).toBe(200);
		expect((await app.request("GET", `/api/v1/sales/shops/${w.shopId}/inventory`, { token: admin.token })).status).toBe(200);
		expect((await app.request("GET", "/health")).status).toBe(200);
		expect((await app.request("GET", `${A}/config/public`)).body.maintenance).toEqual([
			expect.objectContaining({ id: window.body.id, message: "Database upgrade" }),
		]);

		expect((await app.request("DELETE", `${A}/config/maintenance/${window.body.id}`, { token: patron.token })).status).toBe(503);
		expect(
			(await app.request("DELETE", `${A}/config/maintenance/${window.body.id}`, { token: adminLogin.body.accessToken })).status,
		).toBe(204);
		expect((await app.request("DELETE", `${A}/config/maintenance/${window.body.id}`, { token: admin.token })).status).toBe(404);
		expect((await app.request("GET", `/api/v1/sales/shops/${w.shopId}/inventory`, { token: clerk.token })).status).toBe(200);
		expect((await app.request("POST", "/api/v1/auth/login", { body: { email: patron.email, password: patron.password } })).status).toBe(
			200,
		);
		expect((await patronSocket.ack("call", "auth.me", {}))[0]).toBeNull();
		// Server-side 503s of a window are not application faults.
		expect(await sqlRows(app, `SELECT 1 FROM admin.app_logs WHERE type = 'MAINTENANCE'`)).toEqual([]);
	});

	it("sockets get SYSTEM_ANNOUNCEMENT ahead of a window: the 15-minute notice, and only the nearest when both are due", async () => {
		const patron = await app.createUser("PATRON");
		const s = await connectSocket(app.baseUrl, { token: patron.token });
		sockets.push(s);
		const schedule = async (minutes: number) => {
			const res = await app.request("POST", `${A}/config/maintenance`, {
				token: admin.token,
				body: {
					startsAt: new Date(Date.now() + minutes * MIN).toISOString(),
					endsAt: new Date(Date.now() + (minutes + 30) * MIN).toISOString(),
					message: `Upgrade in ${minutes}`,
				},
			});
			expect(res.status).toBe(201);
			return res.body.id as string;
		};
		type Notice = { title: string; maintenanceId: string; leadMinutes: number; message: string };
		const far = await schedule(10);
		expect(await s.next<Notice>("SYSTEM_ANNOUNCEMENT", (d) => d.maintenanceId === far)).toMatchObject({
			leadMinutes: 15,
			title: "Maintenance in 10 minutes",
			message: "Upgrade in 10",
		});
		const near = await schedule(3);
		expect(await s.next<Notice>("SYSTEM_ANNOUNCEMENT", (d) => d.maintenanceId === near)).toMatchObject({
			leadMinutes: 5,
			title: "Maintenance in 3 minutes",
		});
		const notices = async (id: string) =>
			(
				await sqlRows<{ lead: number }>(
					app,
					`SELECT lead_minutes AS lead FROM admin.maintenance_notices WHERE window_id = $1 ORDER BY 1`,
					[id],
				)
			).map((r) => r.lead);
		expect(await notices(far)).toEqual([15]);
		expect(await notices(near)).toEqual([5, 15]);
		// The windows are upcoming, not active: the API still serves everyone.
		expect((await app.request("GET", "/api/v1/auth/me", { token: patron.token })).status).toBe(200);
		expect(s.received<Notice>("SYSTEM_ANNOUNCEMENT").filter((d) => d.maintenanceId === near)).toHaveLength(1);
	});
});
