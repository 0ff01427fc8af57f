import { sql } from "../types";
import { STORAGE_USAGE_TABLE } from "../common";

/** Per-user stored bytes of chat attachments for UPLOAD_QUOTA_BYTES; filled from the attachments already stored. */
export const storageUsage = sql(
	"061-storage-usage",
	`
${STORAGE_USAGE_TABLE}INSERT INTO :schema.storage_usage (user_id, bytes)
SELECT uploader_id, sum(size) FROM :schema.attachments WHERE deleted_at IS NULL GROUP BY uploader_id
ON CONFLICT (user_id) DO NOTHING;
`,
);
