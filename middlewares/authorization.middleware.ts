/**
 * Enforces action-level access policy for every external caller (HTTP and
 * sockets both enter through the gateway service `api`):
 *   auth: "public"  -> anyone; otherwise a verified user is required (401),
 *   auth: "device"  -> a machine client: no user, but a device key (401 without one),
 *                      which the action itself verifies against the device it names,
 *   roles: [...]    -> the user's role must be listed (403).
 * Calls between services are trusted: their caller is another service.
 * Ownership needs the entity, so actions check it themselves after loading it.
 */
import type { ActionHandler, ActionSchema, Context, Middleware } from "moleculer";
import { forbidden, unauthorized } from "../lib/errors";
import { isExternalCall } from "../lib/actions";
import type { Meta, Role } from "../lib/types";

export { GATEWAY_SERVICE, isExternalCall } from "../lib/actions";

export const AuthorizationMiddleware: Middleware = {
	localAction(next: ActionHandler, action: ActionSchema): ActionHandler {
		const roles = action.roles as readonly Role[] | undefined;
		const isPublic = action.auth === "public";
		if (isPublic && !roles) return next;
		if (action.auth === "device") {
			return function authorizeDevice(ctx: Context<unknown, Meta>) {
				if (isExternalCall(ctx) && !ctx.meta.deviceKey)
					return Promise.reject(unauthorized("Device key required (X-Device-Key)", "INVALID_DEVICE_KEY"));
				return next(ctx);
			};
		}
		return function authorize(ctx: Context<unknown, Meta>) {
			if (isExternalCall(ctx)) {
				const user = ctx.meta.user;
				// Rejected, not thrown: this runs inside the broker's ContextTracker, which loses a synchronous throw's context.
				if (!user) {
					if (!isPublic) return Promise.reject(unauthorized());
				} else if (roles && !roles.includes(user.role)) {
					return Promise.reject(forbidden());
				}
			}
			return next(ctx);
		};
	},
};
