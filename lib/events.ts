/**
 * The event catalog: every broker event, its payload type and its Kafka topic.
 * No event name is written as a string literal anywhere else; emit through
 * `envelope()` + `emitEvent()` (or the outbox mixin, for events that must not be lost).
 */
import { randomUUID } from "node:crypto";
import type { Context, ServiceBroker } from "moleculer";
import { ROLES, type Role } from "./types";

export type PaymentMethod = "CASH" | "CARD" | "MOBILE";

export interface SaleLine {
	flavorId: string;
	quantity: number;
	/** List price per unit (the catalog's). */
	unitPrice: number;
	/** What was charged for the line (list price less expiry markdowns). */
	lineTotal: number;
	/** The shop lots the line drew, first-expiry-first-out (batchId null = the UNTRACKED lot). Absent in events from before lots. */
	lots?: { batchId: string | null; quantity: number }[];
	/** Only on marked-down lines: the discount given, and the revenue from the marked-down units. */
	markdownCents?: number;
	recoveredCents?: number;
}

export interface EventPayloads {
	SALE_COMPLETED: {
		transactionId: string;
		shopId: string;
		clerkId: string;
		patronId: string | null;
		items: SaleLine[];
		totalAmount: number;
		paymentMethod: PaymentMethod;
		createdAt: string;
	};
	PURCHASE_ORDER_CREATED: {
		orderId: string;
		shopId: string;
		factoryId: string;
		items: { flavorId: string; quantity: number }[];
		requestedBy: string;
		createdAt: string;
	};
	INVENTORY_LOW: { shopId: string; flavorId: string; quantity: number; reorderThreshold: number };
	REVIEW_SUBMITTED: { reviewId: string; shopId: string; patronId: string; rating: number; comment: string | null };
	STOCK_REGISTERED: {
		stockItemId: string;
		factoryId: string;
		flavorId: string;
		batchId: string;
		quantity: number;
		cost: number;
		productionDate: string;
		expiryDate: string;
	};
	INVOICE_GENERATED: {
		invoiceId: string;
		orderId: string | null;
		factoryId: string;
		shopId: string;
		totalAmount: number;
		status: string;
		dueDate: string;
	};
	/** An ISSUED invoice passed its due date unpaid (the daily overdue job; once per invoice). */
	INVOICE_OVERDUE: {
		invoiceId: string;
		orderId: string | null;
		factoryId: string;
		shopId: string;
		totalAmount: number;
		dueDate: string;
		/** The day the job found it overdue (YYYY-MM-DD). */
		asOf: string;
	};
	EXPIRY_WARNING: {
		stockItemId: string;
		factoryId: string;
		flavorId: string;
		batchId: string;
		quantity: number;
		expiryDate: string;
		warningDays: number;
		managerId: string | null;
	};
	BUDGET_ALLOCATION_UPDATED: {
		factoryId: string;
		previousAmount: number;
		budgetAllocated: number;
		reason: string;
		changedBy: string | null;
	};
	USER_LOGIN: { userId: string; role: Role; method: "password" | "google"; ip: string | null };
	USER_ROLE_CHANGED: { userId: string; previousRole: Role; role: Role; changedBy: string | null };
	MESSAGE_RECEIVED: {
		messageId: string;
		conversationId: string;
		senderId: string;
		recipientIds: string[];
		messageType: "TEXT" | "IMAGE" | "FILE";
		createdAt: string;
	};
	NOTIFICATION_SENT: { notificationId: string; userId: string; type: string; message: string };
	/** Stock left the sellable world without a sale. Exactly one of shopId / factoryId is set. */
	STOCK_WRITTEN_OFF: {
		batchId: string | null;
		shopId: string | null;
		factoryId: string | null;
		flavorId: string;
		quantity: number;
		reason: WriteOffReason;
		costCents: number;
		at: string;
	};
	/** A factory batch (inventory.stock_items.id) was recalled everywhere. */
	BATCH_RECALLED: {
		batchId: string;
		batchLabel: string;
		factoryId: string;
		flavorId: string;
		reason: string;
		recalledBy: string | null;
		at: string;
	};
	/** A freezer stayed above COLD_CHAIN_MAX_C for longer than COLD_CHAIN_GRACE_MIN. Exactly one of shopId / factoryId is set. */
	COLD_CHAIN_EXCURSION: {
		freezerId: string;
		shopId: string | null;
		factoryId: string | null;
		startedAt: string;
		detectedAt: string;
		maxCelsius: number;
	};
}

export const WRITE_OFF_REASONS = ["EXPIRY", "RECALL", "QUARANTINE", "DAMAGE", "COUNT"] as const;
export type WriteOffReason = (typeof WRITE_OFF_REASONS)[number];

export type EventName = keyof EventPayloads;

