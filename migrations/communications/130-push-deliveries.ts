import { sql } from "../types";

/**
 * Web Push (VAPID key pair kept for development, subscriptions per device,
 * per-user preferences, a durable send queue) and chat delivery receipts
 * (a message is delivered to a user once their client acked NEW_MESSAGE).
 */
export const pushDeliveries = sql(
	"130-push-deliveries",
	`
-- The generated development key pair (VAPID_PUBLIC_KEY/VAPID_PRIVATE_KEY unset): one row, made once.
CREATE TABLE :schema.push_vapid_keys (
	id           SMALLINT PRIMARY KEY CHECK (id = 1),
	public_key   TEXT NOT NULL,
	private_key  TEXT NOT NULL,
	created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE :schema.push_subscriptions (
	id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id       UUID NOT NULL,
	-- A browser's endpoint names one device's subscription: unique, it follows whoever subscribed last.
	endpoint      TEXT NOT NULL UNIQUE CHECK (char_length(endpoint) BETWEEN 10 AND 2048),
	p256dh        TEXT NOT NULL,
	auth          TEXT NOT NULL,
	user_agent    TEXT,
	last_success_at TIMESTAMPTZ,
	created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX push_subscriptions_user_idx ON :schema.push_subscriptions (user_id, created_at);

CREATE TABLE :schema.push_preferences (
	user_id      UUID PRIMARY KEY,
	enabled      BOOLEAN NOT NULL DEFAULT true,
	-- Notification types (and NEW_MESSAGE for chat) that are not pushed.
	muted_types  TEXT[] NOT NULL DEFAULT '{}',
	updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per (payload, subscription) still to send; a worker claims due rows (SKIP LOCKED) and backs off on 429/5xx.
CREATE TABLE :schema.push_queue (
	id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	subscription_id  UUID NOT NULL REFERENCES :schema.push_subscriptions (id) ON DELETE CASCADE,
	payload          JSONB NOT NULL,
	topic            TEXT,
	attempts         INTEGER NOT NULL DEFAULT 0,
	next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
	locked_until     TIMESTAMPTZ,
	last_error       TEXT,
	created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX push_queue_due_idx ON :schema.push_queue (next_attempt_at);
CREATE INDEX push_queue_subscription_idx ON :schema.push_queue (subscription_id);

CREATE TABLE :schema.message_deliveries (
	message_id    UUID NOT NULL REFERENCES :schema.messages (id),
	user_id       UUID NOT NULL,
	delivered_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
	PRIMARY KEY (message_id, user_id)
);
CREATE INDEX message_deliveries_user_idx ON :schema.message_deliveries (user_id, message_id);
`,
);
