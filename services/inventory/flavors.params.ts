/** Param schemas of the flavor catalog and the types derived from them. */
import { ALLERGENS, STRICT, cents, trimmed, uuid, type Infer } from "../../lib/params";
import { pageParams } from "../../lib/pagination";

const allergens = { type: "array", items: { type: "enum", values: ALLERGENS }, unique: true, max: ALLERGENS.length } as const;
const strings = (maxItems: number, maxLength: number) =>
	({ type: "array", items: { type: "string", trim: true, min: 1, max: maxLength }, max: maxItems }) as const;
const category = { type: "string", trim: true, min: 1, max: 40, uppercase: true } as const;

export const createFlavorParams = {
	...STRICT,
	name: trimmed(1, 120),
	description: { ...trimmed(0, 2000), default: "" },
	category,
	price: cents,
	ingredients: { ...strings(100, 200), default: [] },
	allergens: { ...allergens, default: [] },
	images: { ...strings(20, 2048), default: [] },
} as const;

export const updateFlavorParams = {
	...STRICT,
	flavorId: uuid,
	name: { ...trimmed(1, 120), optional: true },
	description: { ...trimmed(0, 2000), optional: true },
	category: { ...category, optional: true },
	price: { ...cents, optional: true },
	ingredients: { ...strings(100, 200), optional: true },
	allergens: { ...allergens, optional: true },
	images: { ...strings(20, 2048), optional: true },
} as const;

export const listFlavorsParams = {
	...STRICT,
	...pageParams(["name", "price", "category", "createdAt"] as const),
	category: { ...category, optional: true },
	/** Comma list of allergens the flavor must NOT contain: `?allergenFree=milk,nuts`. */
	allergenFree: { type: "string", trim: true, max: 200, optional: true },
	search: { type: "string", trim: true, max: 120, optional: true },
	/** Staff only (MANUFACTURER, EXECUTIVE, ADMIN): include archived flavors. */
	includeArchived: { type: "boolean", convert: true, default: false },
} as const;

export const flavorIdParams = { ...STRICT, flavorId: uuid } as const;
export const getManyParams = { ...STRICT, ids: { type: "array", items: uuid, max: 500 } } as const;

export type CreateFlavorParams = Infer<typeof createFlavorParams>;
export type UpdateFlavorParams = Infer<typeof updateFlavorParams>;
export type ListFlavorsParams = Infer<typeof listFlavorsParams>;
export type FlavorIdParams = Infer<typeof flavorIdParams>;
export type GetManyParams = Infer<typeof getManyParams>;