interface CatalogEntry {
	/** Kafka topic the kafka-bridge relays the event to. */
	topic: string;
	/** Service that emits it (the envelope's `source`). */
	source: string;
	/** Other services whose outbox also carries it (their envelopes name themselves as `source`). */
	alsoFrom?: readonly string[];
}

export const EVENT_CATALOG: { readonly [K in EventName]: CatalogEntry } = {
	SALE_COMPLETED: { topic: "pos-transaction", source: "sales" },
	PURCHASE_ORDER_CREATED: { topic: "purchase-order", source: "sales" },
	INVENTORY_LOW: { topic: "low-stock-alert", source: "sales" },
	REVIEW_SUBMITTED: { topic: "review-submitted", source: "sales" },
	STOCK_REGISTERED: { topic: "stock-registered", source: "inventory" },
	INVOICE_GENERATED: { topic: "invoice-generated", source: "inventory" },
	INVOICE_OVERDUE: { topic: "invoice-overdue", source: "inventory" },
	EXPIRY_WARNING: { topic: "expiry-warning", source: "inventory" },
	BUDGET_ALLOCATION_UPDATED: { topic: "budget-allocation", source: "inventory" },
	USER_LOGIN: { topic: "user-login", source: "auth" },
	USER_ROLE_CHANGED: { topic: "user-role-changed", source: "auth" },
	MESSAGE_RECEIVED: { topic: "message-received", source: "communications" },
	NOTIFICATION_SENT: { topic: "notification-sent", source: "communications" },
	STOCK_WRITTEN_OFF: { topic: "stock-written-off", source: "sales", alsoFrom: ["inventory"] },
	BATCH_RECALLED: { topic: "batch-recalled", source: "inventory" },
	COLD_CHAIN_EXCURSION: { topic: "cold-chain-excursion", source: "inventory" },
};

export const EVENT_NAMES = Object.keys(EVENT_CATALOG) as EventName[];

/** Whether `schema`'s outbox may carry `event`. */
export function emittedBy(event: EventName, schema: string): boolean {
	return emitters(event).includes(schema);
}

/** The schemas whose outbox may hold `event`: its source, and the others that also write it. */
export function emitters(event: EventName): readonly string[] {
	const entry = EVENT_CATALOG[event];
	return entry.alsoFrom ? [entry.source, ...entry.alsoFrom] : [entry.source];
}

// Payload schemas (fastest-validator): what a producer outside the cluster must send for an
// event the kafka-bridge accepts (KAFKA_INBOUND_EVENTS). Strict: an unknown field is refused.
const id = { type: "uuid" } as const;
const nullableId = { type: "uuid", nullable: true } as const;
const text = (max: number) => ({ type: "string", max }) as const;
const timestamp = { type: "string", min: 10, max: 40 } as const;
const count = { type: "number", integer: true, min: 0, max: 1_000_000_000 } as const;
const positive = { type: "number", integer: true, min: 1, max: 1_000_000_000 } as const;
const money = { type: "number", integer: true, min: 0, max: Number.MAX_SAFE_INTEGER } as const;
const signedMoney = { type: "number", integer: true, min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER } as const;
const roleRule = { type: "enum", values: ROLES } as const;
const strict = { $$strict: true } as const;
const list = <T>(items: T, max = 1000) => ({ type: "array", items, min: 1, max }) as const;

