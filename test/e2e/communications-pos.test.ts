/**
 * Acceptance 3: a POS sale that crosses a shop's reorder threshold notifies the
 * shop's clerks (a row for each) and reaches an online clerk live as
 * NOTIFICATION_RECEIVED; a review notifies them too. Real auth, inventory,
 * sales and communications services behind the gateway.
 */
import { startTestApp, type TestApp } from "../helpers/app";
import { connectSocket, sleep, type TestSocket } from "../helpers/sockets";
import { assignClerk, buildWorld, createFlavor, ok, setStock, type SalesWorld } from "../helpers/sales-world";

interface NotificationView {
	id: string;
	userId: string;
	type: string;
	data: Record<string, unknown>;
}

describe("POS → INVENTORY_LOW → clerk notifications", () => {
	let app: TestApp;
	let w: SalesWorld;
	const sockets: TestSocket[] = [];

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "inventory", "sales", "communications"] });
		w = await buildWorld(app);
	});
	afterAll(async () => {
		for (const s of sockets) s.close();
		await app?.stop();
	});

	it("notifies every clerk of the shop, live for the online one, and nobody else", async () => {
		const secondClerk = await app.createUser("CLERK");
		await assignClerk(app, w.exec, w.shopId, secondClerk);
		const online = await connectSocket(app.baseUrl, { token: w.clerk.token });
		const otherShop = await connectSocket(app.baseUrl, { token: w.otherClerk.token });
		sockets.push(online, otherShop);

		const flavor = await createFlavor(app, w.maker, { name: "Mango", price: 290 });
		await setStock(app, w.clerk, w.shopId, [{ flavorId: flavor.id, quantity: 6, reorderThreshold: 5 }]);
		const sale = (quantity: number) =>
			ok(
				app.request("POST", `/api/v1/sales/shops/${w.shopId}/pos-transactions`, {
					token: w.clerk.token,
					body: { items: [{ flavorId: flavor.id, quantity }], paymentMethod: "CASH" },
				}),
				201,
			);
		await sale(1); // 5: not below the threshold yet
		await sleep(200);
		expect(online.received("NOTIFICATION_RECEIVED")).toEqual([]);
		await sale(2); // 3: crosses

		const live = await online.next<NotificationView>("NOTIFICATION_RECEIVED", (n) => n.type === "INVENTORY_LOW");
		expect(live).toMatchObject({
			userId: w.clerk.id,
			type: "INVENTORY_LOW",
			data: { shopId: w.shopId, flavorId: flavor.id, quantity: 3, reorderThreshold: 5 },
		});
		expect((live as NotificationView & { message: string }).message).toBe(
			"Low stock at Gelato Centrale: Mango is down to 3 (reorder threshold 5).",
		);

		for (const clerk of [w.clerk, secondClerk]) {
			const list = await app.request("GET", "/api/v1/communications/notifications?unread=true", { token: clerk.token });
			expect(list.status).toBe(200);
			expect(
				list.body.rows.filter((n: NotificationView) => n.type === "INVENTORY_LOW" && n.data.flavorId === flavor.id),
			).toHaveLength(1);
		}
		const other = await app.request("GET", "/api/v1/communications/notifications", { token: w.otherClerk.token });
		expect(other.body.total).toBe(0);
		expect(otherShop.received("NOTIFICATION_RECEIVED")).toEqual([]);
	});

	it("a review notifies the shop's clerks", async () => {
		const online = await connectSocket(app.baseUrl, { token: w.clerk.token });
		sockets.push(online);
		const patron = await app.createUser("PATRON");
		await ok(
			app.request("POST", "/api/v1/sales/feedback", {
				token: patron.token,
				body: { shopId: w.shopId, rating: 4, comment: "Creamy" },
			}),
			201,
		);
		expect(await online.next<NotificationView>("NOTIFICATION_RECEIVED", (n) => n.type === "REVIEW_SUBMITTED")).toMatchObject({
			userId: w.clerk.id,
			data: { shopId: w.shopId, rating: 4 },
		});
	});
});
