import { sql } from "../types";

/**
 * Presence consent (docs/communications.md, "Need-to-know"): a conversation shows a participant's online status
 * to the others only once that participant took part in it: created it (or opened the DIRECT pair again), or wrote
 * in it. Kept on the participant row, which the send statement updates anyway (the sender's read mark), so the
 * presence query on every socket connect reads no messages.
 */
export const participantTookPart = sql(
	"230-participant-took-part",
	`
ALTER TABLE :schema.conversation_participants ADD COLUMN took_part BOOLEAN NOT NULL DEFAULT false;
UPDATE :schema.conversation_participants p SET took_part = true
 WHERE EXISTS (SELECT 1 FROM :schema.conversations c WHERE c.id = p.conversation_id AND c.created_by = p.user_id)
    OR EXISTS (SELECT 1 FROM :schema.messages m WHERE m.conversation_id = p.conversation_id AND m.sender_id = p.user_id);
`,
);