export const EVENT_PAYLOAD_SCHEMAS: { readonly [K in EventName]: Record<string, unknown> } = {
	SALE_COMPLETED: {
		...strict,
		transactionId: id,
		shopId: id,
		clerkId: id,
		patronId: nullableId,
		items: list({
			type: "object",
			strict: true,
			props: {
				flavorId: id,
				quantity: positive,
				unitPrice: money,
				lineTotal: money,
				lots: {
					type: "array",
					optional: true,
					max: 1000,
					items: { type: "object", strict: true, props: { batchId: nullableId, quantity: positive } },
				},
				markdownCents: { ...money, optional: true },
				recoveredCents: { ...money, optional: true },
			},
		}),
		totalAmount: money,
		paymentMethod: { type: "enum", values: ["CASH", "CARD", "MOBILE"] },
		createdAt: timestamp,
	},
	PURCHASE_ORDER_CREATED: {
		...strict,
		orderId: id,
		shopId: id,
		factoryId: id,
		items: list({ type: "object", strict: true, props: { flavorId: id, quantity: positive } }),
		requestedBy: id,
		createdAt: timestamp,
	},
	INVENTORY_LOW: { ...strict, shopId: id, flavorId: id, quantity: count, reorderThreshold: count },
	REVIEW_SUBMITTED: {
		...strict,
		reviewId: id,
		shopId: id,
		patronId: id,
		rating: { type: "number", integer: true, min: 1, max: 5 },
		comment: { ...text(5000), nullable: true },
	},
	STOCK_REGISTERED: {
		...strict,
		stockItemId: id,
		factoryId: id,
		flavorId: id,
		batchId: text(64),
		quantity: count,
		cost: money,
		productionDate: timestamp,
		expiryDate: timestamp,
	},
	INVOICE_GENERATED: {
		...strict,
		invoiceId: id,
		orderId: nullableId,
		factoryId: id,
		shopId: id,
		totalAmount: money,
		status: text(20),
		dueDate: timestamp,
	},
	INVOICE_OVERDUE: {
		...strict,
		invoiceId: id,
		orderId: nullableId,
		factoryId: id,
		shopId: id,
		totalAmount: money,
		dueDate: timestamp,
		asOf: timestamp,
	},
	EXPIRY_WARNING: {
		...strict,
		stockItemId: id,
		factoryId: id,
		flavorId: id,
		batchId: text(64),
		quantity: count,
		expiryDate: timestamp,
		warningDays: { type: "number", integer: true, min: 0, max: 365 },
		managerId: nullableId,
	},
	BUDGET_ALLOCATION_UPDATED: {
		...strict,
		factoryId: id,
		previousAmount: signedMoney,
		budgetAllocated: signedMoney,
		reason: text(500),
		changedBy: nullableId,
	},
	USER_LOGIN: {
		...strict,
		userId: id,
		role: roleRule,
		method: { type: "enum", values: ["password", "google"] },
		ip: { ...text(64), nullable: true },
	},
	USER_ROLE_CHANGED: { ...strict, userId: id, previousRole: roleRule, role: roleRule, changedBy: nullableId },
	MESSAGE_RECEIVED: {
		...strict,
		messageId: id,
		conversationId: id,
		senderId: id,
		recipientIds: { type: "array", items: id, max: 1000 },
		messageType: { type: "enum", values: ["TEXT", "IMAGE", "FILE"] },
		createdAt: timestamp,
	},
	NOTIFICATION_SENT: { ...strict, notificationId: id, userId: id, type: text(64), message: text(2000) },
	STOCK_WRITTEN_OFF: {
		...strict,
		batchId: nullableId,
		shopId: nullableId,
		factoryId: nullableId,
		flavorId: id,
		quantity: positive,
		reason: { type: "enum", values: WRITE_OFF_REASONS },
		costCents: money,
		at: timestamp,
	},
	BATCH_RECALLED: {
		...strict,
		batchId: id,
		batchLabel: text(64),
		factoryId: id,
		flavorId: id,
		reason: text(500),
		recalledBy: nullableId,
		at: timestamp,
	},
	COLD_CHAIN_EXCURSION: {
		...strict,
		freezerId: id,
		shopId: nullableId,
		factoryId: nullableId,
		startedAt: timestamp,
		detectedAt: timestamp,
		maxCelsius: { type: "number", min: -100, max: 100 },
	},
};

/**
 * The UTC calendar day a sale counts on, for every consumer alike (analytics, inventory's consumption): its
 * `createdAt`, or else the envelope's `occurredAt`, read as an instant. A producer may send an offset
 * (`…T23:30:00-05:00`): the text's own date would put the sale on another day than the instant's.
 */
export function saleDay(event: EventEnvelope<"SALE_COMPLETED">): string {
	const at = event.data.createdAt || event.occurredAt;
	const ms = Date.parse(at);
	if (Number.isNaN(ms)) throw new Error(`SALE_COMPLETED ${event.id}: unreadable createdAt "${at}"`);
	return new Date(ms).toISOString().slice(0, 10);
}

export function eventByTopic(topic: string): EventName | undefined {
	return EVENT_NAMES.find((name) => EVENT_CATALOG[name].topic === topic);
}

/** The envelope every event travels in, on the broker and on Kafka. */
export interface EventEnvelope<K extends EventName = EventName> {
	id: string;
	type: K;
	occurredAt: string;
	source: string;
	requestId: string | null;
	data: EventPayloads[K];
}

export function envelope<K extends EventName>(
	type: K,
	data: EventPayloads[K],
	requestId?: string | null,
	source?: string,
): EventEnvelope<K> {
	return {
		id: randomUUID(),
		type,
		occurredAt: new Date().toISOString(),
		source: source ?? EVENT_CATALOG[type].source,
		requestId: requestId ?? null,
		data,
	};
}

/**
 * Emits a catalog event on the broker (balanced: one handler per consuming service).
 * `live`: what the socket gateway relays to clients (e.g. the whole message for
 * MESSAGE_RECEIVED), carried as `ctx.meta.live` beside the catalog payload.
 */
export function emitEvent<K extends EventName>(emitter: ServiceBroker | Context, event: EventEnvelope<K>, live?: unknown): Promise<void> {
	return (live === undefined ? emitter.emit(event.type, event) : emitter.emit(event.type, event, { meta: { live } })) as Promise<void>;
}

