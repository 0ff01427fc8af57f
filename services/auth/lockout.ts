/**
 * Per-account lockout after repeated failed logins (schedule in passwords.ts):
 * an account's counter lives in auth.users and is incremented atomically, so a
 * burst of parallel guesses is counted in full. An email without an account gets
 * the same schedule from a counter in the shared key-value store, so the answers
 * (401, then 429 ACCOUNT_LOCKED with Retry-After) never tell the two apart.
 */
import { QueryTypes, type Sequelize } from "sequelize";
import { keyValueStore } from "../../lib/kv";
import { tooManyRequests } from "../../lib/errors";
import { lockoutDelaySec } from "./passwords";
import { hashToken } from "./sessions";

/** Counters for unknown emails are forgotten after the longest lock. */
const UNKNOWN_TTL_SEC = 15 * 60;

const unknownKey = (email: string) => `login-fail:${hashToken(email.toLowerCase())}`;

interface UnknownState {
	failed: number;
	lockedUntil: number | null;
}

async function unknownState(email: string): Promise<UnknownState> {
	const raw = await keyValueStore().get(unknownKey(email));
	return raw ? (JSON.parse(raw) as UnknownState) : { failed: 0, lockedUntil: null };
}

/** The lock of an email: the account's, or the phantom one of an email without an account. */
export async function currentLock(email: string, account: { lockedUntil: Date | null } | null): Promise<Date | null> {
	if (account) return account.lockedUntil;
	const { lockedUntil } = await unknownState(email);
	return lockedUntil ? new Date(lockedUntil) : null;
}

/** 429 while locked (the gateway turns details.retryAfter into the Retry-After header). */
export function assertNotLocked(lockedUntil: Date | null): void {
	if (!lockedUntil || lockedUntil.getTime() <= Date.now()) return;
	const retryAfter = Math.max(1, Math.ceil((lockedUntil.getTime() - Date.now()) / 1000));
	throw tooManyRequests("Too many failed attempts, try again later", "ACCOUNT_LOCKED", retryAfter);
}

/** Counts a failed login of an account (atomic increment) and locks it when the schedule says so. */
export async function recordAccountFailure(db: Sequelize, schema: string, userId: string): Promise<void> {
	const rows = await db.query<{ failed_logins: number }>(
		`UPDATE "${schema}".users SET failed_logins = failed_logins + 1 WHERE id = :userId RETURNING failed_logins`,
		{
			replacements: { userId },
			type: QueryTypes.SELECT,
		},
	);
	const delay = lockoutDelaySec(rows[0]?.failed_logins ?? 0);
	if (!delay) return;
	await db.query(
		`UPDATE "${schema}".users SET locked_until = :until WHERE id = :userId AND (locked_until IS NULL OR locked_until < :until)`,
		{
			replacements: { userId, until: new Date(Date.now() + delay * 1000) },
		},
	);
}

/** The same for an email without an account (not atomic: there is no account to protect, only the answer). */
export async function recordUnknownFailure(email: string): Promise<void> {
	const state = await unknownState(email);
	const failed = state.failed + 1;
	const delay = lockoutDelaySec(failed);
	const next: UnknownState = { failed, lockedUntil: delay ? Date.now() + delay * 1000 : state.lockedUntil };
	await keyValueStore().set(unknownKey(email), JSON.stringify(next), UNKNOWN_TTL_SEC);
}
