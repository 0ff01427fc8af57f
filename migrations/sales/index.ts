import type { Migration } from "../types";
import { commonTables, eventStreamTables, outboxTxid } from "../common";
import { salesCore } from "./001-sales-core";
import { posSaleFunction } from "./030-pos-sale-function";
import { stockLots } from "./110-stock-lots";
import { shopCoordinates } from "./160-shop-coordinates";

/** The sales schema's migrations, in order. Append; never edit one that has shipped. */
export const salesMigrations: Migration[] = [commonTables, salesCore, outboxTxid, posSaleFunction, eventStreamTables, stockLots, shopCoordinates];
