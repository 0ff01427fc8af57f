import type { Migration } from "../types";
import { commonTables } from "../common";

/** The inventory schema's migrations, in order. Append; never edit one that has shipped. */
export const inventoryMigrations: Migration[] = [commonTables];
