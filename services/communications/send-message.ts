/**
 * A chat message in one statement (one round trip, one commit): the participant
 * check, the attachment check, the message row, the sender's read mark (and that they
 * took part: presence consent, docs/communications.md) and the
 * MESSAGE_RECEIVED outbox row, with the recipients from the same read. A sender
 * used to wait for six round trips (BEGIN … COMMIT) before anyone saw the message.
 * The call's SUCCESS audit row goes in with the message (the caller marks the call
 * audited), instead of a second commit per message.
 * Its delivery receipts (the recipients' acks, recorded in batches) are the other statement of a message's
 * hot path.
 */
import { randomUUID } from "node:crypto";
import { QueryTypes, type Sequelize } from "sequelize";
import { perSchema, queryPrepared } from "../../lib/prepared";
import { GroupCommit, groupCommitPer } from "../../lib/group-commit";
import { EVENT_CATALOG, envelope, type EventEnvelope } from "../../lib/events";
import type { Message } from "./communications.model";
import type { auditActor } from "../../mixins/audit.mixin";

export interface NewMessage {
	conversationId: string;
	senderId: string;
	content: string;
	messageType: Message["messageType"];
	attachmentId: string | null;
}

export type SendOutcome =
	| { outcome: "NOT_PARTICIPANT" }
	| { outcome: "BAD_ATTACHMENT" }
	| { outcome: "SENT"; id: string; createdAt: string; recipients: string[]; event: EventEnvelope<"MESSAGE_RECEIVED"> };

// $1 conversation, $2 sender, $3 message id, $4 content, $5 type, $6 attachment, $7 event id, $8 topic, $9 envelope, $10 audit (auditActor).
const SEND_SQL = (s: string) => `
WITH parts AS (
	SELECT user_id FROM "${s}".conversation_participants WHERE conversation_id = $1::uuid
), ok AS (
	SELECT EXISTS (SELECT 1 FROM parts WHERE user_id = $2::uuid) AS participant,
	       ($6::uuid IS NULL OR EXISTS (SELECT 1 FROM "${s}".attachments WHERE id = $6::uuid AND conversation_id = $1::uuid AND uploader_id = $2::uuid AND deleted_at IS NULL)) AS attachment
), m AS (
	INSERT INTO "${s}".messages (id, conversation_id, sender_id, content, message_type, attachment_id)
	SELECT $3::uuid, $1::uuid, $2::uuid, $4::text, $5::text, $6::uuid FROM ok WHERE ok.participant AND ok.attachment
	RETURNING seq, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at
), recipients AS (
	SELECT coalesce(jsonb_agg(user_id), '[]'::jsonb) AS ids FROM parts WHERE user_id <> $2::uuid
), read_mark AS (
	UPDATE "${s}".conversation_participants p SET last_read_seq = m.seq, last_read_at = now(), took_part = true FROM m WHERE p.conversation_id = $1::uuid AND p.user_id = $2::uuid
), event AS (
	INSERT INTO "${s}".outbox (id, type, topic, aggregate_id, envelope)
	SELECT $7::uuid, 'MESSAGE_RECEIVED', $8::text, $1::uuid::text, jsonb_set(jsonb_set($9::jsonb, '{data,createdAt}', to_jsonb(m.created_at)), '{data,recipientIds}', recipients.ids)
	  FROM m, recipients
), audited AS (
	INSERT INTO "${s}".audit_log (actor_id, actor_role, action, target, request_id, ip, outcome)
	SELECT ($10::jsonb->>'actorId')::uuid, $10::jsonb->>'actorRole', $10::jsonb->>'action', $3::text, $10::jsonb->>'requestId', $10::jsonb->>'ip', 'SUCCESS' FROM m
)
SELECT ok.participant, ok.attachment, m.created_at, recipients.ids AS recipients FROM ok CROSS JOIN recipients LEFT JOIN m ON true`;

