import { sql } from "../types";

/**
 * An invoice remembers that its order was shipped (`shipped_at`), set by `inventory.invoices.markShipped`
 * under the invoice's row lock before sales records the order SHIPPED. Voiding takes the same lock, so a VOID
 * and a shipment of the same order are ordered: the later one sees the earlier and is refused (409).
 */
export const invoiceShipped = sql(
	"230-invoice-shipped",
	`
ALTER TABLE :schema.invoices ADD COLUMN shipped_at TIMESTAMPTZ;
`,
);
