import { sql } from "../types";

/**
 * Lots at shops (batch traceability): a shop's stock of one flavor, split by the factory
 * batch it came from. `stock_item_id` is the factory batch (inventory.stock_items.id, a
 * reference across schemas, so no foreign key); NULL is the shop's UNTRACKED lot of that
 * flavor (manual count increases with no batch). `shop_inventory.quantity` stays the
 * per-flavor total; 111-lot-totals keeps it equal to the sum of the lots.
 */
export const stockLots = sql(
	"110-stock-lots",
	`
CREATE TABLE :schema.stock_lots (
	id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	shop_id         UUID NOT NULL REFERENCES :schema.shops (id),
	flavor_id       UUID NOT NULL,
	stock_item_id   UUID,
	batch_label     TEXT CHECK (length(batch_label) BETWEEN 1 AND 64),
	factory_id      UUID,
	expiry_date     DATE,
	unit_cost       BIGINT NOT NULL DEFAULT 0 CHECK (unit_cost >= 0),
	quantity        INTEGER NOT NULL CHECK (quantity >= 0),
	status          TEXT NOT NULL DEFAULT 'SELLABLE' CHECK (status IN ('SELLABLE', 'RECALLED', 'QUARANTINED')),
	freezer_id      UUID,
	received_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
	CONSTRAINT stock_lots_untracked_has_no_batch CHECK (stock_item_id IS NOT NULL OR (batch_label IS NULL AND expiry_date IS NULL)),
	CONSTRAINT stock_lots_shop_flavor_batch_key UNIQUE NULLS NOT DISTINCT (shop_id, flavor_id, stock_item_id)
);
-- FEFO walk at the POS: a shop's sellable lots of one flavor, earliest expiry first (UNTRACKED last).
CREATE INDEX stock_lots_fefo_idx ON :schema.stock_lots (shop_id, flavor_id, expiry_date NULLS LAST, received_at) WHERE quantity > 0;
CREATE INDEX stock_lots_batch_idx ON :schema.stock_lots (stock_item_id) WHERE stock_item_id IS NOT NULL;
CREATE INDEX stock_lots_freezer_idx ON :schema.stock_lots (freezer_id) WHERE freezer_id IS NOT NULL;
`,
);
