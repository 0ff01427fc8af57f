import type { Migration } from "../types";
import { commonTables } from "../common";
import { catalogAndFactories } from "./001-catalog-and-factories";

/** The inventory schema's migrations, in order. Append; never edit one that has shipped. */
export const inventoryMigrations: Migration[] = [commonTables, catalogAndFactories];
