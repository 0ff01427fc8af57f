import { sql } from "../types";

/**
 * Which advance notices of a maintenance window were sent (one row per window and
 * lead time). The primary key is the dedupe: several admin nodes run the
 * scheduler, the first insert sends the SYSTEM_ANNOUNCEMENT, the others find the row.
 */
export const maintenanceNotices = sql(
	"150-maintenance-notices",
	`
CREATE TABLE :schema.maintenance_notices (
	window_id     UUID NOT NULL REFERENCES :schema.maintenance_windows (id) ON DELETE CASCADE,
	lead_minutes  INTEGER NOT NULL CHECK (lead_minutes > 0),
	sent_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
	PRIMARY KEY (window_id, lead_minutes)
);
`,
);
