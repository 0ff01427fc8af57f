import { sql } from "../types";

/**
 * Waste as it happened: one row per STOCK_WRITTEN_OFF envelope (from sales' and inventory's
 * outboxes). `factory_id` is where a factory wrote stock off, `shop_id` where a shop did;
 * `batch_id` (the factory batch, inventory.stock_items.id) ties a shop's write-off back to the
 * factory that made it (via stock_registrations). `cost_cents` is the total cost of the units.
 */
export const writeOffs = sql(
	"160-write-offs",
	`
CREATE TABLE :schema.write_offs (
	event_id    UUID PRIMARY KEY,
	batch_id    UUID,
	shop_id     UUID,
	factory_id  UUID,
	flavor_id   UUID NOT NULL,
	quantity    INTEGER NOT NULL CHECK (quantity > 0),
	reason      TEXT NOT NULL,
	cost_cents  BIGINT NOT NULL CHECK (cost_cents >= 0),
	occurred_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX write_offs_time_idx ON :schema.write_offs (occurred_at);
CREATE INDEX write_offs_batch_idx ON :schema.write_offs (batch_id) WHERE batch_id IS NOT NULL;
`,
);
