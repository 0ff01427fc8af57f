import { sql } from "../types";

/**
 * Money columns that were 32-bit INTEGER become BIGINT cents, like every other
 * money column: the API accepts up to MAX_CENTS (lib/params.ts), 10^11, and a
 * price or cost of 2^31 cents or more overflowed into a 500. Widening keeps every
 * value, and running it again on a BIGINT column changes nothing.
 */
export const moneyBigint = sql(
	"050-money-bigint",
	`
ALTER TABLE :schema.flavors ALTER COLUMN price TYPE BIGINT;
ALTER TABLE :schema.stock_items ALTER COLUMN cost TYPE BIGINT;
ALTER TABLE :schema.invoice_lines ALTER COLUMN unit_price TYPE BIGINT;
`,
);
