import { sql } from "../types";

/**
 * Aggregates fed only by events (SALE_COMPLETED, STOCK_REGISTERED, INVENTORY_LOW, REVIEW_SUBMITTED,
 * BUDGET_ALLOCATION_UPDATED, USER_LOGIN, EXPIRY_WARNING), plus stored reports and their schedules.
 * Days are UTC dates. Money in integer cents.
 */
export const analyticsCore = sql(
	"001-analytics-core",
	`
CREATE TABLE :schema.sale_facts (
	transaction_id UUID PRIMARY KEY,
	shop_id        UUID NOT NULL,
	clerk_id       UUID,
	patron_id      UUID,
	total_amount   BIGINT NOT NULL CHECK (total_amount >= 0),
	item_count     INTEGER NOT NULL CHECK (item_count >= 0),
	payment_method TEXT NOT NULL,
	occurred_at    TIMESTAMPTZ NOT NULL,
	created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX sale_facts_shop_time_idx ON :schema.sale_facts (shop_id, occurred_at);
CREATE INDEX sale_facts_time_idx ON :schema.sale_facts (occurred_at);
CREATE INDEX sale_facts_patron_idx ON :schema.sale_facts (patron_id) WHERE patron_id IS NOT NULL;

CREATE TABLE :schema.daily_sales (
	shop_id           UUID NOT NULL,
	date              DATE NOT NULL,
	total_sales       BIGINT NOT NULL DEFAULT 0 CHECK (total_sales >= 0),
	transaction_count INTEGER NOT NULL DEFAULT 0 CHECK (transaction_count >= 0),
	items_sold        INTEGER NOT NULL DEFAULT 0 CHECK (items_sold >= 0),
	updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
	PRIMARY KEY (shop_id, date)
);
CREATE INDEX daily_sales_date_idx ON :schema.daily_sales (date);

CREATE TABLE :schema.product_performance (
	flavor_id    UUID NOT NULL,
	shop_id      UUID NOT NULL,
	date         DATE NOT NULL,
	sales_volume INTEGER NOT NULL DEFAULT 0 CHECK (sales_volume >= 0),
	revenue      BIGINT NOT NULL DEFAULT 0 CHECK (revenue >= 0),
	updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
	PRIMARY KEY (flavor_id, shop_id, date)
);
CREATE INDEX product_performance_date_idx ON :schema.product_performance (date);
CREATE INDEX product_performance_shop_idx ON :schema.product_performance (shop_id, date);

CREATE TABLE :schema.stock_registrations (
	stock_item_id   UUID PRIMARY KEY,
	factory_id      UUID NOT NULL,
	flavor_id       UUID NOT NULL,
	batch_id        TEXT NOT NULL,
	quantity        INTEGER NOT NULL CHECK (quantity >= 0),
	cost            BIGINT NOT NULL CHECK (cost >= 0),
	production_date DATE NOT NULL,
	expiry_date     DATE NOT NULL,
	registered_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX stock_registrations_factory_idx ON :schema.stock_registrations (factory_id, production_date);
CREATE INDEX stock_registrations_flavor_idx ON :schema.stock_registrations (flavor_id, production_date);

CREATE TABLE :schema.expiry_warnings (
	stock_item_id UUID PRIMARY KEY,
	factory_id    UUID NOT NULL,
	flavor_id     UUID NOT NULL,
	batch_id      TEXT NOT NULL,
	quantity      INTEGER NOT NULL CHECK (quantity >= 0),
	expiry_date   DATE NOT NULL,
	manager_id    UUID,
	warned_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX expiry_warnings_factory_idx ON :schema.expiry_warnings (factory_id, expiry_date);
CREATE INDEX expiry_warnings_expiry_idx ON :schema.expiry_warnings (expiry_date);

CREATE TABLE :schema.low_stock_alerts (
	event_id          UUID PRIMARY KEY,
	shop_id           UUID NOT NULL,
	flavor_id         UUID NOT NULL,
	quantity          INTEGER NOT NULL,
	reorder_threshold INTEGER NOT NULL,
	occurred_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX low_stock_alerts_shop_idx ON :schema.low_stock_alerts (shop_id, occurred_at);

CREATE TABLE :schema.review_facts (
	review_id   UUID PRIMARY KEY,
	shop_id     UUID NOT NULL,
	patron_id   UUID NOT NULL,
	rating      INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
	occurred_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX review_facts_shop_idx ON :schema.review_facts (shop_id, occurred_at);
CREATE INDEX review_facts_patron_idx ON :schema.review_facts (patron_id);

CREATE TABLE :schema.factory_budgets (
	factory_id       UUID PRIMARY KEY,
	budget_allocated BIGINT NOT NULL CHECK (budget_allocated >= 0),
	changes          INTEGER NOT NULL DEFAULT 1,
	updated_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE :schema.user_activity (
	id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	event_id   UUID NOT NULL UNIQUE,
	user_id    UUID NOT NULL,
	type       TEXT NOT NULL,
	metadata   JSONB NOT NULL DEFAULT '{}'::jsonb,
	timestamp  TIMESTAMPTZ NOT NULL
);
CREATE INDEX user_activity_user_idx ON :schema.user_activity (user_id, timestamp);
CREATE INDEX user_activity_time_idx ON :schema.user_activity (timestamp);

CREATE TABLE :schema.report_schedules (
	id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	type        TEXT NOT NULL CHECK (type IN ('SALES', 'PRODUCTS', 'REVENUE', 'INVENTORY', 'WASTE', 'LOCATIONS')),
	interval    TEXT NOT NULL CHECK (interval IN ('DAILY', 'WEEKLY')),
	filters     JSONB NOT NULL DEFAULT '{}'::jsonb,
	created_by  UUID,
	next_run_at TIMESTAMPTZ NOT NULL,
	last_run_at TIMESTAMPTZ,
	created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
	deleted_at  TIMESTAMPTZ
);
CREATE INDEX report_schedules_due_idx ON :schema.report_schedules (next_run_at) WHERE deleted_at IS NULL;

CREATE TABLE :schema.reports (
	id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	type        TEXT NOT NULL CHECK (type IN ('SALES', 'PRODUCTS', 'REVENUE', 'INVENTORY', 'WASTE', 'LOCATIONS')),
	date_from   DATE NOT NULL,
	date_to     DATE NOT NULL CHECK (date_to >= date_from),
	filters     JSONB NOT NULL DEFAULT '{}'::jsonb,
	result      JSONB NOT NULL,
	created_by  UUID,
	schedule_id UUID REFERENCES :schema.report_schedules (id),
	created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX reports_schedule_idx ON :schema.reports (schedule_id);
CREATE INDEX reports_created_by_idx ON :schema.reports (created_by);
`,
);
