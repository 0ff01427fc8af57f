/**
 * Declared ownership (lib/access.ts): for an action with `access`, an external
 * caller's right to the entity is checked before the handler, through the owning
 * service's resolver action, and the entity is left in `ctx.locals.entity`.
 * Runs after the role check (authorization middleware); calls between services
 * are trusted, as before. An id that is not even a UUID goes on to the validator's 422.
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
			const user = ctx.meta.user;
			const id = ctx.params?.[param];
			if (!isExternalCall(ctx) || !user || typeof id !== "string" || !UUID.test(id)) return next(ctx);
			const found = await ctx.call<Ownership | null, { id: string; userId: string }>(rule.resolver, { id, userId: user.id });
			const verdict = found ? judge(kind, wide, user.role, found) : "notFound";
			if (verdict === "notFound") throw notFound(rule.label, id);
			if (verdict === "forbidden") throw forbidden(rule.refusal);
			(ctx.locals as { entity?: unknown }).entity = found!.entity;
			return next(ctx);
		};
	},
};
