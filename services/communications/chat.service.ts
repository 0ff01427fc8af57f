/**
 * communications.chat: conversations (DIRECT pairs are unique, GROUPs have a name),
 * messages newest-first with a cursor, read receipts, online users (docs/spec.md section 5).
 * A conversation the caller does not take part in is answered 404 (they may not see it).
 */
import type { ServiceSettingSchema } from "moleculer";
import { Op, QueryTypes } from "sequelize";
import { DbMixin } from "../../mixins/db.mixin";
import { OutboxMixin } from "../../mixins/outbox.mixin";
import { AuditMixin, auditActor, markAudited } from "../../mixins/audit.mixin";
import { respondCreated } from "../../lib/actions";
import { notFound, validationError } from "../../lib/errors";
import { toPage } from "../../lib/pagination";
import { presence, pushToSockets, userRoom } from "../../lib/presence";
import { defineCommunicationsModels, type Message } from "./communications.model";
import * as P from "./communications.params";
import { COMMS_SCHEMA, personView, toAttachmentView, toMessageView, usersById, type CommsThis, type MessageView } from "./shared";
import { insertMessage, recordDeliveries } from "./send-message";
import { defineService, type ServiceDefinition } from "../../lib/service";
import type { Ctx } from "../../lib/types";
import { call, type Params, type Result } from "../../lib/contracts";

interface Methods {
	conversationViews(rows: ConversationRow[], ctx: Ctx<unknown>): Promise<unknown[]>;
	presencePeers(ctx: Ctx<unknown>, userId: string, direction: "SEES" | "SEEN_BY"): Promise<string[]>;
}
type This = CommsThis & Methods;

interface ConversationRow {
	id: string;
	type: "DIRECT" | "GROUP";
	name: string | null;
	created_by: string;
	last_message_at: Date | null;
	created_at: Date;
	unread_count: string;
	lm_id: string | null;
	lm_sender_id: string | null;
	lm_content: string | null;
	lm_message_type: string | null;
	lm_created_at: Date | null;
}

// lastMessageAt is the latest visible message's time, read here rather than kept on the conversation row: a write
// per message to that one row serialized the senders of a busy conversation and cost every message a round trip.
const LIST_SQL = (schema: string, order: string) => `
SELECT c.id, c.type, c.name, c.created_by, lm.created_at AS last_message_at, c.created_at,
	(SELECT count(*) FROM "${schema}".messages m
	  WHERE m.conversation_id = c.id AND m.seq > p.last_read_seq AND m.sender_id <> :me AND m.deleted_at IS NULL) AS unread_count,
	lm.id AS lm_id, lm.sender_id AS lm_sender_id, lm.content AS lm_content, lm.message_type AS lm_message_type, lm.created_at AS lm_created_at
FROM "${schema}".conversation_participants p
JOIN "${schema}".conversations c ON c.id = p.conversation_id AND c.deleted_at IS NULL
LEFT JOIN LATERAL (
	SELECT id, sender_id, content, message_type, created_at FROM "${schema}".messages m
	WHERE m.conversation_id = c.id AND m.deleted_at IS NULL ORDER BY m.seq DESC LIMIT 1
) lm ON true
WHERE p.user_id = :me AND (CAST(:only AS uuid) IS NULL OR c.id = CAST(:only AS uuid))
ORDER BY ${order}
LIMIT :limit OFFSET :offset`;

/** Older unacked messages are not replayed on connect (the conversation list still shows them). */
export const UNDELIVERED_WINDOW_DAYS = 30;

