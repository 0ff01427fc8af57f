/**
 * Signed, expiring download URLs: `…/content?variant=<id>&exp=<unix s>&sig=<HMAC>` open the bytes without a
 * bearer token, so a CDN can fetch and cache them. The HMAC (SHA-256, FILES_URL_SECRET) covers the file,
 * the variant and the expiry. Expiries are rounded up to a FILES_URL_TTL_SEC step: within a step every
 * reader gets the same URL (one CDN cache entry), valid for at least one TTL and at most two.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { Errors } from "moleculer";
import { config } from "../../lib/config";

const payload = (fileId: string, variantId: string | undefined, exp: number) => `${fileId}\n${variantId ?? ""}\n${exp}`;

export function signature(fileId: string, variantId: string | undefined, exp: number): string {
	return createHmac("sha256", config().media.urlSecret)
		.update(payload(fileId, variantId, exp))
		.digest("base64url");
}

/** The expiry (unix seconds) of URLs handed out at `nowMs`. */
export function signedExpiry(nowMs = Date.now()): number {
	const ttl = config().media.urlTtlSec;
	return (Math.floor(nowMs / 1000 / ttl) + 2) * ttl;
}

/** `url` with `exp` and `sig` appended for the file (and variant). */
export function signUrl(url: string, fileId: string, variantId: string | undefined, exp: number): string {
	return `${url}${url.includes("?") ? "&" : "?"}exp=${exp}&sig=${signature(fileId, variantId, exp)}`;
}

const invalid = (message: string, type: string) => new Errors.MoleculerClientError(message, 403, type);

/** Checks a signed request: 403 INVALID_SIGNATURE for a wrong one, 403 URL_EXPIRED past `exp`. Returns seconds left. */
export function verifySigned(fileId: string, variantId: string | undefined, exp: number, sig: string, nowMs = Date.now()): number {
	const expected = Buffer.from(signature(fileId, variantId, exp));
	const given = Buffer.from(sig);
	if (given.length !== expected.length || !timingSafeEqual(given, expected))
		throw invalid("The download link's signature is not valid", "INVALID_SIGNATURE");
	const left = exp - Math.floor(nowMs / 1000);
	if (left <= 0) throw invalid("The download link has expired", "URL_EXPIRED");
	return left;
}
