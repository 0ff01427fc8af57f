/**
 * Errors with a code and data, and the one JSON error shape every response uses:
 * { error: { code, message, details? }, requestId }.
 */
import { Errors } from "moleculer";

const { MoleculerClientError, MoleculerError } = Errors;

export interface FieldIssue {
	field: string;
	message: string;
	type?: string;
}

export const ERROR_CODES = {
	VALIDATION_ERROR: 422,
	UNAUTHORIZED: 401,
	FORBIDDEN: 403,
	NOT_FOUND: 404,
	CONFLICT: 409,
	PAYLOAD_TOO_LARGE: 413,
	UNSUPPORTED_MEDIA_TYPE: 415,
	RATE_LIMITED: 429,
	SERVICE_UNAVAILABLE: 503,
} as const;

/** 422 naming the field(s) that failed, in the same shape as Moleculer's ValidationError. */
export function validationError(field: string, message: string, type = "invalid"): Errors.MoleculerClientError {
	return validationErrors([{ field, message, type }]);
}

export function validationErrors(issues: FieldIssue[]): Errors.MoleculerClientError {
	return new MoleculerClientError(issues[0]?.message ?? "Invalid parameters", 422, "VALIDATION_ERROR", issues);
}

/** 422: `field` nests arrays and objects deeper than `max` levels (lib/validator.ts `nestsDeeperThan`). */
export function nestedTooDeep(field: string, max: number): Errors.MoleculerClientError {
	return validationError(field, `The '${field}' field must not nest deeper than ${max} levels.`, "depth");
}

/**
 * A body field naming something that does not exist is the body's fault: 422 naming the field (type `reference`),
 * not the 404 a path parameter gets. Other errors (403 included) pass through.
 */
export async function referenced<T>(field: string, lookup: Promise<T>): Promise<T> {
	try {
		return await lookup;
	} catch (err) {
		if ((err as { type?: unknown }).type === "NOT_FOUND")
			throw validationError(field, `The '${field}' field names nothing that exists.`, "reference");
		throw err;
	}
}

export function notFound(entity: string, id?: unknown): Errors.MoleculerClientError {
	return new MoleculerClientError(`${entity} not found`, 404, "NOT_FOUND", id === undefined ? undefined : { entity, id });
}

export function unauthorized(message = "Authentication required", code = "UNAUTHORIZED"): Errors.MoleculerClientError {
	return new MoleculerClientError(message, 401, code);
}

export function forbidden(message = "You are not allowed to do this"): Errors.MoleculerClientError {
	return new MoleculerClientError(message, 403, "FORBIDDEN");
}

export function conflict(message: string, code = "CONFLICT", data?: unknown): Errors.MoleculerClientError {
	return new MoleculerClientError(message, 409, code, data);
}

export function tooManyRequests(message: string, code: string, retryAfter: number): Errors.MoleculerClientError {
	return new MoleculerClientError(message, 429, code, { retryAfter });
}

export function serviceUnavailable(message = "Service temporarily unavailable", code = "SERVICE_UNAVAILABLE"): Errors.MoleculerError {
	return new MoleculerError(message, 503, code);
}

/** 403 REGISTRATION_CLOSED: the `registrationOpen` setting is false (self sign-up by password or Google). */
export function registrationClosed(): Errors.MoleculerClientError {
	return new MoleculerClientError("Registration is closed; ask an administrator for an account", 403, "REGISTRATION_CLOSED");
}

/** 503 MAINTENANCE during a maintenance window: `retryAfter` seconds until it ends. */
export function maintenance(message: string, endsAt: string, now = Date.now()): Errors.MoleculerError {
	const retryAfter = Math.max(1, Math.ceil((Date.parse(endsAt) - now) / 1000));
	return new MoleculerError(`Down for maintenance: ${message}`, 503, "MAINTENANCE", { retryAfter, endsAt });
}

export interface ErrorBody {
	error: { code: string; message: string; details?: unknown };
	requestId: string;
}

interface ErrorLike {
	name?: string;
	message?: string;
	code?: unknown;
	status?: unknown;
	type?: unknown;
	data?: unknown;
}

