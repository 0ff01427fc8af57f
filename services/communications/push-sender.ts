/**
 * One Web Push request: the `web-push` package signs (VAPID) and encrypts
 * (aes128gcm, RFC 8291) the payload, and this module sends it and reads the push
 * service's answer. Sent with fetch rather than web-push's own https.request so
 * that a time limit covers the whole exchange (and a local http push service can
 * stand in for the real one in development and tests).
 */
import webpush from "web-push";

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
	/** 404/410: the subscription is gone for good; remove it. */
	| { kind: "GONE"; status: number }
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
	for (const [name, value] of Object.entries(details.headers)) if (name.toLowerCase() !== "content-length") headers[name] = String(value);
	let res: Response;
	try {
		res = await fetch(details.endpoint, {
			method: "POST",
			headers,
			body: details.body ?? undefined,
			redirect: "manual",
			signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
		});
		await res.arrayBuffer().catch(() => undefined);
	} catch (err) {
		return { kind: "RETRY", status: null, retryAfterSec: null, error: (err as Error).message };
	}
	const status = res.status;
	if (status >= 200 && status < 300) return { kind: "SENT", status };
	if (status === 404 || status === 410) return { kind: "GONE", status };
	if (status === 429 || status >= 500)
		return { kind: "RETRY", status, retryAfterSec: retryAfterSeconds(res.headers.get("retry-after")), error: `HTTP ${status}` };
	return { kind: "DROP", status, error: `HTTP ${status}` };
}

/** Backoff before attempt `attempts + 1`: 2^(attempts-1) s, at most an hour; the service's Retry-After wins when longer. */
export function backoffSeconds(attempts: number, retryAfterSec: number | null): number {
	const exponential = Math.min(3600, 2 ** Math.max(0, attempts - 1));
	return Math.min(3600, Math.max(exponential, retryAfterSec ?? 0));
}

export function generateVapidKeys(): { publicKey: string; privateKey: string } {
	return webpush.generateVAPIDKeys();
}
