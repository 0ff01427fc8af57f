import { sql } from "../types";
import { outboxTableDdl } from "../common";

/**
 * Envelopes accepted from Kafka, in an outbox-shaped table, so internal consumer
 * groups tail them like any service's outbox (durable, ordered by txid, seq).
 * Rows are written already "sent": the relay never sends them back to Kafka.
 */
export const inboundOutbox = sql(
	"010-inbound-outbox",
	`
${outboxTableDdl(true)}`,
);
