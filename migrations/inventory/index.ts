import type { Migration } from "../types";
import { commonTables, eventStreamTables, outboxTxid, processedEventsAge, streamAttempts } from "../common";
import { catalogAndFactories } from "./001-catalog-and-factories";
import { stockInvoicesSuppliers } from "./002-stock-invoices-suppliers";
import { moneyBigint } from "./050-money-bigint";
import { batchRecall } from "./111-batch-recall";
import { freezers } from "./120-freezers";
import { budgetSource } from "./150-budget-source";
import { supplierDeliveries } from "./160-supplier-deliveries";
import { freezerReadingsRetention } from "./170-freezer-readings-retention";
import { invoiceShipped } from "./230-invoice-shipped";

/** The inventory schema's migrations, in order. Append; never edit one that has shipped. */
export const inventoryMigrations: Migration[] = [
	commonTables,
	catalogAndFactories,
	stockInvoicesSuppliers,
	outboxTxid,
	moneyBigint,
	eventStreamTables,
	batchRecall,
	freezers,
	budgetSource,
	supplierDeliveries,
	freezerReadingsRetention,
	streamAttempts,
	processedEventsAge,
	invoiceShipped,
];
