/** Param schemas of factories and budgets, and the types derived from them. */
import { STRICT, cents, trimmed, uuid, type Infer } from "../../lib/params";
import { pageParams } from "../../lib/pagination";

export const createFactoryParams = {
	...STRICT,
	name: trimmed(1, 120),
	location: { ...trimmed(0, 300), default: "" },
	managerId: uuid,
	budgetAllocated: { ...cents, default: 0 },
} as const;

export const listFactoriesParams = {
	...STRICT,
	...pageParams(["name", "createdAt", "status"] as const),
	status: { type: "enum", values: ["ACTIVE", "INACTIVE"], optional: true },
	managerId: { ...uuid, optional: true },
	search: { type: "string", trim: true, max: 120, optional: true },
} as const;

export const updateFactoryParams = {
	...STRICT,
	factoryId: uuid,
	name: { ...trimmed(1, 120), optional: true },
	location: { ...trimmed(0, 300), optional: true },
	managerId: { ...uuid, optional: true },
	status: { type: "enum", values: ["ACTIVE", "INACTIVE"], optional: true },
} as const;

export const factoryIdParams = { ...STRICT, factoryId: uuid } as const;
export const budgetParams = { ...STRICT, factoryId: uuid, budgetAllocated: cents, reason: trimmed(1, 500) } as const;
export const budgetHistoryParams = { ...STRICT, factoryId: uuid, ...pageParams(["createdAt"] as const) } as const;
export const resolveParams = { ...STRICT, id: uuid } as const;
export const managedByParams = { ...STRICT, userId: uuid } as const;

export type ManagedByParams = Infer<typeof managedByParams>;
export type CreateFactoryParams = Infer<typeof createFactoryParams>;
export type ListFactoriesParams = Infer<typeof listFactoriesParams>;
export type UpdateFactoryParams = Infer<typeof updateFactoryParams>;
export type FactoryIdParams = Infer<typeof factoryIdParams>;
export type BudgetParams = Infer<typeof budgetParams>;
export type BudgetHistoryParams = Infer<typeof budgetHistoryParams>;
export type ResolveParams = Infer<typeof resolveParams>;
