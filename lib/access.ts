/**
 * Declared ownership: an action says who owns the thing it acts on, and one
 * middleware (middlewares/ownership.middleware.ts) checks it before the handler,
 * through the owning service's resolver action (never another schema's tables):
 *   access: { shop: "shopId" }                      a CLERK of that shop, or a shop-wide role;
 *   access: { shop: "shopId", wide: ["EXECUTIVE"] }  … with the shop-wide roles narrowed;
 *   access: { factory: "factoryId" }                 the factory's MANUFACTURER, or an EXECUTIVE;
 *   access: { conversation: "id" }                   a participant.
 * The value names the param that holds the entity's id. Unknown, or not visible
 * to the caller: 404. Visible but not theirs (shops and factories are public): 403.
 * The loaded entity is in `ctx.locals.entity` for the handler.
 */
import type { Role } from "./types";

export interface ShopAccess {
	shop: string;
	/** Roles that act on every shop (default EXECUTIVE, ADMIN); [] = only the shop's own staff. */
	wide?: readonly Role[];
}
export interface FactoryAccess {
	factory: string;
	/** Roles that act on every factory (default EXECUTIVE). */
	wide?: readonly Role[];
}
export interface ConversationAccess {
	conversation: string;
}
export type Access = ShopAccess | FactoryAccess | ConversationAccess;
export type OwnerKind = "shop" | "factory" | "conversation";

/** What the owning service's resolver answers for (id, user). */
export interface Ownership<E = unknown> {
	entity: E;
	/** The user belongs to it: staff of the shop, manager of the factory, participant of the conversation. */
	mine: boolean;
	/** The user may know it exists (shops and factories are public; conversations only to participants). */
	visible: boolean;
}

interface OwnerRule {
	/** The owning service's resolver action: params { id, userId }, answers Ownership or throws 404. */
	resolver: "sales.shops.ownership" | "inventory.factories.ownership" | "communications.chat.ownership";
	/** The role that "mine" counts for (undefined: any role). */
	ownerRole?: Role;
	wide: readonly Role[];
	label: string;
	refusal: string;
}

export const OWNER_RULES: Record<OwnerKind, OwnerRule> = {
	shop: {
		resolver: "sales.shops.ownership",
		ownerRole: "CLERK",
		wide: ["EXECUTIVE", "ADMIN"],
		label: "Shop",
		refusal: "You are not assigned to this shop",
	},
	factory: {
		resolver: "inventory.factories.ownership",
		ownerRole: "MANUFACTURER",
		wide: ["EXECUTIVE"],
		label: "Factory",
		refusal: "Only this factory's manager or an executive may do this",
	},
	conversation: { resolver: "communications.chat.ownership", wide: [], label: "Conversation", refusal: "Not a participant" },
};

/** The kind of owner and the param naming it. */
export function ownerOf(access: Access): { kind: OwnerKind; param: string; wide: readonly Role[] } {
	if ("shop" in access) return { kind: "shop", param: access.shop, wide: access.wide ?? OWNER_RULES.shop.wide };
	if ("factory" in access) return { kind: "factory", param: access.factory, wide: access.wide ?? OWNER_RULES.factory.wide };
	return { kind: "conversation", param: access.conversation, wide: OWNER_RULES.conversation.wide };
}

/** The rule in words, for the OpenAPI document and docs: "CLERK of the shop (shopId); EXECUTIVE, ADMIN: any shop." */
export function describeAccess(access: Access, roles?: readonly Role[]): string {
	const { kind, param, wide } = ownerOf(access);
	const owner = OWNER_RULES[kind].ownerRole;
	// An owner role the route does not admit (an EXECUTIVE-only route on a shop) adds nothing: only "any <kind>" is said.
	const who = !owner ? `Participant of the ${kind}` : !roles || roles.includes(owner) ? `${owner} of the ${kind}` : undefined;
	const anyOf = wide.filter((r) => !roles || roles.includes(r));
	if (!who) return `Ownership: ${anyOf.join(", ")}: any ${kind} (${param}).`;
	return `Ownership: ${who} (${param})${anyOf.length ? `; ${anyOf.join(", ")}: any ${kind}` : ""}.`;
}

/** The check itself, pure: "ok", or the error to answer. */
export function judge(
	kind: OwnerKind,
	wide: readonly Role[],
	role: Role,
	found: Pick<Ownership, "mine" | "visible">,
): "ok" | "notFound" | "forbidden" {
	if (wide.includes(role)) return "ok";
	const owner = OWNER_RULES[kind].ownerRole;
	if (found.mine && (!owner || owner === role)) return "ok";
	return found.visible ? "forbidden" : "notFound";
}

/** The entity the ownership middleware resolved for this call (the action declares `access`). */
export function owned<E>(ctx: { locals: object }): E {
	return (ctx.locals as { entity: E }).entity;
}
