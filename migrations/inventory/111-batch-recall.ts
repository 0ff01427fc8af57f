import { sql } from "../types";

/**
 * Batch recall (issue #15): a recalled batch is never allocated again (invoicing skips it),
 * its factory remainder is written off, and shops' lots of it stop selling (sales consumes
 * BATCH_RECALLED). One recall per batch.
 */
export const batchRecall = sql(
	"111-batch-recall",
	`
ALTER TABLE :schema.stock_items
	ADD COLUMN recalled_at   TIMESTAMPTZ,
	ADD COLUMN recall_reason TEXT CHECK (length(recall_reason) BETWEEN 1 AND 500),
	ADD COLUMN recalled_by   UUID;
CREATE INDEX invoice_allocations_live_batch_idx ON :schema.invoice_allocations (stock_item_id) WHERE released_at IS NULL;
`,
);
