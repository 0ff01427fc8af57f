/**
 * Maintenance windows for every external call, HTTP and socket `call` alike
 * (caller = the gateway service): during a window a non-ADMIN gets 503
 * MAINTENANCE, except for sign-in and the public settings
 * (OPEN_DURING_MAINTENANCE). Checked where this node keeps a copy of the
 * settings (lib/settings.ts: the gateway, auth and sales nodes); the gateway
 * already answers HTTP requests before any call (services/gateway/api.service.ts),
 * so in practice this catches socket calls. Remote calls are checked on the
 * calling side, local ones on the serving side.
 */
import type { ActionHandler, ActionSchema, Context, Middleware } from "moleculer";
import { maintenance } from "../lib/errors";
import { activeMaintenance, OPEN_DURING_MAINTENANCE, settingsOf, settingsOpen } from "../lib/settings";
import type { Meta } from "../lib/types";
import { GATEWAY_SERVICE, isExternalCall } from "./authorization.middleware";

function guard(next: ActionHandler, action: ActionSchema): ActionHandler {
	// The gateway's own actions (/health, the OpenAPI document, the socket `call` wrapper) stay up.
	if (OPEN_DURING_MAINTENANCE.has(String(action.name)) || String(action.name).startsWith(`${GATEWAY_SERVICE}.`)) return next;
	return function maintenanceGuard(ctx: Context<unknown, Meta>) {
		if (isExternalCall(ctx) && ctx.meta.user?.role !== "ADMIN" && settingsOpen(ctx.broker)) {
			const window = activeMaintenance(settingsOf(ctx.broker));
			// Rejected, not thrown: the ContextTracker loses a synchronous throw's context.
			if (window) return Promise.reject(maintenance(window.message, window.endsAt));
		}
		return next(ctx);
	};
}

export const MaintenanceMiddleware: Middleware = { localAction: guard, remoteAction: guard };
