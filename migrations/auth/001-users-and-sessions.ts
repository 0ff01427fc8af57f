import { sql } from "../types";

export const usersAndSessions = sql(
	"001-users-and-sessions",
	`
CREATE TABLE :schema.users (
	id                  UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	email               TEXT NOT NULL,
	password_hash       TEXT,
	name                TEXT NOT NULL,
	role                TEXT NOT NULL DEFAULT 'PATRON' CHECK (role IN ('PATRON', 'CLERK', 'MANUFACTURER', 'EXECUTIVE', 'ADMIN')),
	phone               TEXT,
	preferences         JSONB NOT NULL DEFAULT '{}'::jsonb,
	status              TEXT NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'INACTIVE')),
	google_sub          TEXT UNIQUE,
	tokens_valid_after  TIMESTAMPTZ NOT NULL DEFAULT to_timestamp(0),
	failed_logins       INTEGER NOT NULL DEFAULT 0,
	locked_until        TIMESTAMPTZ,
	last_login_at       TIMESTAMPTZ,
	created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
	deleted_at          TIMESTAMPTZ,
	CHECK (email = lower(email))
);
-- A deleted user's address may register again; live addresses are unique.
CREATE UNIQUE INDEX users_email_live_idx ON :schema.users (email) WHERE deleted_at IS NULL;
CREATE INDEX users_role_idx ON :schema.users (role) WHERE deleted_at IS NULL;
CREATE INDEX users_created_at_idx ON :schema.users (created_at);

CREATE TABLE :schema.user_sessions (
	id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id      UUID NOT NULL REFERENCES :schema.users (id),
	family_id    UUID NOT NULL,
	token_hash   TEXT NOT NULL UNIQUE,
	expires_at   TIMESTAMPTZ NOT NULL,
	ip_address   TEXT,
	user_agent   TEXT,
	created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
	rotated_at   TIMESTAMPTZ,
	revoked_at   TIMESTAMPTZ
);
CREATE INDEX user_sessions_user_idx ON :schema.user_sessions (user_id);
CREATE INDEX user_sessions_family_idx ON :schema.user_sessions (family_id);

CREATE TABLE :schema.password_reset_tokens (
	id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id     UUID NOT NULL REFERENCES :schema.users (id),
	token_hash  TEXT NOT NULL UNIQUE,
	expires_at  TIMESTAMPTZ NOT NULL,
	used_at     TIMESTAMPTZ,
	created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX password_reset_tokens_user_idx ON :schema.password_reset_tokens (user_id);
`,
);
