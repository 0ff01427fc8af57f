import { sql } from "../types";

/** Shops, staff, shop stock and its movements, POS transactions, purchase orders, reviews. */
export const salesCore = sql(
	"001-sales-core",
	`
CREATE TABLE :schema.shops (
	id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
	address     TEXT NOT NULL,
	phone       TEXT,
	manager_id  UUID,
	hours       JSONB NOT NULL DEFAULT '{}'::jsonb,
	capacity    INTEGER NOT NULL DEFAULT 0 CHECK (capacity >= 0),
	status      TEXT NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'CLOSED', 'TEMPORARILY_CLOSED')),
	created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
	deleted_at  TIMESTAMPTZ
);
CREATE INDEX shops_status_idx ON :schema.shops (status) WHERE deleted_at IS NULL;
CREATE INDEX shops_name_idx ON :schema.shops (lower(name)) WHERE deleted_at IS NULL;
CREATE INDEX shops_manager_idx ON :schema.shops (manager_id);

CREATE TABLE :schema.shop_staff (
	shop_id     UUID NOT NULL REFERENCES :schema.shops (id),
	user_id     UUID NOT NULL,
	assigned_by UUID,
	created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
	PRIMARY KEY (shop_id, user_id)
);
CREATE INDEX shop_staff_user_idx ON :schema.shop_staff (user_id);

-- A shop's stock per flavor. low_alerted remembers that INVENTORY_LOW was sent for the
-- current crossing below reorder_threshold; it resets when stock is back at/above it.
CREATE TABLE :schema.shop_inventory (
	shop_id            UUID NOT NULL REFERENCES :schema.shops (id),
	flavor_id          UUID NOT NULL,
	quantity           INTEGER NOT NULL CHECK (quantity >= 0),
	reorder_threshold  INTEGER NOT NULL DEFAULT 0 CHECK (reorder_threshold >= 0),
	low_alerted        BOOLEAN NOT NULL DEFAULT false,
	created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
	PRIMARY KEY (shop_id, flavor_id)
);
CREATE INDEX shop_inventory_flavor_idx ON :schema.shop_inventory (flavor_id);

CREATE TABLE :schema.stock_movements (
	id               BIGSERIAL PRIMARY KEY,
	shop_id          UUID NOT NULL REFERENCES :schema.shops (id),
	flavor_id        UUID NOT NULL,
	quantity_before  INTEGER NOT NULL,
	quantity_after   INTEGER NOT NULL CHECK (quantity_after >= 0),
	reason           TEXT NOT NULL CHECK (reason IN ('SALE', 'COUNT', 'WASTE', 'CORRECTION', 'RESTOCK', 'DELIVERY')),
	reference_id     UUID,
	note             TEXT,
	actor_id         UUID,
	created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX stock_movements_shop_idx ON :schema.stock_movements (shop_id, flavor_id, created_at);
CREATE INDEX stock_movements_reference_idx ON :schema.stock_movements (reference_id);

CREATE TABLE :schema.transactions (
	id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	shop_id          UUID NOT NULL REFERENCES :schema.shops (id),
	clerk_id         UUID NOT NULL,
	patron_id        UUID,
	total_amount     BIGINT NOT NULL CHECK (total_amount >= 0),
	payment_method   TEXT NOT NULL CHECK (payment_method IN ('CASH', 'CARD', 'MOBILE')),
	idempotency_key  TEXT,
	client_id        UUID,
	request_hash     TEXT,
	occurred_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
	created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- The same Idempotency-Key (per shop and clerk) or offline clientId (per shop) can only make one sale.
CREATE UNIQUE INDEX transactions_idempotency_idx ON :schema.transactions (shop_id, clerk_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX transactions_client_idx ON :schema.transactions (shop_id, client_id) WHERE client_id IS NOT NULL;
CREATE INDEX transactions_shop_time_idx ON :schema.transactions (shop_id, occurred_at);
CREATE INDEX transactions_clerk_idx ON :schema.transactions (shop_id, clerk_id, occurred_at);
CREATE INDEX transactions_patron_idx ON :schema.transactions (patron_id) WHERE patron_id IS NOT NULL;

CREATE TABLE :schema.transaction_items (
	transaction_id  UUID NOT NULL REFERENCES :schema.transactions (id),
	line_no         INTEGER NOT NULL,
	flavor_id       UUID NOT NULL,
	flavor_name     TEXT NOT NULL,
	quantity        INTEGER NOT NULL CHECK (quantity > 0),
	unit_price      BIGINT NOT NULL CHECK (unit_price >= 0),
	line_total      BIGINT NOT NULL CHECK (line_total >= 0),
	PRIMARY KEY (transaction_id, line_no)
);
CREATE INDEX transaction_items_flavor_idx ON :schema.transaction_items (flavor_id);

CREATE TABLE :schema.orders (
	id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	shop_id       UUID NOT NULL REFERENCES :schema.shops (id),
	factory_id    UUID NOT NULL,
	items         JSONB NOT NULL,
	status        TEXT NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'CONFIRMED', 'SHIPPED', 'DELIVERED', 'CANCELLED')),
	requested_by  UUID NOT NULL,
	invoice_id    UUID,
	history       JSONB NOT NULL DEFAULT '[]'::jsonb,
	created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX orders_shop_idx ON :schema.orders (shop_id, created_at);
CREATE INDEX orders_factory_idx ON :schema.orders (factory_id, created_at);
CREATE INDEX orders_status_idx ON :schema.orders (shop_id, status);

CREATE TABLE :schema.reviews (
	id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	shop_id      UUID NOT NULL REFERENCES :schema.shops (id),
	patron_id    UUID NOT NULL,
	rating       INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
	comment      TEXT CHECK (length(comment) <= 2000),
	review_date  DATE NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')::date,
	created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
	deleted_at   TIMESTAMPTZ
);
-- One review per patron per shop per (UTC) day.
CREATE UNIQUE INDEX reviews_one_per_day_idx ON :schema.reviews (shop_id, patron_id, review_date) WHERE deleted_at IS NULL;
CREATE INDEX reviews_shop_idx ON :schema.reviews (shop_id, created_at) WHERE deleted_at IS NULL;
CREATE INDEX reviews_patron_idx ON :schema.reviews (patron_id);
`,
);
