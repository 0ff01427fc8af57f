import { sql } from "../types";

/**
 * The single-column CHECK constraints of the tables a POS sale writes become domains (issue #12).
 *
 * PostgreSQL reads a table's CHECK constraints from their stored text and plans them again in every
 * statement that writes the table (ExecRelCheck), and checks all of them on every UPDATE, whichever
 * columns it sets. A sale writes seven tables, each in its own statement: 18 checks parsed per sale, about
 * a tenth of its PostgreSQL CPU (perf: stringToNode, expression_planner). A domain's checks are parsed
 * once per connection (the type cache) and run only for the columns a statement sets. Measured with a
 * one-backend loop of 5-sale batches: 2,366 / 2,502 / 2,385 → 2,661 / 2,680 / 2,582 sales/s.
 *
 * No table is rewritten: a column changed to a domain that has constraints is rewritten with all its indexes
 * (under an exclusive lock: minutes on a chain's years of sales), to a domain without any only relabelled. So the
 * domains are created bare, the columns changed, and the rules added `NOT VALID`: enforced from then on for every
 * value written, and not re-checked on the rows already there, which the table constraints dropped in the same
 * transaction had checked. (Measured on a 10,000-row copy: the table's and its index's relfilenode unchanged; with
 * the constraints on the domain first, a new relfilenode.)
 *
 * The rules are the same, value for value (NULL passes, as it did). Each domain's constraint is named
 * `<column>_check`, so a violation still names its column (mixins/db.mixin.ts maps it to the API field).
 * The multi-column `stock_lots_untracked_has_no_batch` stays a table constraint. The lot-total triggers
 * (111-lot-ledger, 230-pos-sale-own-lot-check) depend on `quantity` and are dropped and created again
 * unchanged around the type change.
 */
