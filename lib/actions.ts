/** Action metadata shared by services. */

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