// The same for many messages: arrays of $1-$7, $9, $10 (one element per message, in arrival order), $8 the topic.
// One outcome row per message, in order; a refused message (not a participant, a bad attachment) writes nothing.
const SEND_MANY_SQL = (s: string) => `
WITH input AS (
	SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::uuid[], $7::uuid[], $9::jsonb[], $10::jsonb[])
	  WITH ORDINALITY AS i(conversation_id, sender_id, id, content, message_type, attachment_id, event_id, envelope, audit, n)
), ok AS (
	SELECT i.*,
	       EXISTS (SELECT 1 FROM "${s}".conversation_participants p WHERE p.conversation_id = i.conversation_id AND p.user_id = i.sender_id) AS participant,
	       (i.attachment_id IS NULL OR EXISTS (SELECT 1 FROM "${s}".attachments a WHERE a.id = i.attachment_id AND a.conversation_id = i.conversation_id AND a.uploader_id = i.sender_id AND a.deleted_at IS NULL)) AS attachment,
	       (SELECT coalesce(jsonb_agg(p.user_id), '[]'::jsonb) FROM "${s}".conversation_participants p WHERE p.conversation_id = i.conversation_id AND p.user_id <> i.sender_id) AS recipients
	  FROM input i
), m AS (
	INSERT INTO "${s}".messages (id, conversation_id, sender_id, content, message_type, attachment_id)
	SELECT id, conversation_id, sender_id, content, message_type, attachment_id FROM ok WHERE participant AND attachment ORDER BY n
	RETURNING id, seq, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at
), sent AS (
	SELECT ok.*, m.seq, m.created_at FROM ok JOIN m ON m.id = ok.id
), read_mark AS (
	UPDATE "${s}".conversation_participants p SET last_read_seq = x.seq, last_read_at = now(), took_part = true
	  FROM (SELECT conversation_id, sender_id, max(seq) AS seq FROM sent GROUP BY 1, 2) x
	 WHERE p.conversation_id = x.conversation_id AND p.user_id = x.sender_id
), event AS (
	INSERT INTO "${s}".outbox (id, type, topic, aggregate_id, envelope)
	SELECT event_id, 'MESSAGE_RECEIVED', $8::text, conversation_id::text, jsonb_set(jsonb_set(envelope, '{data,createdAt}', to_jsonb(created_at)), '{data,recipientIds}', recipients)
	  FROM sent ORDER BY n
), audited AS (
	INSERT INTO "${s}".audit_log (actor_id, actor_role, action, target, request_id, ip, outcome)
	SELECT (audit->>'actorId')::uuid, audit->>'actorRole', audit->>'action', id::text, audit->>'requestId', audit->>'ip', 'SUCCESS' FROM sent ORDER BY n
)
SELECT ok.participant, ok.attachment, m.created_at, ok.recipients FROM ok LEFT JOIN m ON m.id = ok.id ORDER BY ok.n`;

/**
 * Prepared per connection (lib/prepared.ts): PostgreSQL parses and plans this six-part statement once, not once per
 * message (parse + bind fell from ~0.53 to ~0.08 ms of the ~1.1 ms it cost the server), and the call skips
 * Sequelize's per-query work.
 */
const sendStatement = perSchema("send_message", SEND_SQL);
const sendManyStatement = perSchema("send_messages", SEND_MANY_SQL);

/** The statement's values for one message ($1-$10) and its outcome row. */
type SendValues = [string, string, string, string, string, string | null, string, string, string, string];
interface SendRow {
	participant: boolean;
	attachment: boolean;
	created_at: string | null;
	recipients: string[];
}

/** Messages per batch at most. */
const MAX_BATCH = 64;

/**
 * Group commit (lib/group-commit.ts): messages of this process that arrive while one is being stored go together,
 * one round trip and one commit. A message's round trip was a third of the server's CPU per message in
 * bench:sockets, a commit's wait half its latency (docs/performance.md). Keyed by the schema's pool (one per
 * schema and process).
 */
const sendsOf = groupCommitPer(
	(db: Sequelize) =>
		new GroupCommit<{ schema: string; values: SendValues }, SendRow>({
			max: MAX_BATCH,
			async one({ schema, values }) {
				const [row] = await queryPrepared<SendRow>(db, sendStatement(schema), values);
				return row;
			},
			async many(batch) {
				// One array per parameter, but the topic ($8): the same for every message.
				const values = batch[0].values.map((first, i) => (i === 7 ? first : batch.map((b) => b.values[i])));
				const rows = await queryPrepared<SendRow>(db, sendManyStatement(batch[0].schema), values);
				return rows.map((row) => ({ ok: row }));
			},
		}),
);

