import { sql } from "../types";

/**
 * Stock batches (FEFO: allocation walks a factory's live batches of a flavor by
 * expiry date), their movements, expiry warnings sent, suppliers, invoices with
 * per-line batch allocations, and consumption recorded from sales.
 */
export const stockInvoicesSuppliers = sql(
	"002-stock-invoices-suppliers",
	`
CREATE TABLE :schema.stock_items (
	id                 UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	factory_id         UUID NOT NULL REFERENCES :schema.factories (id),
	flavor_id          UUID NOT NULL REFERENCES :schema.flavors (id),
	batch_id           TEXT NOT NULL CHECK (length(batch_id) BETWEEN 1 AND 64),
	initial_quantity   INTEGER NOT NULL CHECK (initial_quantity > 0),
	quantity           INTEGER NOT NULL CHECK (quantity >= 0),
	cost               INTEGER NOT NULL CHECK (cost >= 0),
	production_date    DATE NOT NULL,
	expiry_date        DATE NOT NULL,
	warning_days       INTEGER CHECK (warning_days BETWEEN 0 AND 365),
	written_off_at     TIMESTAMPTZ,
	created_by         UUID,
	created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
	deleted_at         TIMESTAMPTZ,
	CONSTRAINT stock_items_expiry_after_production CHECK (expiry_date > production_date),
	-- A batch label is unique within its factory, removed batches included (labels are physical).
	CONSTRAINT stock_items_factory_batch_key UNIQUE (factory_id, batch_id)
);
-- FEFO walk: live, non-empty batches of one flavor at one factory, earliest expiry first.
CREATE INDEX stock_items_fefo_idx ON :schema.stock_items (factory_id, flavor_id, expiry_date, production_date) WHERE deleted_at IS NULL AND quantity > 0;
CREATE INDEX stock_items_flavor_idx ON :schema.stock_items (flavor_id);
CREATE INDEX stock_items_expiry_idx ON :schema.stock_items (expiry_date) WHERE deleted_at IS NULL AND quantity > 0;
CREATE INDEX stock_items_factory_production_idx ON :schema.stock_items (factory_id, production_date);

CREATE TABLE :schema.stock_movements (
	id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	stock_item_id   UUID NOT NULL REFERENCES :schema.stock_items (id),
	factory_id      UUID NOT NULL REFERENCES :schema.factories (id),
	kind            TEXT NOT NULL CHECK (kind IN ('PRODUCTION', 'ADJUSTMENT', 'ALLOCATION', 'RELEASE', 'WRITE_OFF', 'REMOVAL')),
	delta           INTEGER NOT NULL,
	quantity_after  INTEGER NOT NULL CHECK (quantity_after >= 0),
	reason          TEXT NOT NULL,
	invoice_id      UUID,
	actor_id        UUID,
	created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX stock_movements_item_idx ON :schema.stock_movements (stock_item_id, created_at);
CREATE INDEX stock_movements_factory_kind_idx ON :schema.stock_movements (factory_id, kind, created_at);
CREATE INDEX stock_movements_invoice_idx ON :schema.stock_movements (invoice_id) WHERE invoice_id IS NOT NULL;

-- One EXPIRY_WARNING per batch and window: a row here means it was published.
CREATE TABLE :schema.expiry_warnings (
	stock_item_id  UUID NOT NULL REFERENCES :schema.stock_items (id),
	warning_days   INTEGER NOT NULL,
	expiry_date    DATE NOT NULL,
	event_id       UUID NOT NULL,
	created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
	PRIMARY KEY (stock_item_id, warning_days, expiry_date)
);

CREATE TABLE :schema.suppliers (
	id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	name             TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
	contact_email    TEXT NOT NULL,
	contact_phone    TEXT NOT NULL,
	contact_address  TEXT,
	specialties      TEXT[] NOT NULL DEFAULT '{}',
	rating           NUMERIC(2, 1) NOT NULL DEFAULT 0 CHECK (rating BETWEEN 0 AND 5),
	created_by       UUID,
	created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
	deleted_at       TIMESTAMPTZ
);
CREATE UNIQUE INDEX suppliers_name_live_idx ON :schema.suppliers (lower(name)) WHERE deleted_at IS NULL;
CREATE INDEX suppliers_specialties_idx ON :schema.suppliers USING GIN (specialties);
CREATE INDEX suppliers_rating_idx ON :schema.suppliers (rating);
CREATE INDEX suppliers_created_at_idx ON :schema.suppliers (created_at);

CREATE TABLE :schema.invoices (
	id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	factory_id       UUID NOT NULL REFERENCES :schema.factories (id),
	shop_id          UUID NOT NULL,
	order_id         UUID,
	source_event_id  UUID,
	total_amount     BIGINT NOT NULL CHECK (total_amount >= 0),
	status           TEXT NOT NULL DEFAULT 'ISSUED' CHECK (status IN ('ISSUED', 'PAID', 'OVERDUE', 'VOID')),
	due_date         DATE NOT NULL,
	has_backorders   BOOLEAN NOT NULL DEFAULT false,
	notes            TEXT,
	created_by       UUID,
	paid_at          TIMESTAMPTZ,
	voided_at        TIMESTAMPTZ,
	created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
	-- One invoice per purchase order, and per consumed event.
	CONSTRAINT invoices_order_key UNIQUE (order_id),
	CONSTRAINT invoices_source_event_key UNIQUE (source_event_id)
);
CREATE INDEX invoices_factory_idx ON :schema.invoices (factory_id, created_at);
CREATE INDEX invoices_shop_idx ON :schema.invoices (shop_id, created_at);
CREATE INDEX invoices_status_due_idx ON :schema.invoices (status, due_date);
CREATE INDEX invoices_due_date_idx ON :schema.invoices (due_date);
CREATE INDEX invoices_created_at_idx ON :schema.invoices (created_at);

-- flavor_id has no FK: an order may name a flavor the catalog no longer knows (the line is then backordered at price 0).
CREATE TABLE :schema.invoice_lines (
	id                    UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	invoice_id            UUID NOT NULL REFERENCES :schema.invoices (id),
	line_no               INTEGER NOT NULL CHECK (line_no > 0),
	flavor_id             UUID NOT NULL,
	flavor_name           TEXT NOT NULL,
	quantity_ordered      INTEGER NOT NULL CHECK (quantity_ordered > 0),
	quantity_allocated    INTEGER NOT NULL CHECK (quantity_allocated >= 0),
	quantity_backordered  INTEGER NOT NULL CHECK (quantity_backordered >= 0),
	unit_price            INTEGER NOT NULL CHECK (unit_price >= 0),
	line_total            BIGINT NOT NULL CHECK (line_total >= 0),
	CHECK (quantity_allocated + quantity_backordered = quantity_ordered),
	UNIQUE (invoice_id, line_no)
);
CREATE INDEX invoice_lines_flavor_idx ON :schema.invoice_lines (flavor_id);

CREATE TABLE :schema.invoice_allocations (
	id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	invoice_line_id  UUID NOT NULL REFERENCES :schema.invoice_lines (id),
	stock_item_id    UUID NOT NULL REFERENCES :schema.stock_items (id),
	quantity         INTEGER NOT NULL CHECK (quantity > 0),
	released_at      TIMESTAMPTZ,
	created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX invoice_allocations_line_idx ON :schema.invoice_allocations (invoice_line_id);
CREATE INDEX invoice_allocations_stock_item_idx ON :schema.invoice_allocations (stock_item_id);

-- Units sold per shop, flavor and day (from SALE_COMPLETED), for turnover and demand.
CREATE TABLE :schema.consumption_daily (
	shop_id     UUID NOT NULL,
	flavor_id   UUID NOT NULL,
	day         DATE NOT NULL,
	quantity    BIGINT NOT NULL DEFAULT 0 CHECK (quantity >= 0),
	revenue     BIGINT NOT NULL DEFAULT 0 CHECK (revenue >= 0),
	sales       INTEGER NOT NULL DEFAULT 0 CHECK (sales >= 0),
	updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
	PRIMARY KEY (shop_id, flavor_id, day)
);
CREATE INDEX consumption_daily_flavor_day_idx ON :schema.consumption_daily (flavor_id, day);
CREATE INDEX consumption_daily_day_idx ON :schema.consumption_daily (day);
`,
);
