/**
 * The event catalog: every broker event, its payload type and its Kafka topic.
 * No event name is written as a string literal anywhere else; emit through
 * `envelope()` + `emitEvent()` (or the outbox mixin, for events that must not be lost).
 */
import { randomUUID } from "node:crypto";
import type { Context, ServiceBroker } from "moleculer";
import type { Role } from "./types";

export type PaymentMethod = "CASH" | "CARD" | "MOBILE";

export interface SaleLine {
	flavorId: string;
	quantity: number;
	unitPrice: number;
	lineTotal: number;
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
	BUDGET_ALLOCATION_UPDATED: { factoryId: string; previousAmount: number; budgetAllocated: number; reason: string; changedBy: string | null };
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
}

export type EventName = keyof EventPayloads;

interface CatalogEntry {
	/** Kafka topic the kafka-bridge relays the event to. */
	topic: string;
	/** Service that emits it (the envelope's `source`). */
	source: string;
}

export const EVENT_CATALOG: { readonly [K in EventName]: CatalogEntry } = {
	SALE_COMPLETED: { topic: "pos-transaction", source: "sales" },
	PURCHASE_ORDER_CREATED: { topic: "purchase-order", source: "sales" },
	INVENTORY_LOW: { topic: "low-stock-alert", source: "sales" },
	REVIEW_SUBMITTED: { topic: "review-submitted", source: "sales" },
	STOCK_REGISTERED: { topic: "stock-registered", source: "inventory" },
	INVOICE_GENERATED: { topic: "invoice-generated", source: "inventory" },
	EXPIRY_WARNING: { topic: "expiry-warning", source: "inventory" },
	BUDGET_ALLOCATION_UPDATED: { topic: "budget-allocation", source: "inventory" },
	USER_LOGIN: { topic: "user-login", source: "auth" },
	USER_ROLE_CHANGED: { topic: "user-role-changed", source: "auth" },
	MESSAGE_RECEIVED: { topic: "message-received", source: "communications" },
	NOTIFICATION_SENT: { topic: "notification-sent", source: "communications" },
};

export const EVENT_NAMES = Object.keys(EVENT_CATALOG) as EventName[];

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

export function envelope<K extends EventName>(type: K, data: EventPayloads[K], requestId?: string | null): EventEnvelope<K> {
	return { id: randomUUID(), type, occurredAt: new Date().toISOString(), source: EVENT_CATALOG[type].source, requestId: requestId ?? null, data };
}

/** Emits a catalog event on the broker (balanced: one handler per consuming service). */
export function emitEvent<K extends EventName>(emitter: ServiceBroker | Context, event: EventEnvelope<K>): Promise<void> {
	return emitter.emit(event.type, event) as Promise<void>;
}

/** Socket events (ARCHITECTURE.md, spec section 5). */
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
} as const;

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
	jti?: string;
	families?: string[];
	issuedBefore?: number;
}