/** Socket events (docs/spec.md section 5). */
export const SOCKET_EVENTS = {
	USER_ONLINE: "USER_ONLINE",
	USER_OFFLINE: "USER_OFFLINE",
	TYPING_START: "TYPING_START",
	TYPING_STOP: "TYPING_STOP",
	JOIN_CONVERSATION: "JOIN_CONVERSATION",
	LEAVE_CONVERSATION: "LEAVE_CONVERSATION",
	NEW_MESSAGE: "NEW_MESSAGE",
	MESSAGE_DELIVERED: "MESSAGE_DELIVERED",
	CONVERSATION_UPDATED: "CONVERSATION_UPDATED",
	USER_STATUS_CHANGE: "USER_STATUS_CHANGE",
	NOTIFICATION_RECEIVED: "NOTIFICATION_RECEIVED",
	SYSTEM_ANNOUNCEMENT: "SYSTEM_ANNOUNCEMENT",
	/** A video transcode job finished (DONE or FAILED); to the file owner's and the requester's user rooms (docs/files.md). */
	FILE_JOB_FINISHED: "FILE_JOB_FINISHED",
	/** The server is about to close this socket: reconnect with a fresh token (`{ reason: "ROLE_CHANGED" | "TOKEN_REVOKED", role? }`). */
	RECONNECT_REQUIRED: "RECONNECT_REQUIRED",
} as const;
export type SocketEvent = keyof typeof SOCKET_EVENTS;

/** Internal broker events (not relayed to Kafka). */
export const INTERNAL_EVENTS = {
	/** `cache.clean.<service>`: drop cached results of that service's actions. */
	cacheClean: (service: string) => `cache.clean.${service}`,
	/** `sockets.push`: the gateway emits a socket event to rooms (payload `SocketPush`). */
	socketPush: "sockets.push",
	/** `sockets.revoke`: every gateway node closes a user's sockets whose token stopped being valid (payload `SocketRevocation`). */
	socketRevoke: "sockets.revoke",
	/** `admin.app-log`: a server-side action failure (payload `AppLogEntry`), stored by the admin service. */
	appLog: "admin.app-log",
	/**
	 * `staff.changed`: who works where changed (shop staff or manager, factory manager; payload `StaffChanged`).
	 * Broadcast after commit; every analytics node drops those users' cached shop/factory scopes.
	 */
	staffChanged: "staff.changed",
	/** `auth.user-changed`: a user row changed (payload `{ userId }`); every auth node drops that user's cached `/me`. */
	userChanged: "auth.user-changed",
	/** `settings.changed`: the admin node's new settings snapshot (payload `SettingsSnapshot`, lib/settings.ts); every node replaces its copy. */
	settingsChanged: "settings.changed",
	/** `files.transcode-queued`: a video transcode job was queued; every files node with a free slot claims one (no payload). */
	transcodeQueued: "files.transcode-queued",
} as const;

/** Payload of `INTERNAL_EVENTS.staffChanged`: the users whose shops or factories changed. */
export interface StaffChanged {
	userIds: string[];
}

/** Tells every node that these users' shop or factory assignments changed (after the change committed). */
export function broadcastStaffChanged(broker: ServiceBroker, userIds: (string | null | undefined)[]): Promise<void> {
	const ids = [...new Set(userIds.filter((id): id is string => !!id))];
	if (!ids.length) return Promise.resolve();
	const payload: StaffChanged = { userIds: ids };
	return broker.broadcast(INTERNAL_EVENTS.staffChanged, payload) as Promise<void>;
}

/** One application log entry (middlewares/app-log.middleware.ts → admin.app_logs). */
export interface AppLogEntry {
	level: "warn" | "error";
	nodeID: string;
	service: string | null;
	action: string | null;
	message: string;
	code: number | null;
	type: string | null;
	requestId: string | null;
	at: string;
}

/** What a service asks the socket gateway to deliver. `rooms` empty + `all: true` = everyone (SYSTEM_ANNOUNCEMENT only). */
export interface SocketPush {
	event: SocketEvent;
	data: unknown;
	rooms: string[];
	/** Rooms whose sockets are skipped (e.g. the sender's own `user:<id>`). */
	except?: string[];
	all?: boolean;
}

/**
 * Which of a user's sockets to close: those opened with the token `jti` or with a
 * token of one of `families` (logout), and/or every one whose token was issued
 * before `issuedBefore` (ms; deactivation, deletion, role or password change).
 */
export interface SocketRevocation {
	userId: string;
	/** Told to the client before its socket closes (RECONNECT_REQUIRED); TOKEN_REVOKED when absent. */
	reason?: "ROLE_CHANGED" | "TOKEN_REVOKED";
	jti?: string;
	families?: string[];
	issuedBefore?: number;
}
