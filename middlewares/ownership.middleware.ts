/**
 * Declared ownership (lib/access.ts): for an action with `access`, an external
 * caller's right to the entity is checked before the handler, through the owning
 * service's resolver action, and the entity is left in `ctx.locals.entity`.
 * Runs after the role check (authorization middleware). Calls between services
 * are trusted: the entity is still resolved (404 when unknown), not checked.
 * An id that is not even a UUID goes on to the validator's 422.
 */
import type { ActionHandler, ActionSchema, Context, Middleware } from "moleculer";
import { OWNER_RULES, judge, ownerOf, type Ownership } from "../lib/access";
import { isExternalCall } from "../lib/actions";
import { forbidden, notFound } from "../lib/errors";
import type { Meta } from "../lib/types";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const OwnershipMiddleware: Middleware = {
	localAction(next: ActionHandler, action: ActionSchema): ActionHandler {
		if (!action.access) return next;
		const { kind, param, wide } = ownerOf(action.access);
		const rule = OWNER_RULES[kind];
		return async function checkOwnership(ctx: Context<Record<string, unknown>, Meta>) {
			const id = ctx.params?.[param];
			if (typeof id !== "string" || !UUID.test(id)) return next(ctx);
			// Calls between services are trusted: the entity is resolved (404 when it does not exist), not checked.
			const user = isExternalCall(ctx) ? ctx.meta.user : null;
			const found = await ctx.call<Ownership | null, { id: string; userId?: string }>(rule.resolver, {
				id,
				...(user && { userId: user.id }),
			});
			const verdict = !found ? "notFound" : user ? judge(kind, wide, user.role, found) : "ok";
			if (verdict === "notFound") throw notFound(rule.label, id);
			if (verdict === "forbidden") throw forbidden(rule.refusal);
			(ctx.locals as { entity?: unknown }).entity = found!.entity;
			return next(ctx);
		};
	},
};