/** Maps any error (Moleculer, moleculer-web, body-parser, unexpected) to a status and the public body. */
export function toErrorResponse(err: unknown, requestId: string): { status: number; body: ErrorBody } {
	const e = (err ?? {}) as ErrorLike;
	const numeric = typeof e.code === "number" ? e.code : typeof e.status === "number" ? e.status : 500;
	let status = numeric >= 400 && numeric < 600 ? numeric : 500;
	const type = typeof e.type === "string" ? e.type : undefined;
	let code: string;
	let message = e.message ?? "Error";
	let details: unknown;

	switch (true) {
		case status === 422 || type === "VALIDATION_ERROR":
			status = 422;
			// A named 422 (IMAGE_TOO_LARGE, IMAGE_UNREADABLE) keeps its code and details; the rest are field lists.
			if (type && type !== "VALIDATION_ERROR" && !Array.isArray(e.data)) {
				code = type;
				details = e.data;
				break;
			}
			code = "VALIDATION_ERROR";
			details = Array.isArray(e.data)
				? (e.data as Array<Record<string, unknown>>).map((d) => ({ field: d.field, message: d.message, type: d.type }))
				: e.data;
			break;
		case type === "MAINTENANCE":
			status = 503;
			code = type;
			details = e.data;
			break;
		// A service whose nodes are all gone (or not yet up) is a transient 503, not a 404.
		case type === "SERVICE_NOT_AVAILABLE" || status === 503:
			status = 503;
			code = "SERVICE_UNAVAILABLE";
			message = "Service temporarily unavailable, try again shortly";
			break;
		case type === "entity.too.large" || status === 413:
			status = 413;
			// Our own 413s name their reason (QUOTA_EXCEEDED, TOO_MANY_FILES) and keep their limits in details.
			if (type && type !== "entity.too.large" && type !== "PAYLOAD_TOO_LARGE") {
				code = type;
				details = e.data;
				break;
			}
			code = "PAYLOAD_TOO_LARGE";
			message = "Request body too large";
			break;
		case type === "entity.parse.failed" || type === "INVALID_REQUEST_BODY":
			status = 400;
			code = "INVALID_JSON";
			message = "Request body is not valid JSON";
			break;
		case status === 404:
			code = type && type !== "NOT_FOUND" && !type.startsWith("SERVICE_") ? type : "NOT_FOUND";
			message = e.name === "NotFoundError" || e.name === "ServiceNotFoundError" ? "Not found" : message;
			details = code === "NOT_FOUND" ? undefined : e.data;
			break;
		// The bulkhead's queue of a remote action is full: its stock message names the action and the node.
		case type === "QUEUE_FULL":
			status = 503;
			code = "SERVICE_UNAVAILABLE";
			message = "Service busy, try again shortly";
			details = { retryAfter: 1 };
			break;
		case status === 429:
			code = type ?? "RATE_LIMITED";
			details = e.data;
			break;
		// A body that cannot be decoded: a corrupt compressed stream (zlib's Z_* codes) or a broken multipart form.
		case (typeof e.code === "string" && e.code.startsWith("Z_")) || type === "INVALID_MULTIPART":
			status = 400;
			code = type === "INVALID_MULTIPART" ? type : "INVALID_BODY";
			message = type === "INVALID_MULTIPART" ? (e.message ?? "Malformed multipart body") : "Request body could not be decoded";
			break;
		case status === 504 || type === "REQUEST_TIMEOUT":
			status = 504;
			code = "TIMEOUT";
			message = "The request timed out";
			break;
		case status >= 500:
			// Never leak internals (SQL, stack, hostnames): the log has them, keyed by requestId.
			status = 500;
			code = "INTERNAL_ERROR";
			message = "Internal server error";
			break;
		default:
			// body-parser's own types ("charset.unsupported", "encoding.unsupported") are not our codes: the status's code is.
			code =
				(type && !type.includes(".") ? type : undefined) ??
				Object.entries(ERROR_CODES).find(([, s]) => s === status)?.[0] ??
				"BAD_REQUEST";
			details = e.data;
	}
	const error: ErrorBody["error"] = { code, message };
	if (details !== undefined && details !== null) error.details = details;
	return { status, body: { error, requestId } };
}
