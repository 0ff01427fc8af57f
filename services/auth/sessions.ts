/**
 * Refresh tokens: opaque 256-bit random strings, stored only as SHA-256 hashes
 * in user_sessions. Each refresh rotates the token; a session row belongs to a
 * family (one login). Presenting an already-rotated token means it was stolen
 * or replayed: the whole family is revoked.
 */
import { createHash, randomBytes } from "node:crypto";

export function newOpaqueToken(): string {
	return randomBytes(32).toString("base64url");
}

export function hashToken(token: string): string {
	return createHash("sha256").update(token).digest("hex");
}
