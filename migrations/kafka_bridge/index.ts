import type { Migration } from "../types";
import { sql } from "../types";
import { outboxTxid } from "../common";
import { inboundOutbox } from "./010-inbound-outbox";

/**
 * The kafka-bridge's own schema: envelope ids of events that arrived from Kafka
 * and were emitted on the broker (inbound de-duplication). The bridge has no
 * outbox of its own: it relays the other schemas' outboxes. Its `outbox` table
 * holds accepted inbound envelopes for internal consumers (born sent, never relayed).
 */
export const kafkaBridgeMigrations: Migration[] = [
	sql(
		"001-inbound-events",
		`
CREATE TABLE IF NOT EXISTS :schema.inbound_events (
	event_id     UUID PRIMARY KEY,
	type         TEXT NOT NULL,
	topic        TEXT NOT NULL,
	kafka_partition INTEGER NOT NULL,
	kafka_offset BIGINT NOT NULL,
	received_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS inbound_events_received_idx ON :schema.inbound_events (received_at);
`,
	),
	inboundOutbox,
	outboxTxid,
];
