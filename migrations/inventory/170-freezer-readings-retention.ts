import { sql } from "../types";

/**
 * The readings retention job (services/inventory/readings-retention.service.ts) deletes by age:
 * a BRIN index on `at` finds the old pages (readings arrive in time order) at a fraction of a
 * B-tree's size and write cost. The primary key (freezer_id, at) cannot serve a query on `at` alone.
 */
export const freezerReadingsRetention = sql(
	"170-freezer-readings-retention",
	`
CREATE INDEX freezer_readings_at_brin ON :schema.freezer_readings USING brin (at);
`,
);
