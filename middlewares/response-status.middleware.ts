/**
 * Answers a gateway call with the success status its action declares
 * (`status`, lib/actions.ts), unless the handler chose one itself: the same
 * field the OpenAPI document reads, so the documented status is the real one.
 * Only for calls from the gateway: a nested call's status must not leak into
 * its caller's answer (Moleculer merges a sub-call's meta back into the parent's).
 */
import type { ActionHandler, ActionSchema, Context, Middleware } from "moleculer";
import type { Meta } from "../lib/types";
import { isExternalCall } from "../lib/actions";

export const ResponseStatusMiddleware: Middleware = {
	localAction(next: ActionHandler, action: ActionSchema): ActionHandler {
		const declared = Array.isArray(action.status) ? action.status[0] : action.status;
		// 200 is the gateway's default answer: nothing to set (and a handler may still choose another, e.g. 207).
		if (typeof declared !== "number" || declared === 200) return next;
		return async function respondWithStatus(ctx: Context<unknown, Meta>) {
			const result = await next(ctx);
			if (isExternalCall(ctx) && ctx.meta.$statusCode === undefined) ctx.meta.$statusCode = declared;
			return result;
		};
	},
};
