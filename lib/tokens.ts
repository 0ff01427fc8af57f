/**
 * Access tokens: short HS256 JWTs with iss/aud/jti/sub/role and `typ: "access"`.
 * Verification is local (any gateway node can do it), its result cached per token
 * until `exp`, plus the revocation checks against the process's copy of the
 * revocation state (lib/revocation.ts: Redis is the truth, changes are pushed):
 * the token's jti (logout), its refresh family, and the user's "valid after"
 * mark (role change, password change, deletion).
 */
import { createSecretKey, randomUUID, type KeyObject } from "node:crypto";
import jwt from "jsonwebtoken";
import { config } from "./config";
import { recordRevocation, revocations } from "./revocation";
import { unauthorized } from "./errors";
import { ROLES, type AuthUser, type Role } from "./types";

export interface AccessClaims {
	sub: string;
	role: Role;
	jti: string;
	sid?: string;
	/** Refresh-token family (one login on one device): revoked as a whole on reuse or logout. */
	fam?: string;
	typ: "access";
	ims: number;
	iat: number;
	exp: number;
}

// jsonwebtoken turns a string secret into a key on every call, first trying (and failing) to
// parse it as a PEM public key: an exception per request. Build the key once per secret
// (two during a rotation: JWT_SECRET and JWT_SECRET_PREVIOUS).
const keys = new Map<string, KeyObject>();
function signingKey(secret: string): KeyObject {
	let key = keys.get(secret);
	if (!key) {
		if (keys.size >= 4) keys.clear();
		key = createSecretKey(Buffer.from(secret));
		keys.set(secret, key);
	}
	return key;
}

export function signAccessToken(
	user: { id: string; role: Role },
	sessionId?: string,
	familyId?: string,
): { token: string; jti: string; expiresIn: number } {
	const { secret, accessTtlSec, issuer, audience } = config().jwt;
	const jti = randomUUID();
	// ims: issue time in ms, so a token issued right after a password change is not caught by it.
	const payload: Record<string, unknown> = { role: user.role, typ: "access", ims: Date.now() };
	if (sessionId) payload.sid = sessionId;
	if (familyId) payload.fam = familyId;
	const token = jwt.sign(payload, signingKey(secret), {
		algorithm: "HS256",
		expiresIn: accessTtlSec,
		issuer,
		audience,
		subject: user.id,
		jwtid: jti,
	});
	return { token, jti, expiresIn: accessTtlSec };
}

/**
 * Rotation without downtime: tokens are signed with JWT_SECRET only; during the window
 * JWT_SECRET_PREVIOUS still verifies the tokens issued before the switch (at most one
 * access-token lifetime, then unset it).
 */
function verifyWithRotation(token: string, secret: string, previous: string | undefined, options: jwt.VerifyOptions): jwt.JwtPayload {
	try {
		return jwt.verify(token, signingKey(secret), options) as jwt.JwtPayload;
	} catch (err) {
		if (!previous || !(err instanceof jwt.JsonWebTokenError) || err.message !== "invalid signature") throw err;
		return jwt.verify(token, signingKey(previous), options) as jwt.JwtPayload;
	}
}

/** Verifies signature, algorithm, issuer, audience, expiry and type; throws 401 otherwise. No revocation check. */
export function decodeAccessToken(token: string): AccessClaims {
	const { secret, previousSecret, issuer, audience } = config().jwt;
	let claims: jwt.JwtPayload;
	try {
		claims = verifyWithRotation(token, secret, previousSecret, { algorithms: ["HS256"], issuer, audience });
	} catch (err) {
		const expired = err instanceof jwt.TokenExpiredError;
		throw unauthorized(expired ? "Token expired" : "Invalid token", expired ? "TOKEN_EXPIRED" : "INVALID_TOKEN");
	}
	if (
		claims.typ !== "access" ||
		typeof claims.ims !== "number" ||
		typeof claims.sub !== "string" ||
		typeof claims.jti !== "string" ||
		!ROLES.includes(claims.role)
	) {
		throw unauthorized("Invalid token", "INVALID_TOKEN");
	}
	return claims as AccessClaims;
}

/**
 * Verified claims per token until `exp`: signature checking is the costly part of a
 * request's authentication, and a token's claims never change. Bounded; dropped
 * when either secret changes (ending a rotation window drops the old secret's tokens). Revocation is checked on every use, not cached.
 * Keyed by the token's signature part: each request brings the token as a new string, and hashing its ~400
 * characters for the lookup cost more than the rest of the check (~0.6 µs). A hit must be the very same token.
 */
const CLAIMS_CACHE_MAX = 50_000;
let claimsCache = new Map<string, { token: string; claims: AccessClaims }>();
let claimsJwtConfig: object | undefined;
let claimsSecret = "";

function cachedClaims(token: string): AccessClaims {
	const jwtConfig = config().jwt;
	if (jwtConfig !== claimsJwtConfig) {
		const secret = `${jwtConfig.secret}\n${jwtConfig.previousSecret ?? ""}`;
		if (secret !== claimsSecret) claimsCache = new Map();
		claimsSecret = secret;
		claimsJwtConfig = jwtConfig;
	}
	const key = token.slice(token.lastIndexOf(".") + 1);
	const hit = claimsCache.get(key);
	if (hit?.token === token && hit.claims.exp * 1000 > Date.now()) return hit.claims;
	const claims = decodeAccessToken(token);
	claimsCache.delete(key);
	// Oldest first out: Map keeps insertion order.
	if (claimsCache.size >= CLAIMS_CACHE_MAX) claimsCache.delete(claimsCache.keys().next().value as string);
	claimsCache.set(key, { token, claims });
	return claims;
}

/** Full check: valid JWT, not logged out, not older than the user's last role/password change. */
export async function verifyAccessToken(token: string): Promise<AuthUser> {
	const claims = cachedClaims(token);
	await revocations().check(claims);
	return { id: claims.sub, role: claims.role, jti: claims.jti, exp: claims.exp, sid: claims.sid };
}

/** Logout: the access token is refused until it would have expired anyway. */
export async function revokeAccessToken(jti: string, exp: number): Promise<void> {
	const ttl = exp - Math.floor(Date.now() / 1000);
	if (ttl > 0) await recordRevocation("revoked", jti, "1", ttl);
}

/** Refresh-token reuse or logout: every access token of that login is refused until it would have expired. */
export async function revokeTokenFamily(familyId: string): Promise<void> {
	await recordRevocation("revoked-family", familyId, "1", config().jwt.accessTtlSec + 1);
}

/**
 * Invalidates every access token of a user issued before `at` (ms). The mark is
 * kept for one access-token lifetime: older tokens have expired by then. The
 * database keeps the same instant as tokens_valid_after for refresh tokens.
 */
export async function invalidateTokensBefore(userId: string, at: Date = new Date()): Promise<Date> {
	await recordRevocation("valid-after", userId, String(at.getTime()), config().jwt.accessTtlSec + 1);
	return at;
}

/** Bearer token from an Authorization header value. */
export function bearerToken(header: string | undefined): string | undefined {
	if (!header) return undefined;
	const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
	return match?.[1];
}
