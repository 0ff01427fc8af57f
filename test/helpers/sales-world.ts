/** Shared set-up for the sales tests: users, a shop with staff, flavors from the real inventory service. */
import type { TestApp, TestUser } from "./app";
import { eventually } from "./eventually";

export interface SalesWorld {
	exec: TestUser;
	maker: TestUser;
	clerk: TestUser;
	otherClerk: TestUser;
	patron: TestUser;
	shopId: string;
	otherShopId: string;
	factoryId: string;
	flavors: { id: string; name: string; price: number; allergens: string[]; category: string }[];
}

export async function ok<T = unknown>(res: Promise<{ status: number; body: T }>, status = 200): Promise<T> {
	const r = await res;
	if (r.status !== status) throw new Error(`expected ${status}, got ${r.status}: ${JSON.stringify(r.body)}`);
	return r.body;
}

export async function createFlavor(
	app: TestApp,
	maker: TestUser,
	body: { name: string; price: number; category?: string; allergens?: string[] },
) {
	return ok<{ id: string; name: string; price: number; allergens: string[]; category: string }>(
		app.request("POST", "/api/v1/inventory/flavors", { token: maker.token, body: { category: "CREAM", ...body } }),
		201,
	);
}

export async function createShop(app: TestApp, exec: TestUser, name: string) {
	const shop = await ok<{ id: string }>(
		app.request("POST", "/api/v1/sales/shops", { token: exec.token, body: { name, address: `${name} street 1` } }),
		201,
	);
	return shop.id;
}

export async function assignClerk(app: TestApp, exec: TestUser, shopId: string, clerk: TestUser) {
	await ok(app.request("POST", `/api/v1/sales/shops/${shopId}/staff`, { token: exec.token, body: { userId: clerk.id } }), 201);
}

export async function setStock(
	app: TestApp,
	user: TestUser,
	shopId: string,
	items: { flavorId: string; quantity: number; reorderThreshold?: number }[],
	reason = "RESTOCK",
) {
	return ok(app.request("PUT", `/api/v1/sales/shops/${shopId}/inventory`, { token: user.token, body: { items, reason } }));
}

export async function buildWorld(app: TestApp): Promise<SalesWorld> {
	const [exec, maker, clerk, otherClerk, patron] = await Promise.all([
		app.createUser("EXECUTIVE"),
		app.createUser("MANUFACTURER"),
		app.createUser("CLERK"),
		app.createUser("CLERK"),
		app.createUser("PATRON"),
	]);
	const flavors = [
		await createFlavor(app, maker, { name: "Vanilla", price: 250, allergens: ["milk"] }),
		await createFlavor(app, maker, { name: "Hazelnut", price: 300, allergens: ["milk", "nuts"] }),
		await createFlavor(app, maker, { name: "Lemon Sorbet", price: 220, category: "SORBET" }),
	];
	const shopId = await createShop(app, exec, "Gelato Centrale");
	const otherShopId = await createShop(app, exec, "Gelato Porto");
	await assignClerk(app, exec, shopId, clerk);
	await assignClerk(app, exec, otherShopId, otherClerk);
	const factory = await ok<{ id: string }>(
		app.request("POST", "/api/v1/inventory/factories", { token: exec.token, body: { name: "North Factory", managerId: maker.id } }),
		201,
	);
	return { exec, maker, clerk, otherClerk, patron, shopId, otherShopId, factoryId: factory.id, flavors };
}

/** A purchase order from the world's factory placed, invoiced (FEFO by inventory), confirmed, shipped and delivered; its id. */
export async function deliverOrder(
	app: TestApp,
	w: SalesWorld,
	shopId: string,
	clerk: TestUser,
	items: { flavorId: string; quantity: number }[],
): Promise<string> {
	const order = await ok<{ id: string }>(
		app.request("POST", `/api/v1/sales/shops/${shopId}/purchase-orders`, {
			token: clerk.token,
			body: { factoryId: w.factoryId, items },
		}),
		201,
	);
	await eventually(() => app.broker.call("inventory.invoices.forOrder", { orderId: order.id }), "the order's invoice", 20_000);
	for (const [status, user] of [
		["CONFIRMED", w.maker],
		["SHIPPED", w.maker],
		["DELIVERED", clerk],
	] as const)
		await ok(app.request("PUT", `/api/v1/sales/orders/${order.id}/status`, { token: user.token, body: { status } }));
	return order.id;
}
