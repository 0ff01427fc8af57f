/** Param schemas of the sales actions and the types derived from them. */
import { STRICT, ALLERGENS, isoDate, isoDateTime, phone, positiveInt, trimmed, uuid, type Infer } from "../../lib/params";
import { pageParams } from "../../lib/pagination";

const time = {
	type: "string",
	pattern: /^([01]\d|2[0-3]):[0-5]\d$/,
	messages: { stringPattern: "The '{field}' field must be a time HH:MM." },
} as const;
const dayHours = { type: "object", optional: true, nullable: true, strict: "remove", props: { open: time, close: time } } as const;
const hours = {
	type: "object",
	optional: true,
	strict: "remove",
	props: { mon: dayHours, tue: dayHours, wed: dayHours, thu: dayHours, fri: dayHours, sat: dayHours, sun: dayHours },
} as const;
export const SHOP_STATUSES = ["OPEN", "CLOSED", "TEMPORARILY_CLOSED"] as const;
export const PAYMENT_METHODS = ["CASH", "CARD", "MOBILE"] as const;
export const ORDER_STATUSES = ["PENDING", "CONFIRMED", "SHIPPED", "DELIVERED", "CANCELLED"] as const;
export const STOCK_REASONS = ["COUNT", "WASTE", "CORRECTION", "RESTOCK"] as const;
/** WGS 84 degrees; null clears the position (both go together). */
const latitude = { type: "number", min: -90, max: 90, convert: true, optional: true, nullable: true } as const;
const longitude = { type: "number", min: -180, max: 180, convert: true, optional: true, nullable: true } as const;
const capacity = { type: "number", integer: true, min: 0, max: 100_000, convert: true } as const;

export const shopIdParams = { ...STRICT, shopId: uuid } as const;
export const userIdParams = { ...STRICT, userId: uuid } as const;
export const transactionIdParams = { ...STRICT, shopId: uuid, transactionId: uuid } as const;
const markdownTiers = {
	type: "array",
	max: 10,
	items: {
		type: "object",
		strict: true,
		props: {
			daysLeft: { type: "number", integer: true, min: 0, max: 365 },
			percentOff: { type: "number", integer: true, min: 1, max: 100 },
		},
	},
} as const;
export const shopMarkdownParams = { ...STRICT, shopId: uuid, tiers: markdownTiers } as const;
export const chainMarkdownParams = { ...STRICT, tiers: markdownTiers } as const;
export const batchIdParams = { ...STRICT, batchId: uuid } as const;
export const asOfParams = { ...STRICT, asOf: { ...isoDate, optional: true } } as const;

export const listShopsParams = {
	...STRICT,
	...pageParams(["name", "createdAt", "averageRating"] as const),
	status: { type: "enum", values: SHOP_STATUSES, optional: true },
	name: { type: "string", trim: true, max: 120, optional: true },
} as const;
export const createShopParams = {
	...STRICT,
	name: trimmed(1, 120),
	address: trimmed(1, 300),
	phone,
	managerId: { ...uuid, optional: true, nullable: true },
	hours,
	capacity: { ...capacity, optional: true },
	status: { type: "enum", values: SHOP_STATUSES, optional: true },
	latitude,
	longitude,
} as const;
export const updateShopParams = {
	...STRICT,
	shopId: uuid,
	name: { ...trimmed(1, 120), optional: true },
	address: { ...trimmed(1, 300), optional: true },
	phone,
	managerId: { ...uuid, optional: true, nullable: true },
	hours,
	capacity: { ...capacity, optional: true },
	status: { type: "enum", values: SHOP_STATUSES, optional: true },
	latitude,
	longitude,
} as const;
export const staffParams = { ...STRICT, shopId: uuid, userId: uuid } as const;

export const menuParams = {
	...STRICT,
	shopId: uuid,
	excludeAllergens: {
		type: "string",
		optional: true,
		max: 300,
		pattern: new RegExp(`^((${ALLERGENS.join("|")})(,|$))+$`),
		messages: { stringPattern: `The 'excludeAllergens' field must be a comma list of: ${ALLERGENS.join(", ")}.` },
	},
	category: { type: "string", trim: true, max: 60, optional: true },
	includeUnavailable: { type: "boolean", convert: true, optional: true },
} as const;
export const setInventoryParams = {
	...STRICT,
	shopId: uuid,
	items: {
		type: "array",
		min: 1,
		max: 200,
		items: {
			type: "object",
			strict: "remove",
			props: {
				flavorId: uuid,
				quantity: { type: "number", integer: true, min: 0, max: 1_000_000 },
				reorderThreshold: { type: "number", integer: true, min: 0, max: 1_000_000, optional: true },
			},
		},
	},
	reason: { type: "enum", values: STOCK_REASONS },
	note: { type: "string", trim: true, max: 500, optional: true },
} as const;

