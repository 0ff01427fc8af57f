import { sql } from "../types";

/** Uploaded files: one row per upload, bytes under FILES_DIR/files, compressed variants as JSON. */
export const files = sql(
	"001-files",
	`
CREATE TABLE :schema.files (
	id             UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	owner_id       UUID NOT NULL,
	original_name  TEXT NOT NULL CHECK (char_length(original_name) BETWEEN 1 AND 200),
	mime_type      TEXT NOT NULL,
	size           BIGINT NOT NULL CHECK (size > 0),
	sha256         CHAR(64) NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
	storage_key    TEXT NOT NULL UNIQUE,
	-- [{ id, storageKey, mimeType, size, width, height, quality, createdAt }]
	variants       JSONB NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(variants) = 'array'),
	created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
	deleted_at     TIMESTAMPTZ
);
CREATE INDEX files_owner_created_idx ON :schema.files (owner_id, created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX files_sha256_idx ON :schema.files (sha256);
`,
);
