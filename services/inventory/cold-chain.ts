/**
 * Cold-chain rules as plain functions (docs/inventory.md, "Cold chain"):
 * - device keys: random (256 bits), shown once, stored as SHA-256 and looked up by that hash;
 * - excursions: readings above COLD_CHAIN_MAX_C without a break for longer than
 *   COLD_CHAIN_GRACE_MIN. Detection runs on ingest, over the freezer's readings in
 *   time order, so it fires on the first reading past the grace period, once per run
 *   of warm readings; a reading at or below the limit ends the run (and the excursion).
 */
import { createHash, randomBytes } from "node:crypto";

const KEY_PREFIX = "frz_";

/** A new device key (shown once) and the hash that is stored. */
export function newDeviceKey(): { key: string; hash: string } {
	const key = KEY_PREFIX + randomBytes(32).toString("base64url");
	return { key, hash: hashDeviceKey(key) };
}

export function hashDeviceKey(key: string): string {
	return createHash("sha256").update(key).digest("hex");
}

export interface Reading {
	at: Date;
	celsius: number;
}

/** What the freezer row remembers between batches. */
export interface RunState {
	lastReadingAt: Date | null;
	/** First reading of the current run above the limit (null: the last reading was cold enough). */
	aboveSince: Date | null;
	runMaxCelsius: number | null;
	/** The current run was already reported as an excursion. */
	reported: boolean;
}

export interface Detected {
	startedAt: Date;
	/** The reading that passed the grace period. */
	detectedAt: Date;
	maxCelsius: number;
	/** The reading that ended it, when that came in the same batch. */
	endedAt: Date | null;
}

export interface Advance {
	state: RunState;
	/** Excursions first reported by this batch. */
	detected: Detected[];
	/** The excursion reported before this batch: its highest reading so far and, if it ended, when. */
	previous: { maxCelsius: number; endedAt: Date | null } | null;
}

/**
 * Runs the batch's readings (any order) through the run state. Readings at or before the
 * last one already seen are stored by the caller but do not move the state: a late or
 * repeated reading cannot reopen or split a run.
 */
export function advance(state: RunState, readings: Reading[], rule: { maxC: number; graceMin: number }): Advance {
	const graceMs = rule.graceMin * 60_000;
	const s: RunState = { ...state };
	const detected: Detected[] = [];
	const previous: Advance["previous"] = state.reported ? { maxCelsius: state.runMaxCelsius ?? rule.maxC, endedAt: null } : null;
	let open: Detected | null = null;
	const fresh = readings.filter((r) => !s.lastReadingAt || r.at > s.lastReadingAt).sort((a, b) => a.at.getTime() - b.at.getTime());
	for (const r of fresh) {
		if (r.celsius > rule.maxC) {
			s.aboveSince ??= r.at;
			s.runMaxCelsius = Math.max(s.runMaxCelsius ?? r.celsius, r.celsius);
			if (open) open.maxCelsius = s.runMaxCelsius;
			else if (previous && previous.endedAt === null && s.reported) previous.maxCelsius = s.runMaxCelsius;
			if (!s.reported && r.at.getTime() - s.aboveSince.getTime() > graceMs) {
				open = { startedAt: s.aboveSince, detectedAt: r.at, maxCelsius: s.runMaxCelsius, endedAt: null };
				detected.push(open);
				s.reported = true;
			}
		} else {
			if (open) open.endedAt = r.at;
			else if (previous && previous.endedAt === null && s.reported) previous.endedAt = r.at;
			open = null;
			Object.assign(s, { aboveSince: null, runMaxCelsius: null, reported: false });
		}
		s.lastReadingAt = r.at;
	}
	return { state: s, detected, previous };
}
