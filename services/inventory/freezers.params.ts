/** Param schemas of freezers, readings and batch placement, and the types derived from them. */
import { STRICT, isoDateTime, trimmed, uuid, type Infer } from "../../lib/params";
import { pageParams } from "../../lib/pagination";

/** Readings one request may carry: a day of one-minute readings, with room for retries. */
export const MAX_READINGS_PER_BATCH = 2000;

export const createFreezerParams = {
	...STRICT,
	name: trimmed(1, 120),
	shopId: { ...uuid, optional: true },
	factoryId: { ...uuid, optional: true },
} as const;

export const listFreezersParams = {
	...STRICT,
	...pageParams(["name", "createdAt", "lastReadingAt"] as const),
	shopId: { ...uuid, optional: true },
	factoryId: { ...uuid, optional: true },
} as const;

export const freezerIdParams = { ...STRICT, freezerId: uuid } as const;

export const readingsParams = {
	...STRICT,
	freezerId: uuid,
	readings: {
		type: "array",
		min: 1,
		max: MAX_READINGS_PER_BATCH,
		items: { type: "object", strict: "remove", props: { at: isoDateTime, celsius: { type: "number", min: -100, max: 100 } } },
	},
} as const;

export const listReadingsParams = {
	...STRICT,
	freezerId: uuid,
	from: { ...isoDateTime, optional: true },
	to: { ...isoDateTime, optional: true },
	limit: { type: "number", integer: true, min: 1, max: 1440, default: 60, convert: true },
} as const;

export const placeBatchParams = { ...STRICT, itemId: uuid, freezerId: { ...uuid, nullable: true } } as const;
export const batchIdParams = { ...STRICT, itemId: uuid } as const;

export type CreateFreezerParams = Infer<typeof createFreezerParams>;
export type ListFreezersParams = Infer<typeof listFreezersParams>;
export type FreezerIdParams = Infer<typeof freezerIdParams>;
export type ReadingsParams = Infer<typeof readingsParams>;
export type ListReadingsParams = Infer<typeof listReadingsParams>;
export type PlaceBatchParams = Infer<typeof placeBatchParams>;
export type BatchIdParams = Infer<typeof batchIdParams>;
