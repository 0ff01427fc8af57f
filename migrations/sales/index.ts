import type { Migration } from "../types";
import { commonTables, eventStreamTables, outboxTxid, processedEventsAge, streamAttempts } from "../common";
import { salesCore } from "./001-sales-core";
import { posSaleFunction } from "./030-pos-sale-function";
import { stockLots } from "./110-stock-lots";
import { lotLedger } from "./111-lot-ledger";
import { posSaleFefo } from "./112-pos-sale-fefo";
import { recalledBatches } from "./113-recalled-batches";
import { shopCoordinates } from "./160-shop-coordinates";
import { posSaleLean } from "./190-pos-sale-lean";
import { posSaleBatch } from "./200-pos-sale-batch";
import { posSaleIndexed } from "./201-pos-sale-indexed";
import { posSaleOwnLotCheck } from "./230-pos-sale-own-lot-check";
import { saleCheckDomains } from "./240-sale-check-domains";
import { posSaleBatchTogether } from "./241-pos-sale-batch-together";

/** The sales schema's migrations, in order. Append; never edit one that has shipped. */
export const salesMigrations: Migration[] = [
	commonTables,
	salesCore,
	outboxTxid,
	posSaleFunction,
	eventStreamTables,
	stockLots,
	lotLedger,
	posSaleFefo,
	recalledBatches,
	shopCoordinates,
	posSaleLean,
	posSaleBatch,
	posSaleIndexed,
	streamAttempts,
	processedEventsAge,
	posSaleOwnLotCheck,
	saleCheckDomains,
	posSaleBatchTogether,
];
