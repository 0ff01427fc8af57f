/**
 * Access tokens: short HS256 JWTs with iss/aud/jti/sub/role and `typ: "access"`.
 * Verification is local (any gateway node can do it) plus two revocation checks
 * in the shared store: the token's jti (logout) and the user's "valid after"
 * mark (role change, password change, deletion).
 */
import { createSecretKey, randomUUID, type KeyObject } from "node:crypto";
import jwt from "jsonwebtoken";
import { config } from "./config";
import { keyValueStore } from "./kv";
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

export function signAccessToken(user: { id: string; role: Role }, sessionId?: string, familyId?: string): { token: string; jti: string; expiresIn: number } {
	const { secret, accessTtlSec, issuer, audience } = config().jwt;
	const jti = randomUUID();
	// ims: issue time in ms, so a token issued right after a password change is not caught by it.
	const payload: Record<string, unknown> = { role: user.role, typ: "access", ims: Date.now() };
	if (sessionId) payload.sid = sessionId;
	if (familyId) payload.fam = familyId;
	const token = jwt.sign(payload, signingKey(secret), { algorithm: "HS256", expiresIn: accessTtlSec, issuer, audience, subject: user.id, jwtid: jti });
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

const revokedKey = (jti: string) => `revoked:${jti}`;
const validAfterKey = (userId: string) => `valid-after:${userId}`;
const revokedFamilyKey = (familyId: string) => `revoked-family:${familyId}`;

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
	if (claims.typ !== "access" || typeof claims.ims !== "number" || typeof claims.sub !== "string" || typeof claims.jti !== "string" || !ROLES.includes(claims.role)) {
		throw unauthorized("Invalid token", "INVALID_TOKEN");
	}
	return claims as AccessClaims;
}

/** Full check: valid JWT, not logged out, not older than the user's last role/password change. */
export async function verifyAccessToken(token: string): Promise<AuthUser> {
	const claims = decodeAccessToken(token);
	const keys = [revokedKey(claims.jti), validAfterKey(claims.sub)];
	if (typeof claims.fam === "string") keys.push(revokedFamilyKey(claims.fam));
	const [revoked, validAfter, familyRevoked] = await keyValueStore().mget(keys);
	if (revoked || familyRevoked) throw unauthorized("Token revoked", "TOKEN_REVOKED");
	if (validAfter && claims.ims < Number(validAfter)) throw unauthorized("Token revoked", "TOKEN_REVOKED");
	return { id: claims.sub, role: claims.role, jti: claims.jti, exp: claims.exp, sid: claims.sid };
}

/** Logout: the access token is refused until it would have expired anyway. */
export async function revokeAccessToken(jti: string, exp: number): Promise<void> {
	const ttl = exp - Math.floor(Date.now() / 1000);
	if (ttl > 0) await keyValueStore().set(revokedKey(jti), "1", ttl);
}

/** Refresh-token reuse or logout: every access token of that login is refused until it would have expired. */
export async function revokeTokenFamily(familyId: string): Promise<void> {
	await keyValueStore().set(revokedFamilyKey(familyId), "1", config().jwt.accessTtlSec + 1);
}

/**
 * Invalidates every access token of a user issued before `at` (ms). The mark is
 * kept for one access-token lifetime: older tokens have expired by then. The
 * database keeps the same instant as tokens_valid_after for refresh tokens.
 */
export async function invalidateTokensBefore(userId: string, at: Date = new Date()): Promise<Date> {
	await keyValueStore().set(validAfterKey(userId), String(at.getTime()), config().jwt.accessTtlSec + 1);
	return at;
}

/** Bearer token from an Authorization header value. */
export function bearerToken(header: string | undefined): string | undefined {
	if (!header) return undefined;
	const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
	return match?.[1];
}
