import { sql } from "../types";

/** System settings, maintenance windows, broadcasts and the application log (warn/error entries). */
export const adminTables = sql(
	"001-admin",
	`
CREATE TABLE :schema.settings (
	key          TEXT PRIMARY KEY CHECK (char_length(key) BETWEEN 1 AND 100),
	value        JSONB NOT NULL,
	updated_by   UUID,
	created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE :schema.maintenance_windows (
	id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	starts_at    TIMESTAMPTZ NOT NULL,
	ends_at      TIMESTAMPTZ NOT NULL,
	message      TEXT NOT NULL CHECK (char_length(message) BETWEEN 1 AND 2000),
	created_by   UUID,
	created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
	deleted_at   TIMESTAMPTZ,
	CHECK (ends_at > starts_at)
);
CREATE INDEX maintenance_windows_starts_idx ON :schema.maintenance_windows (starts_at) WHERE deleted_at IS NULL;

CREATE TABLE :schema.broadcasts (
	id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	title        TEXT NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
	message      TEXT NOT NULL CHECK (char_length(message) BETWEEN 1 AND 2000),
	status       TEXT NOT NULL DEFAULT 'DRAFT' CHECK (status IN ('DRAFT', 'SENT', 'ARCHIVED')),
	created_by   UUID,
	sent_at      TIMESTAMPTZ,
	archived_at  TIMESTAMPTZ,
	created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
	deleted_at   TIMESTAMPTZ
);
CREATE INDEX broadcasts_status_idx ON :schema.broadcasts (status, created_at);

CREATE TABLE :schema.app_logs (
	id           BIGSERIAL PRIMARY KEY,
	level        TEXT NOT NULL CHECK (level IN ('warn', 'error')),
	node_id      TEXT NOT NULL,
	service      TEXT,
	action       TEXT,
	message      TEXT NOT NULL,
	code         INTEGER,
	type         TEXT,
	request_id   TEXT,
	created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX app_logs_created_idx ON :schema.app_logs (created_at);
CREATE INDEX app_logs_level_idx ON :schema.app_logs (level, created_at);
`,
);
