/**
 * Screens what an external caller (HTTP and sockets, through the gateway) sends,
 * before the params schema and for every action alike:
 * - a JSON body that is not an object (an array, say) is 422, not an empty update;
 * - control characters other than tab and newline (NUL included) in any string or
 *   key of the params, arrays and free JSON fields included, are 422 naming the field;
 * - params nested deeper than MAX_PARAMS_DEPTH are 422 (the gateway refuses them first).
 * It runs after the Authorization middleware (moleculer.config.ts), so an anonymous
 * or wrong-role caller is refused before any of this.
 */
import type { ActionHandler, Context, Middleware } from "moleculer";
import { nestedTooDeep, validationError } from "../lib/errors";
import { MAX_PARAMS_DEPTH, findControlChars, nestsDeeperThan } from "../lib/validator";
import { isExternalCall } from "../lib/actions";

/** ctx.meta flag the gateway sets when the parsed JSON body is not an object. */
export const BODY_NOT_OBJECT = "$bodyNotObject";

export const InputScreenMiddleware: Middleware = {
	localAction(next: ActionHandler): ActionHandler {
		return function screenInput(ctx: Context) {
			// Never throw synchronously: the context tracker outside would keep the context for ever.
			try {
				return screen(ctx, next);
			} catch (err) {
				return Promise.reject(err);
			}
		};
	},
};

function screen(ctx: Context, next: ActionHandler) {
	if (isExternalCall(ctx)) {
		if ((ctx.meta as Record<string, unknown>)[BODY_NOT_OBJECT])
			return Promise.reject(validationError("body", "The body must be a JSON object.", "object"));
		if (nestsDeeperThan(ctx.params)) return Promise.reject(nestedTooDeep("body", MAX_PARAMS_DEPTH));
		const field = findControlChars(ctx.params);
		if (field)
			return Promise.reject(validationError(field, `The '${field}' field must not contain control characters.`, "controlChars"));
	}
	return next(ctx);
}
