import { sql } from "../types";

/** Conversations, participants (with read watermarks), messages, attachments, the internal mailbox and notifications. */
export const chatEmailNotifications = sql(
	"001-chat-email-notifications",
	`
CREATE TABLE :schema.conversations (
	id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	type             TEXT NOT NULL CHECK (type IN ('DIRECT', 'GROUP')),
	name             TEXT CHECK (name IS NULL OR char_length(name) BETWEEN 1 AND 120),
	created_by       UUID NOT NULL,
	-- "<smaller user id>:<larger user id>" for DIRECT conversations: one per pair.
	direct_key       TEXT UNIQUE,
	last_message_at  TIMESTAMPTZ,
	created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
	deleted_at       TIMESTAMPTZ,
	CHECK ((type = 'DIRECT') = (direct_key IS NOT NULL)),
	CHECK (type = 'DIRECT' OR name IS NOT NULL)
);
CREATE INDEX conversations_last_message_idx ON :schema.conversations (last_message_at DESC NULLS LAST, created_at DESC);

CREATE TABLE :schema.attachments (
	id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	conversation_id  UUID NOT NULL REFERENCES :schema.conversations (id),
	uploader_id      UUID NOT NULL,
	storage_name     TEXT NOT NULL UNIQUE,
	original_name    TEXT NOT NULL,
	mime_type        TEXT NOT NULL,
	size             INTEGER NOT NULL CHECK (size > 0),
	created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
	deleted_at       TIMESTAMPTZ
);
CREATE INDEX attachments_conversation_idx ON :schema.attachments (conversation_id);
CREATE INDEX attachments_uploader_idx ON :schema.attachments (uploader_id);

CREATE TABLE :schema.messages (
	id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	seq              BIGSERIAL NOT NULL UNIQUE,
	conversation_id  UUID NOT NULL REFERENCES :schema.conversations (id),
	sender_id        UUID NOT NULL,
	content          TEXT NOT NULL CHECK (char_length(content) BETWEEN 1 AND 4000),
	message_type     TEXT NOT NULL DEFAULT 'TEXT' CHECK (message_type IN ('TEXT', 'IMAGE', 'FILE')),
	attachment_id    UUID REFERENCES :schema.attachments (id),
	created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
	deleted_at       TIMESTAMPTZ
);
CREATE INDEX messages_conversation_seq_idx ON :schema.messages (conversation_id, seq DESC);
CREATE INDEX messages_sender_idx ON :schema.messages (sender_id);
CREATE INDEX messages_attachment_idx ON :schema.messages (attachment_id) WHERE attachment_id IS NOT NULL;

CREATE TABLE :schema.conversation_participants (
	conversation_id  UUID NOT NULL REFERENCES :schema.conversations (id),
	user_id          UUID NOT NULL,
	joined_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
	-- Read receipts: everything up to this message sequence number has been read.
	last_read_seq    BIGINT NOT NULL DEFAULT 0,
	last_read_at     TIMESTAMPTZ,
	PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX conversation_participants_user_idx ON :schema.conversation_participants (user_id, conversation_id);

CREATE TABLE :schema.emails (
	id                   UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	thread_id            UUID NOT NULL,
	reply_to_id          UUID REFERENCES :schema.emails (id),
	sender_id            UUID NOT NULL,
	receiver_id          UUID NOT NULL,
	subject              TEXT NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 200),
	content              TEXT NOT NULL CHECK (char_length(content) BETWEEN 1 AND 20000),
	status               TEXT NOT NULL DEFAULT 'UNREAD' CHECK (status IN ('UNREAD', 'READ')),
	read_at              TIMESTAMPTZ,
	starred_by_sender    BOOLEAN NOT NULL DEFAULT false,
	starred_by_receiver  BOOLEAN NOT NULL DEFAULT false,
	relayed_at           TIMESTAMPTZ,
	created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
	deleted_at           TIMESTAMPTZ
);
CREATE INDEX emails_receiver_idx ON :schema.emails (receiver_id, created_at DESC);
CREATE INDEX emails_sender_idx ON :schema.emails (sender_id, created_at DESC);
CREATE INDEX emails_thread_idx ON :schema.emails (thread_id, created_at);
CREATE INDEX emails_reply_to_idx ON :schema.emails (reply_to_id) WHERE reply_to_id IS NOT NULL;

CREATE TABLE :schema.notifications (
	id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id          UUID NOT NULL,
	type             TEXT NOT NULL CHECK (char_length(type) BETWEEN 1 AND 64),
	message          TEXT NOT NULL CHECK (char_length(message) BETWEEN 1 AND 2000),
	data             JSONB NOT NULL DEFAULT '{}'::jsonb,
	read_status      BOOLEAN NOT NULL DEFAULT false,
	read_at          TIMESTAMPTZ,
	source_event_id  UUID,
	created_by       UUID,
	created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
	deleted_at       TIMESTAMPTZ
);
CREATE INDEX notifications_user_idx ON :schema.notifications (user_id, created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX notifications_unread_idx ON :schema.notifications (user_id) WHERE deleted_at IS NULL AND read_status = false;
-- One notification per user per source event: consumers stay idempotent even across consumer names.
CREATE UNIQUE INDEX notifications_source_event_idx ON :schema.notifications (source_event_id, user_id) WHERE source_event_id IS NOT NULL;
`,
);
