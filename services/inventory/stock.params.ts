/** Param schemas of stock items (batches) and the types derived from them. */
import { WRITE_OFF_REASONS } from "../../lib/events";
import { STRICT, cents, isoDate, positiveInt, trimmed, uuid, type Infer } from "../../lib/params";
import { pageParams } from "../../lib/pagination";

const batchId = {
	type: "string",
	trim: true,
	min: 1,
	max: 64,
	pattern: /^[A-Za-z0-9._\-/]+$/,
	messages: { stringPattern: "The 'batchId' field may hold letters, digits and . _ - / only." },
} as const;
const quantityOrZero = { type: "number", integer: true, min: 0, max: 1_000_000, convert: true } as const;
const warningDays = { type: "number", integer: true, min: 0, max: 365, convert: true } as const;

export const registerParams = {
	...STRICT,
	factoryId: uuid,
	flavorId: uuid,
	batchId,
	quantity: positiveInt,
	cost: cents,
	productionDate: isoDate,
	expiryDate: isoDate,
} as const;

export const listParams = {
	...STRICT,
	...pageParams(["expiryDate", "productionDate", "createdAt", "quantity", "batchId"] as const),
	factoryId: uuid,
	flavorId: { ...uuid, optional: true },
	batchId: { ...batchId, optional: true },
	expiringBefore: { ...isoDate, optional: true },
	inStock: { type: "boolean", convert: true, optional: true },
} as const;

export const itemIdParams = { ...STRICT, itemId: uuid } as const;

export const updateParams = {
	...STRICT,
	itemId: uuid,
	quantity: { ...quantityOrZero, optional: true },
	cost: { ...cents, optional: true },
	expiryDate: { ...isoDate, optional: true },
	reason: { ...trimmed(1, 500), optional: true },
} as const;

export const removeParams = { ...STRICT, itemId: uuid, reason: { ...trimmed(1, 500), optional: true } } as const;

export const expiryParams = {
	...STRICT,
	itemId: uuid,
	warningDays: { ...warningDays, optional: true },
	writeOff: { type: "boolean", optional: true },
	quantity: { ...positiveInt, optional: true },
	reason: { ...trimmed(1, 500), optional: true },
	/** What kind of waste (STOCK_WRITTEN_OFF's reason); default EXPIRY for an expired batch, else DAMAGE. */
	cause: { type: "enum", values: WRITE_OFF_REASONS, optional: true },
} as const;

export type RegisterParams = Infer<typeof registerParams>;
export type ListParams = Infer<typeof listParams>;
export type ItemIdParams = Infer<typeof itemIdParams>;
export type UpdateParams = Infer<typeof updateParams>;
export type RemoveParams = Infer<typeof removeParams>;
export type ExpiryParams = Infer<typeof expiryParams>;
