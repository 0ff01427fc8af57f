import { sql } from "../types";

/**
 * Envelopes accepted from Kafka, in an outbox-shaped table, so internal consumer
 * groups tail them like any service's outbox (durable, ordered by txid, seq).
 * Rows are written already "sent": the relay never sends them back to Kafka.
 */
export const inboundOutbox = sql(
	"010-inbound-outbox",
	`
CREATE TABLE IF NOT EXISTS :schema.outbox (
	seq            BIGSERIAL PRIMARY KEY,
	id             UUID NOT NULL UNIQUE,
	type           TEXT NOT NULL,
	topic          TEXT NOT NULL,
	aggregate_id   TEXT NOT NULL,
	envelope       JSONB NOT NULL,
	created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
	sent_at        TIMESTAMPTZ DEFAULT now(),
	attempts       INTEGER NOT NULL DEFAULT 0,
	last_error     TEXT
);
CREATE INDEX IF NOT EXISTS outbox_unsent_idx ON :schema.outbox (seq) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_sent_at_idx ON :schema.outbox (sent_at) WHERE sent_at IS NOT NULL;
`,
);
