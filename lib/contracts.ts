/**
 * The catalog of calls between services, beside the event catalog (lib/events.ts):
 * for every action one service calls on another, its params and its result.
 * Callers use `call(ctx, name, params)`, so a wrong name, param or result use
 * fails `tsc`; the internal actions' handlers are typed against the same entry
 * (`Params<"auth.getUsers">`, `Result<"auth.getUsers">`), so changing one side
 * breaks the other at compile time, not in production.
 * Param schemas that two services validate with (admin forwards the user routes
 * to auth) live here too, once.
 */
import type { CallingOptions } from "moleculer";
import { STRICT, role, uuid, type Infer } from "./params";
import { pageParams, type Page } from "./pagination";
import type { Ownership } from "./access";
import { r, type TypeOf } from "./response";
import { ROLES } from "./types";
import type { SettingsSnapshot } from "./settings";

// ---- shared param schemas (auth validates them, admin forwards with them) ----

export const listUsersParams = {
	...STRICT,
	...pageParams(["createdAt", "email", "name", "role"] as const),
	role: { ...role, optional: true },
	email: { type: "string", trim: true, max: 254, optional: true },
} as const;
export const setRoleParams = { ...STRICT, userId: uuid, role } as const;
export const userIdParams = { ...STRICT, userId: uuid } as const;
export const setStatusParams = { ...STRICT, userId: uuid, status: { type: "enum", values: ["ACTIVE", "INACTIVE"] } } as const;

// ---- results ----

/** A user as auth shows them (never the password hash or tokens); the schema is below. */
export type UserView = TypeOf<typeof UserViewSchema>;

export interface UserStats {
	total: number;
	deleted: number;
	byRole: Record<string, number>;
	byStatus: Record<string, number>;
	signupsPerDay: { day: string; count: number }[];
	activeLast7Days: number;
	activeLast30Days: number;
}

export interface SignInSecurity {
	accountsWithRecentFailedLogins: number;
	failedLoginAttemptsSinceLastSuccess: number;
	lockedAccounts: number;
	inactiveAccounts: number;
	softDeletedAccounts: number;
}

/** A flavor as sales prices and labels it. */
export interface FlavorRef {
	id: string;
	name: string;
	description?: string | null;
	category: string;
	price: number;
	allergens: string[];
	ingredients?: string[];
	images?: string[];
	archived: boolean;
}

export interface FactoryRef {
	id: string;
	name: string;
	managerId: string | null;
	status: string;
}

export interface ShopRef {
	id: string;
	name: string;
	address: string | null;
	status: string;
	latitude?: number | null;
	longitude?: number | null;
}

export interface OrderRef {
	id: string;
	shopId: string;
	factoryId: string;
	status: string;
}

export interface SupplierRef {
	id: string;
	name: string;
	specialties: string[];
	rating: number | null;
}

export interface ShopStock {
	shopId: string;
	items: { flavorId: string; name: string | null; quantity: number; reorderThreshold: number; low: boolean }[];
}

export interface Announcement {
	title: string;
	message: string;
	broadcastId?: string;
}

/** Units of one factory's batches of one flavor: produced, shipped to shops (invoice allocations), sold there, and that revenue. */
export interface TurnoverRow {
	factoryId: string;
	flavorId: string;
	produced: number;
	shipped: number;
	sold: number;
	revenue: number;
}

/** A supplier's recorded deliveries over a range. */
export interface SupplierPerformance {
	supplierId: string;
	name: string;
	deliveries: number;
	onTimeDeliveries: number;
	onTimeRate: number | null;
	unitsReceived: number;
	unitsRejected: number;
	rejectionRate: number | null;
	averageLeadTimeDays: number | null;
	averageDelayDays: number | null;
}

/** A chat attachment as clients see it. */
export interface AttachmentView {
	id: string;
	name: string;
	mimeType: string;
	size: number;
	url: string;
}

/** A chat message as clients see it (NEW_MESSAGE, lists, redelivery on connect). */
export interface MessageView {
	id: string;
	conversationId: string;
	senderId: string;
	/** Plain text as the sender wrote it; clients must render it as text, never as HTML. */
	content: string;
	messageType: "TEXT" | "IMAGE" | "FILE";
	attachment: AttachmentView | null;
	createdAt: string;
	/** Participants (other than the sender) who have read this message. */
	readBy: string[];
}

export interface OutboxBacklog {
	schema: string;
	unsent: number;
	failing: number;
	oldest: string | null;
	lastError: string | null;
}

// ---- the catalog ----

/** Per shop, what sales holds of one factory batch (sales.lots.trace, for inventory's batch trace). */
export interface ShopTrace {
	shopId: string;
	shopName: string | null;
	received: number;
	onHand: number;
	onHandByStatus: Record<string, number>;
	sold: number;
	transactionIds: string[];
	writtenOff: number;
}

/** A delivered order's units per factory batch (inventory.invoices.allocationsForOrder): sales receives them as lots. */
export interface OrderAllocation {
	flavorId: string;
	stockItemId: string;
	batchLabel: string;
	factoryId: string;
	expiryDate: string;
	unitCost: number;
	quantity: number;
}

export interface Contracts {
	"auth.getUsers": { params: { ids: string[] }; result: UserView[] };
	"auth.listUsers": { params: Partial<Infer<typeof listUsersParams>>; result: Page<UserView> };
	"auth.userStats": { params: { days: number }; result: UserStats };
	"auth.setRole": { params: Infer<typeof setRoleParams>; result: UserView };
	"auth.setStatus": { params: Infer<typeof setStatusParams>; result: UserView };
	"auth.deleteUser": { params: Infer<typeof userIdParams>; result: null };
	"auth.signInSecurity": { params: Record<string, never>; result: SignInSecurity };

