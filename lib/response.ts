/**
 * Response schemas, declared once on the action (`response: TokenResponse`): the
 * OpenAPI document emits them and the handler's return type is derived from the
 * same value (`Promise<TypeOf<typeof TokenResponse>>`), so the two cannot drift.
 * The builders produce plain JSON Schema (OpenAPI 3.0 dialect: `nullable`).
 */
type Json = Record<string, unknown>;

/** A JSON Schema that carries the TypeScript type it describes. */
export type Schema<T> = Json & { readonly __type?: T };
export type TypeOf<S> = S extends Schema<infer T> ? T : never;

export const r = {
	string: (extra: Json = {}): Schema<string> => ({ type: "string", ...extra }),
	uuid: (): Schema<string> => ({ type: "string", format: "uuid" }),
	dateTime: (): Schema<string> => ({ type: "string", format: "date-time" }),
	integer: (): Schema<number> => ({ type: "integer" }),
	number: (): Schema<number> => ({ type: "number" }),
	boolean: (): Schema<boolean> => ({ type: "boolean" }),
	any: (): Schema<unknown> => ({}),
	literal: <const V extends string>(value: V): Schema<V> => ({ type: "string", enum: [value] }),
	enumOf: <const V extends readonly string[]>(values: V): Schema<V[number]> => ({ type: "string", enum: [...values] }),
	nullable: <T>(s: Schema<T>): Schema<T | null> => ({ ...s, nullable: true }),
	array: <T>(items: Schema<T>): Schema<T[]> => ({ type: "array", items }),
	record: <T>(values: Schema<T>): Schema<Record<string, T>> => ({ type: "object", additionalProperties: values }),
	object: <P extends Record<string, Schema<unknown>>>(props: P): Schema<{ [K in keyof P]: TypeOf<P[K]> }> => ({
		type: "object",
		required: Object.keys(props),
		properties: props,
	}),
	/** An object whose `optional` properties may be absent (a view that shows more to some callers). */
	objectWith: <P extends Record<string, Schema<unknown>>, O extends Record<string, Schema<unknown>>>(
		props: P,
		optional: O,
	): Schema<{ [K in keyof P]: TypeOf<P[K]> } & { [K in keyof O]?: TypeOf<O[K]> }> => ({
		type: "object",
		required: Object.keys(props),
		properties: { ...props, ...optional },
	}),
	/** A calendar date, `YYYY-MM-DD`. */
	date: (): Schema<string> => ({ type: "string", format: "date" }),
	/** A page of a list (lib/pagination.ts): `{ rows, total, page, pageSize, totalPages }`. */
	page: <T>(item: Schema<T>) => r.object(pageProps(item)),
};

/** The properties of a page, for a list answer that adds its own (`r.object({ ...pageProps(item), unreadCount })`). */
export function pageProps<T>(item: Schema<T>) {
	return { rows: r.array(item), total: r.integer(), page: r.integer(), pageSize: r.integer(), totalPages: r.integer() };
}
