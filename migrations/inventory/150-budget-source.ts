import { sql } from "../types";

/**
 * Where a budget change came from: `api` (an EXECUTIVE through the API, every row so far)
 * or `kafka:<envelope source>` (BUDGET_ALLOCATION_UPDATED from an external finance system).
 */
export const budgetSource = sql(
	"150-budget-source",
	`
ALTER TABLE :schema.factory_budget_changes ADD COLUMN source TEXT NOT NULL DEFAULT 'api' CHECK (char_length(source) BETWEEN 1 AND 100);
`,
);
