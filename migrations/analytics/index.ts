import type { Migration } from "../types";
import { commonTables, eventStreamTables, outboxTxid } from "../common";
import { analyticsCore } from "./001-analytics-core";
import { writeOffs } from "./160-write-offs";

/** The analytics schema's migrations, in order. Append; never edit one that has shipped. */
export const analyticsMigrations: Migration[] = [commonTables, analyticsCore, outboxTxid, eventStreamTables, writeOffs];
