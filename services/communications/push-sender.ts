/**
 * One Web Push request: the `web-push` package signs (VAPID) and encrypts
 * (aes128gcm, RFC 8291) the payload, and this module sends it and reads the push
 * service's answer. Sent here rather than by web-push's own request so that a time
 * limit covers the whole exchange, a local http push service can stand in for the
 * real one in development and tests, and (in production) an endpoint that is or
 * resolves to an internal address is never contacted (lib/internal-address.ts).
 */
import http from "node:http";
import https from "node:https";
import webpush from "web-push";
import { guardedLookup, InternalAddressError, isInternalHostLiteral } from "../../lib/internal-address";

export interface PushTarget {
	endpoint: string;
	p256dh: string;
	auth: string;
}

export interface VapidDetails {
	subject: string;
	publicKey: string;
	privateKey: string;
}

/** What the push service's answer means for the queued row. */
export type PushOutcome =
	| { kind: "SENT"; status: number }
	/** 404/410, or an endpoint on an internal address: the subscription will never work; remove it. */
	| { kind: "GONE"; status: number | null; reason: string }
	/** 429, 5xx, network trouble: try again later (`retryAfterSec` from the answer, if any). */
	| { kind: "RETRY"; status: number | null; retryAfterSec: number | null; error: string }
	/** Any other 4xx: this request will never succeed (bad payload, wrong VAPID key); drop it. */
	| { kind: "DROP"; status: number; error: string };

const SEND_TIMEOUT_MS = 10_000;
/** Push services keep an undelivered message this long (seconds). */
export const PUSH_TTL_SEC = 24 * 3600;

/** `Retry-After` as seconds (delta or HTTP date); null when absent or unreadable. */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | null {
	if (!header) return null;
	if (/^\d+$/.test(header.trim())) return Number(header.trim());
	const at = Date.parse(header);
	return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

export async function sendPush(
	target: PushTarget,
	payload: string,
	vapid: VapidDetails,
	urgency: "normal" | "high" = "normal",
	guardInternal = true,
): Promise<PushOutcome> {
	const details = webpush.generateRequestDetails(
		{ endpoint: target.endpoint, keys: { p256dh: target.p256dh, auth: target.auth } },
		payload,
		{
			vapidDetails: vapid,
			contentEncoding: "aes128gcm",
			TTL: PUSH_TTL_SEC,
			urgency,
		},
	);
	const headers: Record<string, string> = {};
	for (const [name, value] of Object.entries(details.headers)) headers[name] = String(value);
	let res: { status: number; retryAfter: string | null };
	try {
		res = await post(details.endpoint, headers, details.body ?? Buffer.alloc(0), guardInternal);
	} catch (err) {
		if (err instanceof InternalAddressError) return { kind: "GONE", status: null, reason: err.message };
		return { kind: "RETRY", status: null, retryAfterSec: null, error: (err as Error).message };
	}
	const status = res.status;
	if (status >= 200 && status < 300) return { kind: "SENT", status };
	if (status === 404 || status === 410) return { kind: "GONE", status, reason: `HTTP ${status}` };
	if (status === 429 || status >= 500)
		return { kind: "RETRY", status, retryAfterSec: retryAfterSeconds(res.retryAfter), error: `HTTP ${status}` };
	return { kind: "DROP", status, error: `HTTP ${status}` };
}

/** One POST, the answer's body drained; no redirects followed; SEND_TIMEOUT_MS for all of it. */
function post(
	endpoint: string,
	headers: Record<string, string>,
	body: Buffer,
	guardInternal: boolean,
): Promise<{ status: number; retryAfter: string | null }> {
	const url = new URL(endpoint);
	// An address in the URL is never looked up: judge it here.
	if (guardInternal && isInternalHostLiteral(url.hostname)) return Promise.reject(new InternalAddressError(url.hostname));
	const request = url.protocol === "https:" ? https.request : http.request;
	return new Promise((resolve, reject) => {
		const req = request(
			url,
			{ method: "POST", headers, lookup: guardInternal ? guardedLookup : undefined, signal: AbortSignal.timeout(SEND_TIMEOUT_MS) },
			(res) => {
				res.resume();
				res.on("error", reject);
				res.on("end", () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"] ?? null }));
			},
		);
		req.on("error", reject);
		req.end(body);
	});
}

/** Backoff before attempt `attempts + 1`: 2^(attempts-1) s, at most an hour; the service's Retry-After wins when longer. */
export function backoffSeconds(attempts: number, retryAfterSec: number | null): number {
	const exponential = Math.min(3600, 2 ** Math.max(0, attempts - 1));
	return Math.min(3600, Math.max(exponential, retryAfterSec ?? 0));
}

export function generateVapidKeys(): { publicKey: string; privateKey: string } {
	return webpush.generateVAPIDKeys();
}
