/**
 * Application log feed: every action that fails with a server-side error (5xx or
 * an error without a code) is reported once, on the node where it happened, as
 * the internal event `INTERNAL_EVENTS.appLog`; the admin service stores it in
 * `admin.app_logs` (GET /api/v1/admin/system/logs). 503/504 (unavailable,
 * timeouts: usually transient) are "warn", the rest "error". Client errors
 * (4xx) are not application faults and are not reported. Without an admin
 * node the event has no listener and goes nowhere.
 */
import type { ActionHandler, ActionSchema, Context, Middleware, ServiceBroker } from "moleculer";
import { INTERNAL_EVENTS, type AppLogEntry } from "../lib/events";

const reported = new WeakSet<object>();

export const AppLogMiddleware: Middleware = {
	localAction(this: { broker?: ServiceBroker }, next: ActionHandler, action: ActionSchema): ActionHandler {
		const report = (ctx: Context, err: Error & { code?: number; type?: string; nodeID?: string }) => {
			const code = typeof err?.code === "number" ? err.code : 500;
			const remote = err?.nodeID && err.nodeID !== ctx.broker.nodeID;
			// A maintenance window's 503 is the system doing as told, not a fault.
			if (code < 500 || !err || typeof err !== "object" || reported.has(err) || remote || err.type === "MAINTENANCE") return;
			reported.add(err);
			const entry: AppLogEntry = {
				level: code === 503 || code === 504 ? "warn" : "error",
				nodeID: ctx.broker.nodeID,
				service: action.service?.fullName ?? null,
				action: action.name ?? null,
				message: String(err.message ?? err).slice(0, 2000),
				code,
				type: err.type ?? err.name ?? null,
				requestId: ctx.requestID ?? null,
				at: new Date().toISOString(),
			};
			Promise.resolve(ctx.broker.emit(INTERNAL_EVENTS.appLog, entry)).catch(() => undefined);
		};
		return function appLog(ctx: Context) {
			let result: unknown;
			try {
				result = next(ctx);
			} catch (err) {
				// A synchronous handler threw.
				report(ctx, err as Error);
				throw err;
			}
			if (typeof (result as PromiseLike<unknown> | undefined)?.then !== "function") return result as ReturnType<ActionHandler>;
			return Promise.resolve(result).catch((err: Error) => {
				report(ctx, err);
				throw err;
			});
		};
	},
};
