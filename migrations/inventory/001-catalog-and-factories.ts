import { sql } from "../types";

/** Flavor catalog, factories and their budget history. */
export const catalogAndFactories = sql(
	"001-catalog-and-factories",
	`
CREATE TABLE :schema.flavors (
	id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
	description  TEXT NOT NULL DEFAULT '',
	category     TEXT NOT NULL,
	price        INTEGER NOT NULL CHECK (price >= 0),
	ingredients  TEXT[] NOT NULL DEFAULT '{}',
	allergens    TEXT[] NOT NULL DEFAULT '{}'
	             CHECK (allergens <@ ARRAY['celery','crustaceans','eggs','fish','gluten','lupin','milk','molluscs','mustard','nuts','peanuts','sesame','soya','sulphites']::TEXT[]),
	images       TEXT[] NOT NULL DEFAULT '{}',
	created_by   UUID,
	archived_at  TIMESTAMPTZ,
	created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- One live flavor per name (case-insensitive); archived ones keep their history.
CREATE UNIQUE INDEX flavors_name_live_idx ON :schema.flavors (lower(name)) WHERE archived_at IS NULL;
CREATE INDEX flavors_category_idx ON :schema.flavors (category) WHERE archived_at IS NULL;
CREATE INDEX flavors_allergens_idx ON :schema.flavors USING GIN (allergens);
CREATE INDEX flavors_created_at_idx ON :schema.flavors (created_at);

CREATE TABLE :schema.factories (
	id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	name              TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
	location          TEXT NOT NULL DEFAULT '',
	manager_id        UUID,
	budget_allocated  BIGINT NOT NULL DEFAULT 0 CHECK (budget_allocated >= 0),
	status            TEXT NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'INACTIVE')),
	created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
	deleted_at        TIMESTAMPTZ
);
CREATE UNIQUE INDEX factories_name_live_idx ON :schema.factories (lower(name)) WHERE deleted_at IS NULL;
CREATE INDEX factories_manager_idx ON :schema.factories (manager_id);
CREATE INDEX factories_created_at_idx ON :schema.factories (created_at);

CREATE TABLE :schema.factory_budget_changes (
	id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	factory_id        UUID NOT NULL REFERENCES :schema.factories (id),
	previous_amount   BIGINT NOT NULL CHECK (previous_amount >= 0),
	budget_allocated  BIGINT NOT NULL CHECK (budget_allocated >= 0),
	reason            TEXT NOT NULL,
	changed_by        UUID,
	created_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX factory_budget_changes_factory_idx ON :schema.factory_budget_changes (factory_id, created_at);
`,
);
