import type { Migration } from "../types";
import { commonTables, eventStreamTables, outboxTxid, processedEventsAge, streamAttempts } from "../common";
import { analyticsCore } from "./001-analytics-core";
import { markdownRevenue } from "./111-markdown-revenue";
import { writeOffs } from "./160-write-offs";

/** The analytics schema's migrations, in order. Append; never edit one that has shipped. */
export const analyticsMigrations: Migration[] = [
	commonTables,
	analyticsCore,
	outboxTxid,
	eventStreamTables,
	markdownRevenue,
	writeOffs,
	streamAttempts,
	processedEventsAge,
];