/** Who sent it, for the audit row written with the message (mixins/audit.mixin.ts#auditActor). */
export type AuditActor = ReturnType<typeof auditActor>;

/** Stores the message, its outbox row and the SUCCESS audit row; the caller announces `event` (it is committed) and marks the call audited. */
export async function insertMessage(
	db: Sequelize,
	schema: string,
	msg: NewMessage,
	audit: AuditActor,
	requestId?: string | null,
): Promise<SendOutcome> {
	const id = randomUUID();
	const event = envelope(
		"MESSAGE_RECEIVED",
		{
			messageId: id,
			conversationId: msg.conversationId,
			senderId: msg.senderId,
			recipientIds: [],
			messageType: msg.messageType,
			createdAt: "",
		},
		requestId,
	);
	const row = await sendsOf(db).run({
		schema,
		values: [
			msg.conversationId,
			msg.senderId,
			id,
			msg.content,
			msg.messageType,
			msg.attachmentId,
			event.id,
			EVENT_CATALOG.MESSAGE_RECEIVED.topic,
			JSON.stringify(event),
			JSON.stringify(audit),
		],
	});
	if (!row.participant) return { outcome: "NOT_PARTICIPANT" };
	if (!row.attachment || !row.created_at) return { outcome: "BAD_ATTACHMENT" };
	// The same values the statement wrote into the outbox row.
	event.data.createdAt = row.created_at;
	event.data.recipientIds = row.recipients;
	return { outcome: "SENT", id, createdAt: row.created_at, recipients: row.recipients, event };
}

// $1 message ids, $2 the recipients who acked them (pairwise).
const DELIVERED_SQL = (s: string) => `
WITH acked AS (
	SELECT DISTINCT a.message_id, a.user_id
	  FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit, unnest($1::uuid[], $2::uuid[]) AS a(message_id, user_id)
), m AS (
	SELECT m.id, m.conversation_id, m.sender_id, a.user_id FROM acked a
	JOIN "${s}".messages m ON m.id = a.message_id AND m.sender_id <> a.user_id
	JOIN "${s}".conversation_participants p ON p.conversation_id = m.conversation_id AND p.user_id = a.user_id
), ins AS (
	INSERT INTO "${s}".message_deliveries (message_id, user_id) SELECT id, user_id FROM m ON CONFLICT DO NOTHING
	RETURNING message_id, user_id, delivered_at
)
SELECT ins.message_id AS "messageId", m.conversation_id AS "conversationId", m.sender_id AS "senderId",
       json_agg(ins.user_id ORDER BY ins.user_id) AS "deliveredTo",
       to_char(max(ins.delivered_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "deliveredAt"
  FROM ins JOIN m ON m.id = ins.message_id AND m.user_id = ins.user_id
 GROUP BY ins.message_id, m.conversation_id, m.sender_id`;

export interface Receipt {
	messageId: string;
	conversationId: string;
	senderId: string;
	/** The recipients whose first ack this was. */
	deliveredTo: string[];
	deliveredAt: string;
}

/**
 * Records the first ack of each (message, recipient), a recipient who is a participant and not the sender: one
 * receipt per message (not one row per ack: ~50 times fewer rows to parse for a group's message), its recipients
 * as JSON (JSON.parse), not a text[] (parsed character by character in JS).
 * Committed without waiting for the WAL flush (this statement's own transaction only): a receipt lost in a crash
 * leaves its message undelivered, so it is sent again on the next connect and acked again. Waiting made every
 * message's own commit queue behind ~49 receipts' fsyncs (docs/performance.md).
 * Not a prepared statement: planned for each batch, PostgreSQL sees how many acks the arrays hold; the generic plan
 * of a prepared one assumes a few and took 2.2 times as long for the bench's ~400 (mean 18.4 against 8.1 ms).
 */
export function recordDeliveries(db: Sequelize, schema: string, deliveries: { messageId: string; userId: string }[]): Promise<Receipt[]> {
	return db.query<Receipt>(DELIVERED_SQL(schema), {
		type: QueryTypes.SELECT,
		bind: [deliveries.map((d) => d.messageId), deliveries.map((d) => d.userId)],
	});
}