const ORDERS: Record<string, string> = {
	"-lastMessageAt": "lm.created_at DESC NULLS LAST, c.created_at DESC, c.id",
	lastMessageAt: "lm.created_at ASC NULLS FIRST, c.created_at ASC, c.id",
	"-createdAt": "c.created_at DESC, c.id",
	createdAt: "c.created_at ASC, c.id",
};

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "communications.chat",
	mixins: [DbMixin({ schema: COMMS_SCHEMA, models: defineCommunicationsModels }), OutboxMixin, AuditMixin],
	settings: { rest: "/communications" },

	actions: {
		listConversations: {
			rest: "GET /chat/conversations",
			summary: "The caller's conversations with their last message and unread count",
			params: P.listConversationsParams,
			async handler(ctx: Ctx<P.ListConversationsParams>) {
				const me = ctx.meta.user!.id;
				const { page, pageSize } = ctx.params;
				const rows = await this.db.query<ConversationRow>(LIST_SQL(this.dbSchema, ORDERS[ctx.params.sort ?? "-lastMessageAt"]), {
					replacements: { me, only: null, limit: pageSize, offset: (page - 1) * pageSize },
					type: QueryTypes.SELECT,
				});
				const total = await this.models.Participant.count({ where: { userId: me } });
				return toPage(await this.conversationViews(rows, ctx), total, ctx.params);
			},
		},

		createConversation: {
			rest: "POST /chat/conversations",
			status: [200, 201],
			audit: true,
			summary: "Start a conversation: DIRECT with one other user (the pair's existing one is returned), or a named GROUP",
			params: P.createConversationParams,
			async handler(ctx: Ctx<P.CreateConversationParams>) {
				const me = ctx.meta.user!.id;
				const others = ctx.params.participantIds.filter((id) => id !== me);
				const { type } = ctx.params;
				if (type === "DIRECT" && others.length !== 1)
					throw validationError("participantIds", "A DIRECT conversation has exactly one other participant.", "directPair");
				if (type === "GROUP" && others.length < 1)
					throw validationError("participantIds", "A GROUP needs at least one other participant.", "arrayMin");
				if (type === "GROUP" && !ctx.params.name) throw validationError("name", "A GROUP conversation needs a name.", "required");
				const users = await usersById(ctx, others);
				const unknown = others.filter((id) => !users.has(id));
				if (unknown.length) throw validationError("participantIds", `Unknown user(s): ${unknown.join(", ")}`, "reference");

				const directKey = type === "DIRECT" ? [me, others[0]].sort().join(":") : null;
				const { conversation, created } = await this.transaction(async (t) => {
					if (directKey) {
						// Serialize concurrent starts of the same pair; the unique index is the last word.
						await this.db.query("SELECT pg_advisory_xact_lock(hashtext(:key))", {
							replacements: { key: directKey },
							transaction: t,
						});
						const existing = await this.models.Conversation.findOne({ where: { directKey }, transaction: t });
						if (existing) {
							// Opening the pair again is taking part: the other side may now see this user's presence.
							await this.models.Participant.update(
								{ tookPart: true },
								{ where: { conversationId: existing.id, userId: me, tookPart: false }, transaction: t },
							);
							return { conversation: existing, created: false };
						}
					}
					const conv = await this.models.Conversation.create(
						{ type, name: type === "GROUP" ? ctx.params.name! : null, createdBy: me, directKey },
						{ transaction: t },
					);
					await this.models.Participant.bulkCreate(
						[me, ...others].map((userId) => ({ conversationId: conv.id, userId, tookPart: userId === me })),
						{ transaction: t },
					);
					return { conversation: conv, created: true };
				});
				if (created) {
					respondCreated(ctx, `/api/v1/communications/chat/conversations/${conversation.id}`);
					await pushToSockets(ctx, {
						event: "CONVERSATION_UPDATED",
						rooms: others.map(userRoom),
						data: { conversationId: conversation.id, change: "CREATED" },
					});
				}
				const rows = await this.db.query<ConversationRow>(LIST_SQL(this.dbSchema, ORDERS["-createdAt"]), {
					replacements: { me, only: conversation.id, limit: 1, offset: 0 },
					type: QueryTypes.SELECT,
				});
				const [view] = await this.conversationViews(rows, ctx);
				return view;
			},
		},

		listMessages: {
			rest: "GET /chat/conversations/:id/messages",
			access: { conversation: "id" },
			summary: "Messages of a conversation, newest first; pass `nextCursor` as `cursor` for older ones",
			params: P.listMessagesParams,
			async handler(ctx: Ctx<P.ListMessagesParams>) {
				const where: Record<string | symbol, unknown> = { conversationId: ctx.params.id };
				if (ctx.params.cursor) where.seq = { [Op.lt]: ctx.params.cursor };
				const rows = await this.models.Message.findAll({ where, order: [["seq", "DESC"]], limit: ctx.params.limit });
				const participants = await this.models.Participant.findAll({ where: { conversationId: ctx.params.id } });
				const attachmentIds = rows.map((m) => m.attachmentId).filter((id): id is string => Boolean(id));
				const attachments = attachmentIds.length ? await this.models.Attachment.findAll({ where: { id: attachmentIds } }) : [];
				const byId = new Map(attachments.map((a) => [a.id, a]));
				const messages: MessageView[] = rows.map((m) =>
					toMessageView(
						m,
						participants.filter((p) => p.userId !== m.senderId && BigInt(p.lastReadSeq) >= BigInt(m.seq)).map((p) => p.userId),
						m.attachmentId ? (byId.get(m.attachmentId) ?? null) : null,
					),
				);
				const nextCursor = rows.length === ctx.params.limit ? String(rows[rows.length - 1].seq) : null;
				return { rows: messages, nextCursor };
			},
		},

		sendMessage: {
			rest: "POST /chat/conversations/:id/messages",
			audit: true,
			summary: "Send a message (TEXT, or IMAGE/FILE with an uploaded attachmentId); pushed live as NEW_MESSAGE",
			params: P.sendMessageParams,
			async handler(ctx: Ctx<P.SendMessageParams>) {
				const me = ctx.meta.user!.id;
				const { id: conversationId, content, messageType, attachmentId } = ctx.params;
				if (messageType === "TEXT" && attachmentId)
					throw validationError("attachmentId", "A TEXT message has no attachment.", "forbidden");
				if (messageType !== "TEXT" && !attachmentId)
					throw validationError("attachmentId", `A ${messageType} message needs an uploaded attachment.`, "required");
				const sent = await insertMessage(
					this.db,
					this.dbSchema,
					{ conversationId, senderId: me, content, messageType, attachmentId: attachmentId ?? null },
					auditActor(ctx),
					ctx.requestID,
				);
				if (sent.outcome === "NOT_PARTICIPANT") throw notFound("Conversation", conversationId);
				if (sent.outcome === "BAD_ATTACHMENT")
					throw validationError("attachmentId", "No such attachment uploaded by you to this conversation.", "reference");
				// Its SUCCESS audit row was committed with the message.
				markAudited(ctx);
				const attachment = attachmentId ? await this.models.Attachment.findByPk(attachmentId) : null;
				const view: MessageView = {
					id: sent.id,
					conversationId,
					senderId: me,
					content,
					messageType,
					attachment: attachment && toAttachmentView(attachment),
					createdAt: sent.createdAt,
					readBy: [],
				};
				// MESSAGE_RECEIVED is committed: the gateway relays it to the recipients as NEW_MESSAGE (the view as meta.live);
				// MESSAGE_DELIVERED follows each recipient's ack (markDelivered).
				this.announce(sent.event, view);
				respondCreated(ctx, `/api/v1/communications/chat/conversations/${conversationId}/messages`);
				return view;
			},
		},

		markRead: {
			rest: "POST /chat/messages/:id/read",
			status: 200,
			audit: true,
			summary: "Mark a message (and every earlier one in its conversation) as read by the caller",
			params: P.messageIdParams,
			async handler(ctx: Ctx<P.MessageIdParams>) {
				const me = ctx.meta.user!.id;
				const message = await this.models.Message.findByPk(ctx.params.id);
				if (!message) throw notFound("Message", ctx.params.id);
				const participant = await this.models.Participant.findOne({
					where: { conversationId: message.conversationId, userId: me },
				});
				if (!participant) throw notFound("Message", ctx.params.id);
				const readAt = new Date();
				await this.db.query(
					`UPDATE "${this.dbSchema}".conversation_participants SET last_read_seq = GREATEST(last_read_seq, :seq), last_read_at = :readAt WHERE conversation_id = :conversationId AND user_id = :me`,
					{ replacements: { seq: message.seq, readAt, conversationId: message.conversationId, me } },
				);
				const [{ count }] = await this.db.query<{ count: string }>(
					`SELECT count(*) FROM "${this.dbSchema}".messages m JOIN "${this.dbSchema}".conversation_participants p ON p.conversation_id = m.conversation_id AND p.user_id = :me
					 WHERE m.conversation_id = :conversationId AND m.seq > p.last_read_seq AND m.sender_id <> :me AND m.deleted_at IS NULL`,
					{ replacements: { conversationId: message.conversationId, me }, type: QueryTypes.SELECT },
				);
				const participants = await this.models.Participant.findAll({ where: { conversationId: message.conversationId } });
				const receipt = {
					conversationId: message.conversationId,
					change: "READ",
					userId: me,
					messageId: message.id,
					readAt: readAt.toISOString(),
				};
				await pushToSockets(ctx, {
					event: "CONVERSATION_UPDATED",
					rooms: participants.map((p) => userRoom(p.userId)),
					data: receipt,
				});
				return { ...receipt, unreadCount: Number(count) };
			},
		},

		onlineUsers: {
			rest: "GET /chat/online-users",
			summary:
				"Online users the caller shares a shop with, or a conversation in which they took part (created it or wrote in it); need-to-know for every role; `role` only for staff callers",
			async handler(ctx: Ctx<Record<string, never>>) {
				const me = ctx.meta.user!;
				const ids = await presence().online(await call(ctx, "communications.chat.contacts", { userId: me.id }));
				const users = await usersById(
					ctx,
					ids.filter((id) => id !== me.id),
				);
				return [...users.values()].map((u) => ({ ...personView(u, me.role), status: "ONLINE" as const }));
			},
		},

		// ---- internal (services and the socket gateway) ----

		isParticipant: {
			visibility: "public",
			params: P.participantCheckParams,
			async handler(ctx: Ctx<Params<"communications.chat.isParticipant">>): Promise<Result<"communications.chat.isParticipant">> {
				return (
					(await this.models.Participant.count({
						where: { conversationId: ctx.params.conversationId, userId: ctx.params.userId },
					})) > 0
				);
			},
		},

		/** Declared ownership's resolver (lib/access.ts): a conversation is visible to its participants only. */
		ownership: {
			visibility: "public",
			params: { id: { type: "uuid" }, userId: { type: "uuid", optional: true } },
			async handler(ctx: Ctx<Params<"communications.chat.ownership">>): Promise<Result<"communications.chat.ownership">> {
				const conversation = await this.models.Conversation.findByPk(ctx.params.id);
				if (!conversation) return null;
				const mine =
					Boolean(ctx.params.userId) &&
					(await this.models.Participant.count({ where: { conversationId: conversation.id, userId: ctx.params.userId } })) > 0;
				return { entity: { id: conversation.id, type: conversation.type }, mine, visible: mine };
			},
		},

		/**
		 * A recipient's client acked NEW_MESSAGE (the socket gateway calls this): the delivery
		 * is recorded once and the sender's sockets get MESSAGE_DELIVERED. `{ recorded }`.
		 */
		markDelivered: {
			visibility: "public",
			params: P.markDeliveredParams,
			/** The first ack of each (message, recipient) is recorded; the sender gets one MESSAGE_DELIVERED per message listing who acked. */
			async handler(this: This, ctx: Ctx<P.MarkDeliveredParams>) {
				const { deliveries } = ctx.params;
				const receipts = await recordDeliveries(this.db, this.dbSchema, deliveries);
				await Promise.all(
					receipts.map(({ senderId, ...data }) =>
						pushToSockets(ctx, { event: "MESSAGE_DELIVERED", rooms: [userRoom(senderId)], data }),
					),
				);
				return { recorded: receipts.reduce((n, r) => n + r.deliveredTo.length, 0) };
			},
		},

		/** Messages to the user that no client of theirs acked yet (nor read), oldest first: the gateway sends them on connect. */
		undelivered: {
			visibility: "public",
			params: P.undeliveredParams,
			async handler(this: This, ctx: Ctx<P.UndeliveredParams>) {
				const rows = await this.db.query<{ id: string }>(
					`SELECT m.id FROM "${this.dbSchema}".conversation_participants p
					 JOIN "${this.dbSchema}".messages m ON m.conversation_id = p.conversation_id AND m.seq > p.last_read_seq
					 WHERE p.user_id = :userId AND m.sender_id <> :userId AND m.deleted_at IS NULL AND m.created_at >= p.joined_at
					   AND m.created_at > now() - make_interval(days => :days)
					   AND NOT EXISTS (SELECT 1 FROM "${this.dbSchema}".message_deliveries d WHERE d.message_id = m.id AND d.user_id = :userId)
					 ORDER BY m.seq LIMIT :limit`,
					{
						type: QueryTypes.SELECT,
						replacements: { userId: ctx.params.userId, limit: ctx.params.limit, days: UNDELIVERED_WINDOW_DAYS },
					},
				);
				if (rows.length === 0) return [];
				const messages = await this.models.Message.findAll({ where: { id: rows.map((r) => r.id) }, order: [["seq", "ASC"]] });
				const attachmentIds = messages.map((m) => m.attachmentId).filter((id): id is string => Boolean(id));
				const attachments = attachmentIds.length ? await this.models.Attachment.findAll({ where: { id: attachmentIds } }) : [];
				const byId = new Map(attachments.map((a) => [a.id, a]));
				return messages.map((m) => toMessageView(m, [], m.attachmentId ? (byId.get(m.attachmentId) ?? null) : null));
			},
		},

		/**
		 * Whose online status the user may see: shop colleagues, and people who took part in a conversation the user is
		 * in (created it, or wrote in it). Being added to a conversation is not consent: a stranger who opens a DIRECT
		 * conversation with a user id taken from a public list sees that user's status only once they answer.
		 */
		contacts: {
			visibility: "public",
			params: P.contactsParams,
			async handler(this: This, ctx: Ctx<Params<"communications.chat.contacts">>): Promise<Result<"communications.chat.contacts">> {
				return this.presencePeers(ctx, ctx.params.userId, "SEES");
			},
		},

		/** Who may see the user's online status (the other side of `contacts`): told of the user's USER_STATUS_CHANGE. */
		watchers: {
			visibility: "public",
			params: P.contactsParams,
			async handler(this: This, ctx: Ctx<Params<"communications.chat.watchers">>): Promise<Result<"communications.chat.watchers">> {
				return this.presencePeers(ctx, ctx.params.userId, "SEEN_BY");
			},
		},
	},

	methods: {
		/**
		 * SEES: the others of the user's conversations who took part in them (created one, or wrote in it), and shop colleagues.
		 * SEEN_BY: the others of the conversations the user took part in, and shop colleagues.
		 */
		async presencePeers(ctx: Ctx<unknown>, userId: string, direction: "SEES" | "SEEN_BY") {
			// took_part: created the conversation (or opened the DIRECT pair again) or wrote in it.
			const active = direction === "SEES" ? "o" : "p";
			const rows = await this.db.query<{ user_id: string }>(
				`SELECT DISTINCT o.user_id FROM "${this.dbSchema}".conversation_participants p
				 JOIN "${this.dbSchema}".conversation_participants o ON o.conversation_id = p.conversation_id AND o.user_id <> p.user_id
				 JOIN "${this.dbSchema}".conversations c ON c.id = p.conversation_id AND c.deleted_at IS NULL
				 WHERE p.user_id = :userId AND ${active}.took_part`,
				{ replacements: { userId }, type: QueryTypes.SELECT },
			);
			const shared = new Set(rows.map((r) => r.user_id));
			// Shop colleagues too; without sales (a node down) only conversation partners count: fail closed.
			if (this.broker.registry.actions.isAvailable("sales.shops.coworkers")) {
				try {
					for (const id of await call(ctx, "sales.shops.coworkers", { userId })) shared.add(id);
				} catch (err) {
					this.logger.debug("Shop colleagues unavailable for presence:", (err as Error).message);
				}
			}
			return [...shared];
		},

		async conversationViews(rows: ConversationRow[], ctx: Ctx<unknown>) {
			if (rows.length === 0) return [];
			const participants = await this.models.Participant.findAll({ where: { conversationId: rows.map((r) => r.id) } });
			const users = await usersById(
				ctx,
				participants.map((p) => p.userId),
			);
			return rows.map((r) => ({
				id: r.id,
				type: r.type,
				name: r.name,
				createdBy: r.created_by,
				participants: participants
					.filter((p) => p.conversationId === r.id)
					.map((p) => ({
						...personView(
							{ id: p.userId, name: users.get(p.userId)?.name ?? null, role: users.get(p.userId)?.role },
							ctx.meta.user!.role,
						),
						lastReadAt: p.lastReadAt?.toISOString() ?? null,
					})),
				lastMessage: r.lm_id
					? {
							id: r.lm_id,
							senderId: r.lm_sender_id,
							content: r.lm_content,
							messageType: r.lm_message_type as Message["messageType"],
							createdAt: new Date(r.lm_created_at!).toISOString(),
						}
					: null,
				unreadCount: Number(r.unread_count),
				lastMessageAt: r.last_message_at ? new Date(r.last_message_at).toISOString() : null,
				createdAt: new Date(r.created_at).toISOString(),
			}));
		},
	},
};

export default defineService(schema);
