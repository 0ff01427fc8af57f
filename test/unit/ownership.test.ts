/**
 * The authorization and ownership middlewares on a ServiceBroker without a
 * transporter (as Moleculer's own tests do): a stand-in gateway ("api") calls
 * guarded actions with a user in meta; stand-in owners answer the resolver calls.
 */
import { ServiceBroker, type Context } from "moleculer";
import { AuthorizationMiddleware } from "../../middlewares/authorization.middleware";
import { OwnershipMiddleware } from "../../middlewares/ownership.middleware";
import { GATEWAY_SERVICE } from "../../lib/actions";
import { describeAccess, judge } from "../../lib/access";
import { notFound } from "../../lib/errors";
import type { AuthUser, Meta, Role } from "../../lib/types";

const SHOP = "11111111-1111-4111-8111-111111111111";
const OTHER_SHOP = "22222222-2222-4222-8222-222222222222";
const UNKNOWN = "33333333-3333-4333-8333-333333333333";
const CONVERSATION = "44444444-4444-4444-8444-444444444444";
const FACTORY = "55555555-5555-4555-8555-555555555555";
const STAFF = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const STRANGER = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";

const user = (id: string, role: Role): AuthUser => ({ id, role, jti: "j", exp: 0 });

describe("authorization and ownership middlewares", () => {
	const broker = new ServiceBroker({ logger: false, middlewares: [OwnershipMiddleware, AuthorizationMiddleware] });
	const resolverCalls: string[] = [];

	beforeAll(async () => {
		broker.createService({
			name: "sales.shops",
			actions: {
				ownership(ctx: Context<{ id: string; userId: string }>) {
					resolverCalls.push(`shop:${ctx.params.id}`);
					if (ctx.params.id === UNKNOWN) throw notFound("Shop", ctx.params.id);
					const isStaff = ctx.params.id === SHOP && ctx.params.userId === STAFF;
					return { entity: { id: ctx.params.id, name: "Shop", isStaff }, mine: isStaff, visible: true };
				},
			},
		});
		broker.createService({
			name: "inventory.factories",
			actions: {
				ownership(ctx: Context<{ id: string; userId: string }>) {
					if (ctx.params.id !== FACTORY) return null;
					return { entity: { id: FACTORY }, mine: ctx.params.userId === STAFF, visible: true };
				},
			},
		});
		broker.createService({
			name: "communications.chat",
			actions: {
				ownership(ctx: Context<{ id: string; userId: string }>) {
					if (ctx.params.id !== CONVERSATION) return null;
					const mine = ctx.params.userId === STAFF;
					return { entity: { id: CONVERSATION }, mine, visible: mine };
				},
			},
		});
		broker.createService({
			name: "guarded",
			actions: {
				shopStock: {
					roles: ["CLERK", "EXECUTIVE", "ADMIN"],
					access: { shop: "shopId" },
					handler: (ctx: Context) => ({ entity: ctx.locals.entity }),
				},
				order: {
					roles: ["CLERK", "EXECUTIVE", "ADMIN"],
					access: { shop: "shopId", wide: ["EXECUTIVE"] },
					handler: () => "ordered",
				},
				batches: { roles: ["MANUFACTURER", "EXECUTIVE"], access: { factory: "factoryId" }, handler: () => "batches" },
				messages: { access: { conversation: "id" }, handler: () => "messages" },
				open: { auth: "public", handler: () => "open" },
			},
		});
		broker.createService({
			name: GATEWAY_SERVICE,
			actions: {
				// The gateway's call: the caller is "api", so the guarded action sees an external call.
				forward(ctx: Context<{ action: string; params: object; user?: AuthUser }, Meta>) {
					return ctx.call(ctx.params.action, ctx.params.params, { meta: { user: ctx.params.user ?? null } });
				},
			},
		});
		await broker.start();
	});
	afterAll(() => broker.stop());

	const asClient = (action: string, params: object, who?: AuthUser) =>
		broker.call(`${GATEWAY_SERVICE}.forward`, { action, params, user: who });
	const code = (p: Promise<unknown>) =>
		p.then(
			() => 200,
			(err: { code?: number }) => err.code,
		);

	it("lets a CLERK of the shop in and hands the handler the resolved shop", async () => {
		await expect(asClient("guarded.shopStock", { shopId: SHOP }, user(STAFF, "CLERK"))).resolves.toEqual({
			entity: { id: SHOP, name: "Shop", isStaff: true },
		});
	});

	it("answers 403 to a CLERK of another shop (shops are public), 404 for an unknown shop", async () => {
		expect(await code(asClient("guarded.shopStock", { shopId: OTHER_SHOP }, user(STAFF, "CLERK")))).toBe(403);
		expect(await code(asClient("guarded.shopStock", { shopId: SHOP }, user(STRANGER, "CLERK")))).toBe(403);
		expect(await code(asClient("guarded.shopStock", { shopId: UNKNOWN }, user(STAFF, "CLERK")))).toBe(404);
	});

	it("lets the shop-wide roles act on any shop, as narrowed by `wide`", async () => {
		expect(await code(asClient("guarded.shopStock", { shopId: OTHER_SHOP }, user(STRANGER, "ADMIN")))).toBe(200);
		expect(await code(asClient("guarded.order", { shopId: OTHER_SHOP }, user(STRANGER, "EXECUTIVE")))).toBe(200);
		expect(await code(asClient("guarded.order", { shopId: OTHER_SHOP }, user(STRANGER, "ADMIN")))).toBe(403);
	});

	it("checks roles before ownership: 401 without a user, 403 for an unlisted role, and no resolver call", async () => {
		resolverCalls.length = 0;
		expect(await code(asClient("guarded.shopStock", { shopId: SHOP }))).toBe(401);
		expect(await code(asClient("guarded.shopStock", { shopId: SHOP }, user(STAFF, "PATRON")))).toBe(403);
		expect(resolverCalls).toEqual([]);
		expect(await code(asClient("guarded.open", {}))).toBe(200);
	});

	it("factories: the manager or an EXECUTIVE; another MANUFACTURER gets 403, an unknown factory 404", async () => {
		expect(await code(asClient("guarded.batches", { factoryId: FACTORY }, user(STAFF, "MANUFACTURER")))).toBe(200);
		expect(await code(asClient("guarded.batches", { factoryId: FACTORY }, user(STRANGER, "MANUFACTURER")))).toBe(403);
		expect(await code(asClient("guarded.batches", { factoryId: FACTORY }, user(STRANGER, "EXECUTIVE")))).toBe(200);
		expect(await code(asClient("guarded.batches", { factoryId: UNKNOWN }, user(STAFF, "MANUFACTURER")))).toBe(404);
	});

	it("conversations are invisible to non-participants: 404, not 403", async () => {
		expect(await code(asClient("guarded.messages", { id: CONVERSATION }, user(STAFF, "PATRON")))).toBe(200);
		expect(await code(asClient("guarded.messages", { id: CONVERSATION }, user(STRANGER, "ADMIN")))).toBe(404);
	});

	it("trusts calls between services (no gateway in between): resolved, not checked; unknown is still 404", async () => {
		await expect(
			broker.call("guarded.shopStock", { shopId: OTHER_SHOP }, { meta: { user: user(STRANGER, "CLERK") } }),
		).resolves.toEqual({ entity: { id: OTHER_SHOP, name: "Shop", isStaff: false } });
		expect(await code(broker.call("guarded.shopStock", { shopId: UNKNOWN }))).toBe(404);
	});

	it("leaves a malformed id to the validator (no resolver call)", async () => {
		resolverCalls.length = 0;
		expect(await code(asClient("guarded.shopStock", { shopId: "not-a-uuid" }, user(STAFF, "CLERK")))).toBe(200);
		expect(resolverCalls).toEqual([]);
	});

	it("describes the rule for the OpenAPI document and docs", () => {
		expect(describeAccess({ shop: "shopId" }, ["CLERK", "EXECUTIVE", "ADMIN"])).toBe(
			"Ownership: CLERK of the shop (shopId); EXECUTIVE, ADMIN: any shop.",
		);
		expect(describeAccess({ factory: "factoryId" })).toBe(
			"Ownership: MANUFACTURER of the factory (factoryId); EXECUTIVE: any factory.",
		);
		expect(describeAccess({ shop: "shopId" }, ["EXECUTIVE"])).toBe("Ownership: EXECUTIVE: any shop (shopId).");
		expect(describeAccess({ conversation: "id" })).toBe("Ownership: Participant of the conversation (id).");
		expect(judge("shop", [], "EXECUTIVE", { mine: false, visible: true })).toBe("forbidden");
		expect(judge("conversation", [], "ADMIN", { mine: false, visible: false })).toBe("notFound");
	});
});
