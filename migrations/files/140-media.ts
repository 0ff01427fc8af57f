import { sql } from "../types";

/**
 * Video transcode jobs (a queue that outlives restarts) and the blurred placeholder of an image.
 * A RUNNING job names its node and beats `heartbeat_at`; one whose node went silent is queued again.
 */
export const media = sql(
	"140-media",
	`
ALTER TABLE :schema.files ADD COLUMN placeholder TEXT CHECK (placeholder IS NULL OR char_length(placeholder) < 1024);
CREATE TABLE :schema.transcode_jobs (
	id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	file_id       UUID NOT NULL REFERENCES :schema.files (id),
	owner_id      UUID NOT NULL,
	requested_by  UUID NOT NULL,
	status        TEXT NOT NULL DEFAULT 'QUEUED' CHECK (status IN ('QUEUED', 'RUNNING', 'DONE', 'FAILED')),
	max_width     INTEGER CHECK (max_width BETWEEN 16 AND 8192),
	crf           INTEGER NOT NULL CHECK (crf BETWEEN 0 AND 51),
	progress      INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
	attempts      INTEGER NOT NULL DEFAULT 0,
	node_id       TEXT,
	heartbeat_at  TIMESTAMPTZ,
	error         TEXT,
	-- { videoVariantId, posterVariantId } once DONE
	result        JSONB,
	created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
	started_at    TIMESTAMPTZ,
	finished_at   TIMESTAMPTZ
);
CREATE INDEX transcode_jobs_queue_idx ON :schema.transcode_jobs (created_at) WHERE status IN ('QUEUED', 'RUNNING');
CREATE INDEX transcode_jobs_file_idx ON :schema.transcode_jobs (file_id);
`,
);
