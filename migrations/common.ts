/**
 * Tables every service schema has: the transactional outbox (events that must not
 * be lost), the audit trail, and the consumed-event log consumers de-duplicate by.
 */
import { sql } from "./types";

/**
 * The outbox table's DDL. `bornSent`: rows are written already sent (the kafka-bridge's
 * table of envelopes accepted from Kafka, which consumer groups tail but the relay never sends back).
 */
export function outboxTableDdl(bornSent = false): string {
	return `CREATE TABLE IF NOT EXISTS :schema.outbox (
	seq            BIGSERIAL PRIMARY KEY,
	id             UUID NOT NULL UNIQUE,
	type           TEXT NOT NULL,
	topic          TEXT NOT NULL,
	aggregate_id   TEXT NOT NULL,
	envelope       JSONB NOT NULL,
	created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
	sent_at        TIMESTAMPTZ${bornSent ? " DEFAULT now()" : ""},
	attempts       INTEGER NOT NULL DEFAULT 0,
	last_error     TEXT
);
CREATE INDEX IF NOT EXISTS outbox_unsent_idx ON :schema.outbox (seq) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_sent_at_idx ON :schema.outbox (sent_at) WHERE sent_at IS NOT NULL;
`;
}

export const commonTables = sql(
	"000-common-tables",
	`
${outboxTableDdl()}
CREATE TABLE IF NOT EXISTS :schema.audit_log (
	id          BIGSERIAL PRIMARY KEY,
	actor_id    UUID,
	actor_role  TEXT,
	action      TEXT NOT NULL,
	target      TEXT,
	request_id  TEXT,
	ip          TEXT,
	outcome     TEXT NOT NULL CHECK (outcome IN ('SUCCESS', 'FAILURE')),
	error_code  TEXT,
	created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS audit_log_actor_idx ON :schema.audit_log (actor_id, created_at);
CREATE INDEX IF NOT EXISTS audit_log_action_idx ON :schema.audit_log (action, created_at);

CREATE TABLE IF NOT EXISTS :schema.processed_events (
	event_id     UUID NOT NULL,
	consumer     TEXT NOT NULL,
	processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
	PRIMARY KEY (event_id, consumer)
);
`,
);

/**
 * `txid` lets a reader that tails the outbox by position read only rows of
 * transactions older than every one still in flight
 * (`txid < pg_snapshot_xmin(pg_current_snapshot())`), so a row whose `seq` was
 * taken earlier but committed later is never skipped. Readers are woken after
 * the commit by the writer's process (lib/outbox-wake.ts), not by a trigger.
 */
export const outboxTxid = sql(
	"100-outbox-txid",
	`
ALTER TABLE :schema.outbox ADD COLUMN IF NOT EXISTS txid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX IF NOT EXISTS outbox_txid_seq_idx ON :schema.outbox (txid, seq);
`,
);

/**
 * Durable internal delivery (mixins/event-stream.mixin.ts): each consumer group's
 * position in every source outbox it tails, and the events it gave up on.
 * Both live in the consumer's own schema, so a group's cursor moves in the same
 * transaction as its effects.
 */
export const eventStreamTables = sql(
	"010-event-streams",
	`
CREATE TABLE IF NOT EXISTS :schema.stream_cursors (
	"group"        TEXT NOT NULL,
	source_schema  TEXT NOT NULL,
	txid           xid8 NOT NULL DEFAULT '0'::xid8,
	seq            BIGINT NOT NULL DEFAULT 0,
	updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
	PRIMARY KEY ("group", source_schema)
);
CREATE TABLE IF NOT EXISTS :schema.dead_letters (
	id                   BIGSERIAL PRIMARY KEY,
	"group"              TEXT NOT NULL,
	source_schema        TEXT NOT NULL,
	event_id             UUID NOT NULL,
	type                 TEXT NOT NULL,
	envelope             JSONB NOT NULL,
	attempts             INTEGER NOT NULL,
	last_error           TEXT,
	created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
	replay_requested_at  TIMESTAMPTZ,
	replayed_at          TIMESTAMPTZ,
	UNIQUE ("group", event_id)
);
CREATE INDEX IF NOT EXISTS dead_letters_pending_idx ON :schema.dead_letters ("group") WHERE replay_requested_at IS NOT NULL AND replayed_at IS NULL;
`,
);

/**
 * A consumer group's tries at an event (lib/event-stream.ts), counted before its handler
 * runs alone on it, so a try that kills the process counts too; the row goes when the event
 * is applied or dead-lettered. In every schema that has `eventStreamTables`.
 */
export const streamAttempts = sql(
	"210-stream-attempts",
	`
CREATE TABLE IF NOT EXISTS :schema.stream_attempts (
	"group"     TEXT NOT NULL,
	event_id    UUID NOT NULL,
	attempts    INTEGER NOT NULL,
	last_error  TEXT,
	updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
	PRIMARY KEY ("group", event_id)
);
`,
);

/**
 * A block-range index on `processed_events.processed_at`, for the groups' retention of their processed ids
 * (STREAM_DEDUP_DAYS, lib/event-stream.ts): the rows are appended in time order, so a BRIN index finds the old
 * ones for a few pages of index, and costs the consumers' inserts next to nothing.
 */
export const processedEventsAge = sql(
	"220-processed-events-age",
	`CREATE INDEX IF NOT EXISTS processed_events_age_idx ON :schema.processed_events USING brin (processed_at);`,
);

/** Per-user stored bytes against UPLOAD_QUOTA_BYTES (lib/quota.ts), in each schema that stores uploads. */
export const STORAGE_USAGE_TABLE = `CREATE TABLE IF NOT EXISTS :schema.storage_usage (
	user_id     UUID PRIMARY KEY,
	bytes       BIGINT NOT NULL DEFAULT 0 CHECK (bytes >= 0),
	updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
`;
