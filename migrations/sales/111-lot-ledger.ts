import { sql } from "../types";

/**
 * Lots at shops, part 2 (issue #15): the per-flavor total is the sum of the lots,
 * and what happened to each lot is recorded.
 *
 * - Existing stock becomes each shop's UNTRACKED lot of that flavor.
 * - `shop_inventory.quantity = sum(stock_lots.quantity)` per (shop, flavor) is checked at
 *   commit by a deferred constraint trigger on both tables: every writer (POS, counts,
 *   deliveries) changes both in one transaction, and one that forgets cannot commit.
 * - `transaction_lots`: which lots each sale line drew, how many, at what unit price.
 * - `lot_ledger`: receipts and write-offs per lot (the trace's "delivered" and "written off").
 * - `markdown_policies`: expiry markdown tiers per shop; the row with shop_id NULL is the chain default.
 */
export const lotLedger = sql(
	"111-lot-ledger",
	`
INSERT INTO :schema.stock_lots (shop_id, flavor_id, quantity)
SELECT shop_id, flavor_id, quantity FROM :schema.shop_inventory WHERE quantity > 0;

CREATE FUNCTION :schema.check_lot_total() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
	v_shop uuid;
	v_flavor uuid;
	v_total integer;
	v_lots bigint;
BEGIN
	IF TG_OP = 'DELETE' THEN
		v_shop := OLD.shop_id; v_flavor := OLD.flavor_id;
	ELSE
		v_shop := NEW.shop_id; v_flavor := NEW.flavor_id;
	END IF;
	-- One statement (this runs for every changed row at commit, the POS's included).
	SELECT COALESCE((SELECT quantity FROM :schema.shop_inventory WHERE shop_id = v_shop AND flavor_id = v_flavor), 0),
	       COALESCE((SELECT sum(quantity) FROM :schema.stock_lots WHERE shop_id = v_shop AND flavor_id = v_flavor), 0)
	  INTO v_total, v_lots;
	IF v_total <> v_lots THEN
		RAISE EXCEPTION 'Stock of flavor % at shop % is % but its lots hold %', v_flavor, v_shop, v_total, v_lots
			USING ERRCODE = 'check_violation', CONSTRAINT = 'shop_inventory_equals_lots';
	END IF;
	RETURN NULL;
END $fn$;

CREATE CONSTRAINT TRIGGER stock_lots_total AFTER INSERT OR DELETE ON :schema.stock_lots
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION :schema.check_lot_total();
-- A status change (recall, quarantine) moves no units: not checked.
CREATE CONSTRAINT TRIGGER stock_lots_total_update AFTER UPDATE OF quantity, shop_id, flavor_id ON :schema.stock_lots
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
	WHEN (OLD.quantity IS DISTINCT FROM NEW.quantity OR OLD.shop_id IS DISTINCT FROM NEW.shop_id OR OLD.flavor_id IS DISTINCT FROM NEW.flavor_id)
	EXECUTE FUNCTION :schema.check_lot_total();
CREATE CONSTRAINT TRIGGER shop_inventory_total AFTER INSERT ON :schema.shop_inventory
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION :schema.check_lot_total();
CREATE CONSTRAINT TRIGGER shop_inventory_total_update AFTER UPDATE OF quantity ON :schema.shop_inventory
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.quantity IS DISTINCT FROM NEW.quantity) EXECUTE FUNCTION :schema.check_lot_total();

-- The POS updates lots on every sale: an index whose predicate reads quantity (110's FEFO index) makes each
-- such update non-HOT (a new entry in every index). Same index without the predicate; lots are few per flavor.
DROP INDEX :schema.stock_lots_fefo_idx;
CREATE INDEX stock_lots_fefo_idx ON :schema.stock_lots (shop_id, flavor_id, expiry_date NULLS LAST, received_at);
ALTER TABLE :schema.stock_lots SET (fillfactor = 80);

-- Which lots a sale line drew (FEFO), and the unit price charged for them (markdowns).
-- Written only by sales.pos_sale, in the sale's own statement, from rows it has just written or locked:
-- no foreign keys (their checks would cost the hot path two lookups per lot drawn).
CREATE TABLE :schema.transaction_lots (
	transaction_id  UUID NOT NULL,
	line_no         INTEGER NOT NULL,
	lot_id          UUID NOT NULL,
	shop_id         UUID NOT NULL,
	stock_item_id   UUID,
	quantity        INTEGER NOT NULL CHECK (quantity > 0),
	unit_price      BIGINT NOT NULL CHECK (unit_price >= 0),
	percent_off     INTEGER NOT NULL DEFAULT 0 CHECK (percent_off BETWEEN 0 AND 100),
	PRIMARY KEY (transaction_id, line_no, lot_id)
);
CREATE INDEX transaction_lots_batch_idx ON :schema.transaction_lots (stock_item_id) WHERE stock_item_id IS NOT NULL;

-- Receipts (deliveries, count increases) and write-offs (count decreases, recalls, quarantine) per lot.
CREATE TABLE :schema.lot_ledger (
	id             BIGSERIAL PRIMARY KEY,
	lot_id         UUID NOT NULL REFERENCES :schema.stock_lots (id),
	shop_id        UUID NOT NULL,
	flavor_id      UUID NOT NULL,
	stock_item_id  UUID,
	kind           TEXT NOT NULL CHECK (kind IN ('RECEIVED', 'WRITTEN_OFF')),
	quantity       INTEGER NOT NULL CHECK (quantity > 0),
	reason         TEXT NOT NULL,
	reference_id   UUID,
	cost_cents     BIGINT NOT NULL DEFAULT 0 CHECK (cost_cents >= 0),
	actor_id       UUID,
	created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX lot_ledger_batch_idx ON :schema.lot_ledger (stock_item_id, kind) WHERE stock_item_id IS NOT NULL;
CREATE INDEX lot_ledger_shop_idx ON :schema.lot_ledger (shop_id, created_at);

-- Expiry markdown tiers [{daysLeft, percentOff}]; shop_id NULL = the chain-wide default.
CREATE TABLE :schema.markdown_policies (
	shop_id     UUID REFERENCES :schema.shops (id),
	tiers       JSONB NOT NULL,
	updated_by  UUID,
	updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
	CONSTRAINT markdown_policies_shop_key UNIQUE NULLS NOT DISTINCT (shop_id)
);
`,
);
