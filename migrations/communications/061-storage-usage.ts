import { sql } from "../types";

/** Per-user stored bytes of chat attachments for UPLOAD_QUOTA_BYTES; filled from the attachments already stored. */
export const storageUsage = sql(
	"061-storage-usage",
	`
CREATE TABLE IF NOT EXISTS :schema.storage_usage (
	user_id     UUID PRIMARY KEY,
	bytes       BIGINT NOT NULL DEFAULT 0 CHECK (bytes >= 0),
	updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO :schema.storage_usage (user_id, bytes)
SELECT uploader_id, sum(size) FROM :schema.attachments WHERE deleted_at IS NULL GROUP BY uploader_id
ON CONFLICT (user_id) DO NOTHING;
`,
);
