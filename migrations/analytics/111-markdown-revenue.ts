import { sql } from "../types";

/**
 * Expiry markdowns (issue #15): per flavor, shop and day, the revenue from marked-down units
 * (revenue recovered from stock near expiry) and the discount given, from the optional
 * `recoveredCents` / `markdownCents` of SALE_COMPLETED lines (0 for lines without them).
 */
export const markdownRevenue = sql(
	"111-markdown-revenue",
	`
ALTER TABLE :schema.product_performance
	ADD COLUMN markdown_revenue  BIGINT NOT NULL DEFAULT 0 CHECK (markdown_revenue >= 0),
	ADD COLUMN markdown_discount BIGINT NOT NULL DEFAULT 0 CHECK (markdown_discount >= 0);
`,
);