export const saleCheckDomains = sql(
	"240-sale-check-domains",
	`
CREATE DOMAIN :schema.stock_quantity AS integer;
CREATE DOMAIN :schema.line_quantity AS integer;
CREATE DOMAIN :schema.reorder_threshold AS integer;
CREATE DOMAIN :schema.quantity_after AS integer;
CREATE DOMAIN :schema.percent_off AS integer;
CREATE DOMAIN :schema.unit_price AS bigint;
CREATE DOMAIN :schema.unit_cost AS bigint;
CREATE DOMAIN :schema.line_total AS bigint;
CREATE DOMAIN :schema.total_amount AS bigint;
CREATE DOMAIN :schema.payment_method AS text;
CREATE DOMAIN :schema.lot_status AS text;
CREATE DOMAIN :schema.batch_label AS text;
CREATE DOMAIN :schema.movement_reason AS text;
CREATE DOMAIN :schema.audit_outcome AS text;

DROP TRIGGER stock_lots_total ON :schema.stock_lots;
DROP TRIGGER stock_lots_total_update ON :schema.stock_lots;
DROP TRIGGER shop_inventory_total ON :schema.shop_inventory;
DROP TRIGGER shop_inventory_total_update ON :schema.shop_inventory;

ALTER TABLE :schema.shop_inventory
	DROP CONSTRAINT shop_inventory_quantity_check, ALTER COLUMN quantity TYPE :schema.stock_quantity,
	DROP CONSTRAINT shop_inventory_reorder_threshold_check, ALTER COLUMN reorder_threshold TYPE :schema.reorder_threshold;
ALTER TABLE :schema.stock_lots
	DROP CONSTRAINT stock_lots_quantity_check, ALTER COLUMN quantity TYPE :schema.stock_quantity,
	DROP CONSTRAINT stock_lots_unit_cost_check, ALTER COLUMN unit_cost TYPE :schema.unit_cost,
	DROP CONSTRAINT stock_lots_status_check, ALTER COLUMN status TYPE :schema.lot_status,
	DROP CONSTRAINT stock_lots_batch_label_check, ALTER COLUMN batch_label TYPE :schema.batch_label;
ALTER TABLE :schema.stock_movements
	DROP CONSTRAINT stock_movements_quantity_after_check, ALTER COLUMN quantity_after TYPE :schema.quantity_after,
	DROP CONSTRAINT stock_movements_reason_check, ALTER COLUMN reason TYPE :schema.movement_reason;
ALTER TABLE :schema.transactions
	DROP CONSTRAINT transactions_payment_method_check, ALTER COLUMN payment_method TYPE :schema.payment_method,
	DROP CONSTRAINT transactions_total_amount_check, ALTER COLUMN total_amount TYPE :schema.total_amount;
ALTER TABLE :schema.transaction_items
	DROP CONSTRAINT transaction_items_quantity_check, ALTER COLUMN quantity TYPE :schema.line_quantity,
	DROP CONSTRAINT transaction_items_unit_price_check, ALTER COLUMN unit_price TYPE :schema.unit_price,
	DROP CONSTRAINT transaction_items_line_total_check, ALTER COLUMN line_total TYPE :schema.line_total;
ALTER TABLE :schema.transaction_lots
	DROP CONSTRAINT transaction_lots_quantity_check, ALTER COLUMN quantity TYPE :schema.line_quantity,
	DROP CONSTRAINT transaction_lots_unit_price_check, ALTER COLUMN unit_price TYPE :schema.unit_price,
	DROP CONSTRAINT transaction_lots_percent_off_check, ALTER COLUMN percent_off TYPE :schema.percent_off;
ALTER TABLE :schema.audit_log
	DROP CONSTRAINT audit_log_outcome_check, ALTER COLUMN outcome TYPE :schema.audit_outcome;

CREATE CONSTRAINT TRIGGER stock_lots_total AFTER INSERT OR DELETE ON :schema.stock_lots
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION :schema.check_lot_total();
CREATE CONSTRAINT TRIGGER stock_lots_total_update AFTER UPDATE OF quantity, shop_id, flavor_id ON :schema.stock_lots
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
	WHEN ((OLD.quantity IS DISTINCT FROM NEW.quantity OR OLD.shop_id IS DISTINCT FROM NEW.shop_id OR OLD.flavor_id IS DISTINCT FROM NEW.flavor_id)
	      AND current_setting('eislager.pos_sale_stock', true) IS DISTINCT FROM 'on')
	EXECUTE FUNCTION :schema.check_lot_total();
CREATE CONSTRAINT TRIGGER shop_inventory_total AFTER INSERT ON :schema.shop_inventory
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION :schema.check_lot_total();
CREATE CONSTRAINT TRIGGER shop_inventory_total_update AFTER UPDATE OF quantity ON :schema.shop_inventory
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
	WHEN (OLD.quantity IS DISTINCT FROM NEW.quantity AND current_setting('eislager.pos_sale_stock', true) IS DISTINCT FROM 'on')
	EXECUTE FUNCTION :schema.check_lot_total();

ALTER DOMAIN :schema.stock_quantity ADD CONSTRAINT quantity_check CHECK (VALUE >= 0) NOT VALID;
ALTER DOMAIN :schema.line_quantity ADD CONSTRAINT quantity_check CHECK (VALUE > 0) NOT VALID;
ALTER DOMAIN :schema.reorder_threshold ADD CONSTRAINT reorder_threshold_check CHECK (VALUE >= 0) NOT VALID;
ALTER DOMAIN :schema.quantity_after ADD CONSTRAINT quantity_after_check CHECK (VALUE >= 0) NOT VALID;
ALTER DOMAIN :schema.percent_off ADD CONSTRAINT percent_off_check CHECK (VALUE BETWEEN 0 AND 100) NOT VALID;
ALTER DOMAIN :schema.unit_price ADD CONSTRAINT unit_price_check CHECK (VALUE >= 0) NOT VALID;
ALTER DOMAIN :schema.unit_cost ADD CONSTRAINT unit_cost_check CHECK (VALUE >= 0) NOT VALID;
ALTER DOMAIN :schema.line_total ADD CONSTRAINT line_total_check CHECK (VALUE >= 0) NOT VALID;
ALTER DOMAIN :schema.total_amount ADD CONSTRAINT total_amount_check CHECK (VALUE >= 0) NOT VALID;
ALTER DOMAIN :schema.payment_method ADD CONSTRAINT payment_method_check CHECK (VALUE IN ('CASH', 'CARD', 'MOBILE')) NOT VALID;
ALTER DOMAIN :schema.lot_status ADD CONSTRAINT status_check CHECK (VALUE IN ('SELLABLE', 'RECALLED', 'QUARANTINED')) NOT VALID;
ALTER DOMAIN :schema.batch_label ADD CONSTRAINT batch_label_check CHECK (length(VALUE) BETWEEN 1 AND 64) NOT VALID;
ALTER DOMAIN :schema.movement_reason ADD CONSTRAINT reason_check CHECK (VALUE IN ('SALE', 'COUNT', 'WASTE', 'CORRECTION', 'RESTOCK', 'DELIVERY')) NOT VALID;
ALTER DOMAIN :schema.audit_outcome ADD CONSTRAINT outcome_check CHECK (VALUE IN ('SUCCESS', 'FAILURE')) NOT VALID;
`,
);
