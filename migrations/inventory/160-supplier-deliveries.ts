import { sql } from "../types";

/**
 * Supplier deliveries as facts (supplier performance: on-time rate, rejection rate, lead time).
 * `items` is the delivered lines [{ name, quantity }]; `quantity` their total units, of which
 * `rejected_quantity` were refused at the gate. `ordered_date` is optional (lead time needs it).
 */
export const supplierDeliveries = sql(
	"160-supplier-deliveries",
	`
CREATE TABLE :schema.supplier_deliveries (
	id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	supplier_id       UUID NOT NULL REFERENCES :schema.suppliers (id),
	factory_id        UUID REFERENCES :schema.factories (id),
	ordered_date      DATE,
	promised_date     DATE NOT NULL,
	received_date     DATE NOT NULL,
	items             JSONB NOT NULL,
	quantity          INTEGER NOT NULL CHECK (quantity > 0),
	rejected_quantity INTEGER NOT NULL DEFAULT 0 CHECK (rejected_quantity >= 0 AND rejected_quantity <= quantity),
	notes             TEXT,
	recorded_by       UUID,
	created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
	CHECK (ordered_date IS NULL OR (ordered_date <= promised_date AND ordered_date <= received_date))
);
CREATE INDEX supplier_deliveries_received_idx ON :schema.supplier_deliveries (received_date);
CREATE INDEX supplier_deliveries_supplier_idx ON :schema.supplier_deliveries (supplier_id, received_date);
`,
);
