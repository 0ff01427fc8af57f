import { sql } from "../types";

/**
 * Email verification (Google sign-in links only to verified accounts): when the address was
 * proven, and the single-use verification tokens (stored hashed, bound to the address mailed).
 * Accounts that already signed in with Google had their address verified by Google.
 */
export const emailVerification = sql(
	"080-email-verification",
	`
ALTER TABLE :schema.users ADD COLUMN IF NOT EXISTS email_verified_at TIMESTAMPTZ;
UPDATE :schema.users SET email_verified_at = created_at WHERE google_sub IS NOT NULL AND email_verified_at IS NULL;

CREATE TABLE IF NOT EXISTS :schema.email_verification_tokens (
	id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id     UUID NOT NULL REFERENCES :schema.users (id),
	email       TEXT NOT NULL,
	token_hash  TEXT NOT NULL UNIQUE,
	expires_at  TIMESTAMPTZ NOT NULL,
	used_at     TIMESTAMPTZ,
	created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS email_verification_tokens_user_idx ON :schema.email_verification_tokens (user_id, created_at);
`,
);
