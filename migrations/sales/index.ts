import type { Migration } from "../types";
import { commonTables } from "../common";

/** The sales schema's migrations, in order. Append; never edit one that has shipped. */
export const salesMigrations: Migration[] = [commonTables];
