/** fastest-validator schemas of the communications services and the param types derived from them. */
import { STRICT, trimmed, uuid, type Infer } from "../../lib/params";
import { pageParams } from "../../lib/pagination";

const MAX_MESSAGE_LENGTH = 4000;
const MAX_GROUP_PARTICIPANTS = 100;

// ---- chat ----
export const createConversationParams = {
	...STRICT,
	type: { type: "enum", values: ["DIRECT", "GROUP"] },
	participantIds: { type: "array", items: uuid, min: 1, max: MAX_GROUP_PARTICIPANTS, unique: true },
	name: { ...trimmed(1, 120), optional: true },
} as const;
export type CreateConversationParams = Infer<typeof createConversationParams>;

export const listConversationsParams = { ...STRICT, ...pageParams(["lastMessageAt", "createdAt"] as const) } as const;
export type ListConversationsParams = Infer<typeof listConversationsParams>;

export const listMessagesParams = {
	...STRICT,
	id: uuid,
	limit: { type: "number", integer: true, min: 1, max: 100, default: 30, convert: true },
	/** Opaque cursor from a previous page's `nextCursor`: messages older than it. */
	cursor: {
		type: "string",
		pattern: /^\d{1,19}$/,
		optional: true,
		messages: { stringPattern: "The 'cursor' field must be a cursor returned by a previous page." },
	},
} as const;
export type ListMessagesParams = Infer<typeof listMessagesParams>;

export const sendMessageParams = {
	...STRICT,
	id: uuid,
	content: trimmed(1, MAX_MESSAGE_LENGTH),
	messageType: { type: "enum", values: ["TEXT", "IMAGE", "FILE"], default: "TEXT" },
	attachmentId: { ...uuid, optional: true },
} as const;
export type SendMessageParams = Infer<typeof sendMessageParams>;

export const messageIdParams = { ...STRICT, id: uuid } as const;
export type MessageIdParams = Infer<typeof messageIdParams>;

export const participantCheckParams = { ...STRICT, conversationId: uuid, userId: uuid } as const;

export const contactsParams = { ...STRICT, userId: uuid } as const;

export const attachmentIdParams = { ...STRICT, id: uuid } as const;
export type AttachmentIdParams = Infer<typeof attachmentIdParams>;

// ---- email ----
export const listEmailsParams = {
	...STRICT,
	...pageParams(["createdAt", "subject"] as const),
	folder: { type: "enum", values: ["inbox", "sent"], default: "inbox" },
	starred: { type: "boolean", convert: true, optional: true },
	unread: { type: "boolean", convert: true, optional: true },
} as const;
export type ListEmailsParams = Infer<typeof listEmailsParams>;

export const sendEmailParams = {
	...STRICT,
	receiverId: uuid,
	subject: trimmed(1, 200),
	content: trimmed(1, 20000),
} as const;
export type SendEmailParams = Infer<typeof sendEmailParams>;

export const emailIdParams = { ...STRICT, id: uuid } as const;
export type EmailIdParams = Infer<typeof emailIdParams>;

export const readEmailParams = { ...STRICT, id: uuid, read: { type: "boolean", default: true } } as const;
export type ReadEmailParams = Infer<typeof readEmailParams>;

export const starEmailParams = { ...STRICT, id: uuid, starred: { type: "boolean" } } as const;
export type StarEmailParams = Infer<typeof starEmailParams>;

export const replyEmailParams = { ...STRICT, id: uuid, content: trimmed(1, 20000) } as const;
export type ReplyEmailParams = Infer<typeof replyEmailParams>;

// ---- notifications ----
export const listNotificationsParams = {
	...STRICT,
	...pageParams(["createdAt"] as const),
	unread: { type: "boolean", convert: true, optional: true },
} as const;
export type ListNotificationsParams = Infer<typeof listNotificationsParams>;

export const createNotificationParams = {
	...STRICT,
	userId: uuid,
	type: {
		type: "string",
		trim: true,
		min: 1,
		max: 64,
		pattern: /^[A-Z][A-Z0-9_]*$/,
		messages: { stringPattern: "The 'type' field must be UPPER_SNAKE_CASE." },
	},
	message: trimmed(1, 2000),
} as const;
export type CreateNotificationParams = Infer<typeof createNotificationParams>;

export const notificationIdParams = { ...STRICT, id: uuid } as const;
export type NotificationIdParams = Infer<typeof notificationIdParams>;

export const announceParams = {
	...STRICT,
	title: trimmed(1, 200),
	message: trimmed(1, 2000),
	broadcastId: { ...uuid, optional: true },
} as const;
export const notifyUsersParams = {
	...STRICT,
	userIds: { type: "array", items: uuid, min: 1, max: 10_000 },
	type: trimmed(1, 64),
	message: trimmed(1, 2000),
	data: { type: "object", optional: true },
	sourceEventId: uuid,
	mail: { type: "boolean", optional: true },
} as const;
export type NotifyUsersParams = Infer<typeof notifyUsersParams>;

// ---- delivery receipts (internal: the socket gateway) ----
/** Acks the gateway collected in one flush (deduplicated there): each is a recipient's client acking NEW_MESSAGE. */
export const markDeliveredParams = {
	...STRICT,
	deliveries: {
		type: "array",
		min: 1,
		max: 1000,
		items: { type: "object", strict: true, props: { messageId: uuid, userId: uuid } },
	},
} as const;
export type MarkDeliveredParams = Infer<typeof markDeliveredParams>;

export const undeliveredParams = {
	...STRICT,
	userId: uuid,
	limit: { type: "number", integer: true, min: 1, max: 500, default: 100 },
} as const;
export type UndeliveredParams = Infer<typeof undeliveredParams>;
