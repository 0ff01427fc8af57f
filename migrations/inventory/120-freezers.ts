import { sql } from "../types";

/**
 * Cold chain (services/inventory/freezers.service.ts): freezers at a shop or a factory,
 * their sensor readings and excursions. A freezer's device key is stored only as its
 * SHA-256 (the key itself is shown once, at creation or rotation). The excursion state of
 * the current run of warm readings lives on the freezer row, which ingest locks, so
 * concurrent posts for one freezer detect an excursion exactly once.
 * Factory batches get a freezer (NULL = not assigned: presumed in every freezer of the
 * factory) and a quarantine mark, which invoice allocation skips.
 */
export const freezers = sql(
	"120-freezers",
	`
CREATE TABLE :schema.freezers (
	id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	name              TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
	shop_id           UUID,
	factory_id        UUID REFERENCES :schema.factories (id),
	key_hash          TEXT NOT NULL,
	key_rotated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
	last_reading_at   TIMESTAMPTZ,
	last_celsius      REAL,
	above_since       TIMESTAMPTZ,
	run_max_celsius   REAL,
	excursion_id      UUID,
	created_by        UUID,
	created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
	CONSTRAINT freezers_one_owner CHECK ((shop_id IS NULL) <> (factory_id IS NULL))
);
CREATE INDEX freezers_shop_idx ON :schema.freezers (shop_id) WHERE shop_id IS NOT NULL;
CREATE INDEX freezers_factory_idx ON :schema.freezers (factory_id) WHERE factory_id IS NOT NULL;

-- One reading per freezer and instant: a sensor gateway that retries a batch changes nothing.
CREATE TABLE :schema.freezer_readings (
	freezer_id  UUID NOT NULL REFERENCES :schema.freezers (id),
	at          TIMESTAMPTZ NOT NULL,
	celsius     REAL NOT NULL,
	PRIMARY KEY (freezer_id, at)
);

CREATE TABLE :schema.freezer_excursions (
	id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	freezer_id   UUID NOT NULL REFERENCES :schema.freezers (id),
	started_at   TIMESTAMPTZ NOT NULL,
	detected_at  TIMESTAMPTZ NOT NULL,
	ended_at     TIMESTAMPTZ,
	max_celsius  REAL NOT NULL,
	event_id     UUID NOT NULL,
	created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX freezer_excursions_freezer_idx ON :schema.freezer_excursions (freezer_id, started_at);

ALTER TABLE :schema.stock_items ADD COLUMN freezer_id UUID REFERENCES :schema.freezers (id);
ALTER TABLE :schema.stock_items ADD COLUMN quarantined_at TIMESTAMPTZ;
CREATE INDEX stock_items_freezer_idx ON :schema.stock_items (freezer_id) WHERE freezer_id IS NOT NULL;
`,
);
