import type { Migration } from "../types";
import { commonTables, eventStreamTables, outboxWakeUp } from "../common";
import { catalogAndFactories } from "./001-catalog-and-factories";
import { stockInvoicesSuppliers } from "./002-stock-invoices-suppliers";

/** The inventory schema's migrations, in order. Append; never edit one that has shipped. */
export const inventoryMigrations: Migration[] = [commonTables, catalogAndFactories, stockInvoicesSuppliers, outboxWakeUp, eventStreamTables];