const saleItems = {
	type: "array",
	min: 1,
	max: 50,
	items: {
		type: "object",
		strict: "remove",
		props: { flavorId: uuid, quantity: { type: "number", integer: true, min: 1, max: 10_000 } },
	},
} as const;
/** What a sale is made of, online (POST pos-transactions) or synced from an offline terminal. */
const saleFields = {
	items: saleItems,
	paymentMethod: { type: "enum", values: PAYMENT_METHODS },
	patronId: { ...uuid, optional: true, nullable: true },
} as const;
export const saleParams = { ...STRICT, shopId: uuid, ...saleFields } as const;
export const syncParams = {
	...STRICT,
	shopId: uuid,
	transactions: {
		type: "array",
		min: 1,
		max: 500,
		items: {
			type: "object",
			strict: "remove",
			props: { clientId: uuid, occurredAt: isoDateTime, ...saleFields },
		},
	},
} as const;
export const listTransactionsParams = {
	...STRICT,
	shopId: uuid,
	...pageParams(["occurredAt", "totalAmount"] as const),
	from: { ...isoDate, optional: true },
	to: { ...isoDate, optional: true },
	paymentMethod: { type: "enum", values: PAYMENT_METHODS, optional: true },
	clerkId: { ...uuid, optional: true },
} as const;

export const createOrderParams = {
	...STRICT,
	shopId: uuid,
	factoryId: uuid,
	items: {
		type: "array",
		min: 1,
		max: 100,
		items: { type: "object", strict: "remove", props: { flavorId: uuid, quantity: positiveInt } },
	},
} as const;
export const listOrdersParams = {
	...STRICT,
	shopId: uuid,
	...pageParams(["createdAt", "updatedAt", "status"] as const),
	status: { type: "enum", values: ORDER_STATUSES, optional: true },
} as const;
export const orderStatusParams = { ...STRICT, orderId: uuid, status: { type: "enum", values: ORDER_STATUSES } } as const;

export const analyticsParams = {
	...STRICT,
	shopId: uuid,
	from: { ...isoDate, optional: true },
	to: { ...isoDate, optional: true },
	top: { type: "number", integer: true, min: 1, max: 50, default: 5, convert: true },
} as const;

const rating = { type: "number", integer: true, min: 1, max: 5 } as const;
const comment = { type: "string", trim: true, max: 2000, optional: true, nullable: true } as const;
export const createReviewParams = { ...STRICT, shopId: uuid, rating, comment } as const;
export const listReviewsParams = { ...STRICT, shopId: uuid, ...pageParams(["createdAt", "rating"] as const) } as const;
export const updateReviewParams = {
	...STRICT,
	reviewId: uuid,
	rating: { ...rating, optional: true },
	comment,
	deleted: { type: "equal", value: true, strict: true, optional: true },
} as const;

export type ListShopsParams = Infer<typeof listShopsParams>;
export type CreateShopParams = Infer<typeof createShopParams>;
export type UpdateShopParams = Infer<typeof updateShopParams>;
export type ShopIdParams = Infer<typeof shopIdParams>;
export type TransactionIdParams = Infer<typeof transactionIdParams>;
export type ShopMarkdownParams = Infer<typeof shopMarkdownParams>;
export type ChainMarkdownParams = Infer<typeof chainMarkdownParams>;
export type BatchIdParams = Infer<typeof batchIdParams>;
export type AsOfParams = Infer<typeof asOfParams>;
export type UserIdParams = Infer<typeof userIdParams>;
export type StaffParams = Infer<typeof staffParams>;
export type MenuParams = Infer<typeof menuParams>;
export type SetInventoryParams = Infer<typeof setInventoryParams>;
export type SaleParams = Infer<typeof saleParams>;
export type SyncParams = Infer<typeof syncParams>;
export type ListTransactionsParams = Infer<typeof listTransactionsParams>;
export type CreateOrderParams = Infer<typeof createOrderParams>;
export type ListOrdersParams = Infer<typeof listOrdersParams>;
export type OrderStatusParams = Infer<typeof orderStatusParams>;
export type AnalyticsParams = Infer<typeof analyticsParams>;
export type CreateReviewParams = Infer<typeof createReviewParams>;
export type ListReviewsParams = Infer<typeof listReviewsParams>;
export type UpdateReviewParams = Infer<typeof updateReviewParams>;
