import { sql } from "../types";

/**
 * The batches sales knows are recalled (from BATCH_RECALLED): a delivery that brings units of
 * one after the recall receives them as a RECALLED lot, never a sellable one.
 */
export const recalledBatches = sql(
	"113-recalled-batches",
	`
CREATE TABLE :schema.recalled_batches (
	stock_item_id  UUID PRIMARY KEY,
	reason         TEXT NOT NULL,
	event_id       UUID NOT NULL,
	recalled_at    TIMESTAMPTZ NOT NULL
);
`,
);
