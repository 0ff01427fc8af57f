import { sql } from "../types";

/**
 * Delivery receipts are the busiest table of a chat (one row per recipient of every message: 49 for a message to a
 * 50-member group), written by one statement only (`recordDeliveries`, services/communications/send-message.ts),
 * which joins each ack to its message and to the acker's participation before it inserts. Per row it paid for:
 * - a second index, (user_id, message_id), that no query needs: the one reader (`undelivered`) binds both columns,
 *   which the primary key (message_id, user_id) serves;
 * - the foreign key to messages, checked row by row by a trigger (a lookup and a row lock per ack) right after the
 *   same statement's own join proved the message is there. Messages are never deleted (a deleted message keeps its
 *   row, `deleted_at`), so there is nothing for it to cascade or refuse.
 * Measured on a 490-ack batch (EXPLAIN ANALYZE, median of 8): 5.4–5.9 ms → 2.7–3.6 ms (docs/performance.md).
 */
export const receiptsLean = sql(
	"240-receipts-lean",
	`
DROP INDEX IF EXISTS :schema.message_deliveries_user_idx;
ALTER TABLE :schema.message_deliveries DROP CONSTRAINT IF EXISTS message_deliveries_message_id_fkey;
`,
);
