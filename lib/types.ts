/** Shared types: roles, the authenticated caller, and the meta every call carries. */
import type { Context } from "moleculer";

export const ROLES = ["PATRON", "CLERK", "MANUFACTURER", "EXECUTIVE", "ADMIN"] as const;
export type Role = (typeof ROLES)[number];

/** The caller as the gateway resolved it from a verified access token. */
export interface AuthUser {
	id: string;
	role: Role;
	/** Access token id, for revocation on logout. */
	jti: string;
	/** Access token expiry (epoch seconds). */
	exp: number;
	/** Refresh session the access token belongs to. */
	sid?: string;
}

/** ctx.meta as set by the gateway (HTTP and sockets). */
export interface Meta {
	user?: AuthUser | null;
	ip?: string;
	userAgent?: string;
	idempotencyKey?: string;
	/** `X-Device-Key`, passed on only to actions declared `auth: "device"` (a freezer sensor); the action verifies it. */
	deviceKey?: string;
	/** Conditional and partial-request headers of an HTTP GET, set by the gateway only when sent (file downloads: 304, 206). */
	download?: { ifNoneMatch?: string; ifRange?: string; range?: string };
	$socketId?: string;
	$statusCode?: number;
	$location?: string;
	$responseHeaders?: Record<string, string>;
	$responseType?: string;
}

/** The context every handler gets: its params and the gateway's meta. */
export type Ctx<P = unknown> = Context<P, Meta>;
