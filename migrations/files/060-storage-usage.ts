import { sql } from "../types";
import { STORAGE_USAGE_TABLE } from "../common";

/** Per-user stored bytes (originals and variants) for UPLOAD_QUOTA_BYTES; filled from the files already stored. */
export const storageUsage = sql(
	"060-storage-usage",
	`
${STORAGE_USAGE_TABLE}INSERT INTO :schema.storage_usage (user_id, bytes)
SELECT f.owner_id, sum(f.size + COALESCE((SELECT sum((v->>'size')::bigint) FROM jsonb_array_elements(f.variants) v), 0))
FROM :schema.files f WHERE f.deleted_at IS NULL GROUP BY f.owner_id
ON CONFLICT (user_id) DO NOTHING;
`,
);
