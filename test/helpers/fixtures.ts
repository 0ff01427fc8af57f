/**
 * A small world for tests that walk the OpenAPI document: one signed-in user per
 * role, a factory managed by the MANUFACTURER, a shop with the CLERK on its staff,
 * a flavor, and a PATRON to act on. `known` maps id field names to real ids, so
 * generated requests reach the handlers (test/helpers/openapi-arbitrary.ts).
 */
import type { TestApp, TestUser } from "./app";
import { ROLES, type Role } from "../../lib/types";

export interface World {
	users: Record<Role, TestUser>;
	known: Record<string, string[]>;
}

export async function seedWorld(app: TestApp): Promise<World> {
	const list = await Promise.all(ROLES.map((r) => app.createUser(r)));
	const users = Object.fromEntries(list.map((u) => [u.role, u])) as Record<Role, TestUser>;
	const exec = users.EXECUTIVE.token;
	const factory = await app.request("POST", "/api/v1/inventory/factories", {
		token: exec,
		body: { name: "Property Factory", managerId: users.MANUFACTURER.id },
	});
	const shop = await app.request("POST", "/api/v1/sales/shops", { token: exec, body: { name: "Property Shop", address: "Street 1" } });
	const flavor = await app.request("POST", "/api/v1/inventory/flavors", {
		token: users.MANUFACTURER.token,
		body: { name: "Property Vanilla", category: "CREAM", price: 250 },
	});
	await app.request("POST", `/api/v1/sales/shops/${shop.body.id}/staff`, { token: exec, body: { userId: users.CLERK.id } });
	const victim = await app.createUser("PATRON");
	const known = {
		factoryId: [factory.body.id],
		shopId: [shop.body.id],
		flavorId: [flavor.body.id],
		userId: [victim.id],
		managerId: [users.MANUFACTURER.id],
	};
	return { users, known };
}

/** A token for one request: a fresh session where the request would end the caller's (logout, password change). */
export async function tokenFor(
	app: TestApp,
	users: Record<Role, TestUser>,
	role: Role | "ANONYMOUS",
	path: string,
): Promise<string | undefined> {
	if (role === "ANONYMOUS") return undefined;
	const user = users[role];
	if (!/logout|change-password/.test(path)) return user.token;
	const session = await app.broker.call<{ accessToken: string }, object>("auth.login", { email: user.email, password: user.password });
	return session.accessToken;
}

/**
 * Puts back what a generated ADMIN request to /admin/config can change for everyone: lifts every
 * maintenance window (which closes the API to the other roles) and reopens registration.
 */
export async function restoreSystemConfig(app: TestApp, admin: TestUser): Promise<void> {
	const config = await app.request("GET", "/api/v1/admin/config", { token: admin.token });
	for (const window of (config.body.maintenance ?? []) as { id: string }[])
		await app.request("DELETE", `/api/v1/admin/config/maintenance/${window.id}`, { token: admin.token });
	await app.request("PUT", "/api/v1/admin/config", { token: admin.token, body: { registrationOpen: true } });
}
