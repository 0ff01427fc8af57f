/** Action metadata shared by services. */
import type { Context } from "moleculer";

/** Name of the gateway service (moleculer-web + moleculer-io): calls from it come from outside. */
export const GATEWAY_SERVICE = "api";

/** A call from a client (HTTP or socket, through the gateway), not from another service. */
export function isExternalCall(ctx: Context): boolean {
	return ctx.caller === GATEWAY_SERVICE;
}

/** HTTP success statuses an action may declare. */
export type SuccessStatus = 200 | 201 | 202 | 204 | 207;

/**
 * The HTTP success status of an action, declared once on its schema (`status: 200`)
 * and read by both the runtime (middlewares/response-status.middleware.ts) and the OpenAPI document.
 * A list documents alternatives: the first is the default, the handler sets the
 * others itself (e.g. `[200, 201]`: 201 only when it created something).
 * Undeclared, an action answers as the generator guesses: POST 201, DELETE 204, else 200
 * (handlers that create call `respondCreated`, deletions `respondNoContent`).
 */
export type ActionStatus = SuccessStatus | readonly [SuccessStatus, ...SuccessStatus[]];

/** The statuses an action documents for a REST method: declared, or the generator's guess. */
export function successStatuses(status: unknown, method: string): number[] {
	if (typeof status === "number") return [status];
	if (Array.isArray(status) && status.length) return status.map(Number);
	const m = method.toLowerCase();
	return [m === "post" ? 201 : m === "delete" ? 204 : 200];
}

/** Reads and idempotent actions may be retried on a retryable error (node gone, timeout). */
export const RETRY_READS = { enabled: true } as const;

/** ctx.meta fields an action sets to shape its HTTP answer. */
interface ResponseMeta {
	$statusCode?: number;
	$location?: string;
}

/** 201 Created with the new resource's location. */
export function respondCreated(ctx: { meta: ResponseMeta }, location: string): void {
	ctx.meta.$statusCode = 201;
	ctx.meta.$location = location;
}

/** 204 No Content (the handler returns null). */
export function respondNoContent(ctx: { meta: ResponseMeta }): null {
	ctx.meta.$statusCode = 204;
	return null;
}
