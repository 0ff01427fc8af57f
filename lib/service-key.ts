/**
 * Proof of origin for broker traffic between nodes: an HMAC-SHA256 with the
 * deployment's SERVICE_KEY over the packet kind, the action or event name, the
 * context id, the stream chunk number, the target node and a timestamp.
 * A node that reached the transporter without the key cannot make one.
 *
 * Checks: the MAC (constant-time, with the current key or, during a rotation,
 * the previous one), the timestamp within ±WINDOW_MS of this node's clock, and
 * replay: a MAC seen in the window is refused (ReplayGuard).
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** Meta key carrying the proof; removed before any handler sees the meta. */
export const PROOF_META = "$svcProof";
/** How far a proof's timestamp may be from the receiver's clock (also how long MACs are remembered). */
export const WINDOW_MS = 30_000;
const VERSION = "v1";

export interface ProofInput {
	/** "REQ" or "EVENT". */
	kind: string;
	/** Action or event name. */
	name: string;
	/** Context id. */
	id: string;
	/** Stream chunk number (requests with a stream), else undefined. */
	seq?: number;
	/** Receiving node, or "" for an untargeted packet. */
	target: string;
}

export interface ServiceKeys {
	current: string;
	previous?: string;
}

function mac(key: string, input: ProofInput, ts: number): Buffer {
	return createHmac("sha256", key)
		.update(`${VERSION}|${input.kind}|${input.name}|${input.id}|${input.seq ?? ""}|${input.target}|${ts}`)
		.digest();
}

/** "v1.<ts>.<mac base64url>" */
export function signProof(key: string, input: ProofInput, now = Date.now()): string {
	return `${VERSION}.${now}.${mac(key, input, now).toString("base64url")}`;
}

export type ProofFailure = "missing" | "malformed" | "expired" | "bad-signature" | "replayed";

/** Remembers MACs for one window so a captured packet cannot be delivered twice. */
export class ReplayGuard {
	private readonly seen = new Map<string, number>();

	constructor(private readonly ttlMs = 2 * WINDOW_MS) {}

	/** True the first time a MAC is offered within its lifetime. */
	firstSeen(key: string, now = Date.now()): boolean {
		this.prune(now);
		if (this.seen.has(key)) return false;
		this.seen.set(key, now + this.ttlMs);
		return true;
	}

	get size(): number {
		return this.seen.size;
	}

	// Entries are inserted in time order, so the expired ones are at the front.
	private prune(now: number): void {
		for (const [key, expires] of this.seen) {
			if (expires > now) break;
			this.seen.delete(key);
		}
	}
}

/** Checks a proof for the packet facts `inputs` (several when the target may be this node or none). */
export function verifyProof(
	keys: ServiceKeys,
	proof: unknown,
	inputs: ProofInput[],
	guard: ReplayGuard,
	now = Date.now(),
): ProofFailure | undefined {
	if (proof === undefined || proof === null) return "missing";
	if (typeof proof !== "string" || proof.length > 200) return "malformed";
	const [version, tsText, macText] = proof.split(".");
	if (version !== VERSION || !/^\d{1,15}$/.test(tsText ?? "") || !macText) return "malformed";
	const ts = Number(tsText);
	if (Math.abs(now - ts) > WINDOW_MS) return "expired";
	const given = Buffer.from(macText, "base64url");
	const candidates = [keys.current, keys.previous].filter((k): k is string => Boolean(k));
	const valid = candidates.some((key) =>
		inputs.some((input) => {
			const expected = mac(key, input, ts);
			return expected.length === given.length && timingSafeEqual(expected, given);
		}),
	);
	if (!valid) return "bad-signature";
	if (!guard.firstSeen(macText, now)) return "replayed";
	return undefined;
}
