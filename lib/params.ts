/**
 * fastest-validator helpers: schema building blocks and `Infer<>`, which derives
 * an action's param type from its `as const` schema so handlers and schemas never drift.
 */
import { ROLES } from "./types";

type Shorthand = "string" | "number" | "boolean" | "uuid" | "email" | "any" | "date";

type Prim<T> = T extends "number"
	? number
	: T extends "boolean"
		? boolean
		: T extends "any"
			? unknown
			: T extends "date"
				? Date
				: T extends "object"
					? Record<string, unknown>
					: string;

type FieldType<S> = S extends Shorthand
	? Prim<S>
	: S extends `${infer T}|optional`
		? Prim<T>
		: S extends { type: "enum"; values: readonly (infer V)[] }
			? V
			: S extends { type: "equal"; value: infer V }
				? V
				: S extends { type: "array"; items: infer I }
					? FieldType<I>[]
					: S extends { type: "object"; props: infer P }
						? Infer<P>
						: S extends { type: "multi"; rules: readonly (infer R)[] }
							? FieldType<R>
							: S extends { type: infer T }
								? Prim<T>
								: unknown;

type IsOptional<S> = S extends `${string}|optional`
	? true
	: S extends { optional: true }
		? true
		: S extends { default: unknown }
			? false
			: false;

type Meta$ = `$$${string}`;

/** The params type of a fastest-validator schema. Fields with a default are required in the handler. */
export type Infer<S> = {
	-readonly [K in keyof S as K extends Meta$ ? never : IsOptional<S[K]> extends true ? never : K]: FieldType<S[K]>;
} & {
	-readonly [K in keyof S as K extends Meta$ ? never : IsOptional<S[K]> extends true ? K : never]?: FieldType<S[K]>;
};

/** Unknown fields are removed before the handler sees them: no mass assignment. */
export const STRICT = { $$strict: "remove" } as const;

export const uuid = { type: "uuid" } as const;
export const email = { type: "email", normalize: true, max: 254 } as const;
/** An optional phone number: digits, spaces, ( ) - and a leading +, 5–20 characters. */
export const phone = {
	type: "string",
	trim: true,
	pattern: /^\+?[0-9 ()-]{5,20}$/,
	optional: true,
	nullable: true,
	messages: { stringPattern: "The 'phone' field must be a phone number." },
} as const;
export const password = { type: "string", min: 8, max: 256 } as const;
export const role = { type: "enum", values: ROLES } as const;
/** The largest amount of money any field accepts, in cents (10^11 = 1 billion in the currency): BIGINT columns, exact in a JS number. */
export const MAX_CENTS = 100_000_000_000;
/** Every money field (prices, costs, budgets): integer cents, 0 to MAX_CENTS. */
export const cents = { type: "number", integer: true, min: 0, max: MAX_CENTS, convert: true } as const;
export const positiveInt = { type: "number", integer: true, min: 1, max: 1_000_000, convert: true } as const;
/** Every date parameter: a real calendar day `YYYY-MM-DD` (rule in lib/validator.ts; 2024-02-30 is 422). */
export const isoDate = { type: "isoDate" } as const;
/** Every timestamp parameter: ISO 8601 with a zone, on a real calendar day (lib/validator.ts). */
export const isoDateTime = { type: "isoDateTime" } as const;
export const trimmed = (min: number, max: number) => ({ type: "string", trim: true, min, max }) as const;

/** The 14 EU allergens (Regulation (EU) No 1169/2011, Annex II), lowercase. */
export const ALLERGENS = [
	"celery",
	"crustaceans",
	"eggs",
	"fish",
	"gluten",
	"lupin",
	"milk",
	"molluscs",
	"mustard",
	"nuts",
	"peanuts",
	"sesame",
	"soya",
	"sulphites",
] as const;