	"sales.shops.ownership": {
		params: { id: string; userId?: string };
		result: Ownership<{ id: string; name: string; managerId: string | null; status: string; isStaff: boolean }>;
	};
	"inventory.factories.ownership": { params: { id: string; userId?: string }; result: Ownership<FactoryRef> | null };
	"communications.chat.ownership": { params: { id: string; userId?: string }; result: Ownership<{ id: string; type: string }> | null };

	"sales.shops.get": { params: { shopId: string }; result: ShopRef };
	"sales.shops.staffIds": { params: { shopId: string }; result: string[] };
	"sales.shops.staffShopIds": { params: { userId: string }; result: string[] };
	"sales.shops.coworkers": { params: { userId: string }; result: string[] };
	"sales.orders.get": { params: { orderId: string }; result: OrderRef | null };
	"sales.inventory.get": { params: { shopId: string }; result: ShopStock };
	"sales.lots.trace": { params: { batchId: string }; result: ShopTrace[] };

	"inventory.flavors.getMany": { params: { ids: string[] }; result: FlavorRef[] };
	"inventory.factories.resolve": { params: { id: string }; result: FactoryRef | null };
	"inventory.factories.managedBy": { params: { userId: string }; result: string[] };
	"inventory.freezers.resolve": {
		params: { freezerId: string };
		result: { id: string; shopId: string | null; factoryId: string | null } | null;
	};
	"inventory.invoices.allocationsForOrder": { params: { orderId: string }; result: OrderAllocation[] };
	"inventory.invoices.markShipped": { params: { orderId: string; shipped: boolean }; result: { invoiceId: string | null } };
	"inventory.suppliers.list": { params: { page: number; pageSize: number; sort: string }; result: Page<SupplierRef> };
	"inventory.turnover.byFactory": { params: { from: string; to: string; factoryIds?: string[] | null }; result: TurnoverRow[] };
	"inventory.deliveries.performance": {
		params: { from: string; to: string; factoryIds?: string[] | null };
		result: SupplierPerformance[];
	};

	"communications.chat.contacts": { params: { userId: string }; result: string[] };
	"communications.chat.watchers": { params: { userId: string }; result: string[] };
	"communications.chat.isParticipant": { params: { conversationId: string; userId: string }; result: boolean };
	"communications.notifications.announce": { params: Announcement; result: Announcement & { sentAt: string } };
	"communications.notifications.notifyUsers": {
		params: { userIds: string[]; type: string; message: string; data?: Record<string, unknown>; sourceEventId: string; mail?: boolean };
		result: { created: number };
	};
	"communications.chat.markDelivered": {
		params: { deliveries: { messageId: string; userId: string }[] };
		result: { recorded: number };
	};
	"communications.chat.undelivered": { params: { userId: string; limit?: number }; result: MessageView[] };
	"sales.lots.writeOffExpired": { params: { asOf?: string }; result: unknown };
	"admin.config.snapshot": { params: Record<string, never>; result: SettingsSnapshot };

	"kafka-bridge.backlog": { params: Record<string, never>; result: OutboxBacklog[] };
	"kafka-bridge.status": { params: Record<string, never>; result: Record<string, unknown> };
	"kafka-bridge.replay": { params: { id: string; kafka?: boolean; broker?: boolean }; result: Record<string, unknown> };
	"admin.deadLetters.list": {
		params: { group?: string; replayed?: boolean; page?: number; pageSize?: number };
		result: Page<Record<string, unknown>>;
	};
	"admin.deadLetters.replay": { params: { schema: string; id: number }; result: Record<string, unknown> };
}

export type ContractName = keyof Contracts;
export type Params<K extends ContractName> = Contracts[K]["params"];
export type Result<K extends ContractName> = Contracts[K]["result"];

/** Anything that can call an action: a Context (keeps the request's meta and id) or the broker. */
export interface Caller {
	call<T, P>(actionName: string, params: P, opts?: CallingOptions): Promise<T>;
}

/** Calls another service's action by its contract. */
export function call<K extends ContractName>(caller: Caller, name: K, params: Params<K>, opts?: CallingOptions): Promise<Result<K>> {
	return caller.call<Result<K>, Params<K>>(name, params, opts);
}

// ---- response schemas of public routes (lib/response.ts), the types above derived from them where declared ----

/** A user as auth shows them: the response schema, and (UserView) the type. */
export const UserViewSchema = r.object({
	id: r.uuid(),
	email: r.string({ format: "email" }),
	name: r.string(),
	role: r.enumOf(ROLES),
	phone: r.nullable(r.string()),
	preferences: r.record(r.any()),
	status: r.enumOf(["ACTIVE", "INACTIVE"] as const),
	emailVerified: r.boolean(),
	createdAt: r.dateTime(),
	updatedAt: r.dateTime(),
});

/** What sign-in, sign-up and refresh answer. */
export const TokenResponseSchema = r.object({
	accessToken: r.string(),
	refreshToken: r.string(),
	tokenType: r.literal("Bearer"),
	expiresIn: r.integer(),
	user: UserViewSchema,
});
export type TokenResponseBody = TypeOf<typeof TokenResponseSchema>;
