/** Password hashing (Argon2id) and policy. */
import argon2 from "argon2";
import { validationError } from "../../lib/errors";

const OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

// Verified against when the account doesn't exist, so both cases cost the same time.
let dummyHash: Promise<string> | undefined;

export function hashPassword(password: string): Promise<string> {
	return argon2.hash(password, OPTIONS);
}

export async function verifyPassword(hash: string | null, password: string): Promise<boolean> {
	const target = hash ?? (await (dummyHash ??= argon2.hash("not-a-real-password", OPTIONS)));
	const ok = await argon2.verify(target, password).catch(() => false);
	return hash !== null && ok;
}

/** Length is checked by the param schema; this adds the rules that need context. */
export function checkPasswordPolicy(password: string, email: string, field = "password"): void {
	const lower = password.toLowerCase();
	if (lower === email.toLowerCase() || lower === email.split("@")[0].toLowerCase()) {
		throw validationError(field, `The '${field}' field must not be your email address.`, "passwordPolicy");
	}
	if (new Set(password).size < 4) throw validationError(field, `The '${field}' field is too simple.`, "passwordPolicy");
}

/** Lockout after repeated failures: 5 free attempts, then 30 s doubling up to 15 min. */
export function lockoutDelaySec(failedLogins: number): number {
	if (failedLogins < 5) return 0;
	return Math.min(30 * 2 ** (failedLogins - 5), 15 * 60);
}
