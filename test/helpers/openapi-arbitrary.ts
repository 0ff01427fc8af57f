/**
 * fast-check arbitraries for the inputs of an operation of the served OpenAPI
 * document: values that fit the documented schema ("valid-ish"), and hostile ones
 * (wrong types, control characters, huge numbers, impossible dates, arrays for
 * objects, nulls, long strings), mixed per field.
 */
import fc from "fast-check";

export type Json = Record<string, unknown>;

export interface Operation {
	method: string;
	path: string;
	op: {
		operationId: string;
		security?: unknown[];
		parameters?: { name: string; in: "path" | "query"; required?: boolean; schema: Json }[];
		requestBody?: { content: Record<string, { schema: Json }> };
		responses: Record<string, unknown>;
	};
}

export interface RequestInput {
	path: string;
	query: string;
	body?: unknown;
}

/** Every operation of the document, in path order. */
export function operations(doc: { paths: Record<string, Record<string, Operation["op"]>> }): Operation[] {
	return Object.entries(doc.paths).flatMap(([path, byMethod]) =>
		Object.entries(byMethod).map(([method, op]) => ({ method: method.toUpperCase(), path, op })),
	);
}

const CONTROL = fc.constantFrom("\u0000", "\u0007", "\u001b[31m", "\r", "\u007f", "\b");

/** Anything a hostile client might put where a value goes. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
	fc.constant(null),
	fc.constantFrom(-1, 0, 2 ** 31, 2 ** 53 + 1, 1e300, -1e300, 0.5, Number.MAX_SAFE_INTEGER),
	fc.constantFrom(
		"",
		" ",
		"2024-02-30",
		"2023-02-29T10:00:00Z",
		"9999-99-99",
		"not-a-uuid",
		"NaN",
		"1e400",
		"@.".repeat(2000) + " x",
		"a".repeat(5000),
	),
	fc.tuple(fc.string({ maxLength: 10 }), CONTROL, fc.string({ maxLength: 10 })).map(([a, c, b]) => a + c + b),
	fc.constantFrom(true, false),
	fc.array(fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.constant(null)), { maxLength: 3 }),
	fc.constant(JSON.parse('{"__proto__": {"admin": true}, "constructor": {"prototype": {"admin": true}}}') as unknown),
	fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.string({ maxLength: 5 }), fc.integer()), { maxKeys: 3 }),
);

function isoDate(): fc.Arbitrary<string> {
	return fc
		.date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2035-12-31T00:00:00Z"), noInvalidDate: true })
		.map((d) => d.toISOString().slice(0, 10));
}

/** A value that fits `schema`; `known` supplies real ids by field name (`shopId` -> an existing shop). */
export function validValue(schema: Json, name: string, known: Record<string, string[]>, depth = 0): fc.Arbitrary<unknown> {
	if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
	if (Array.isArray(schema.oneOf)) return fc.oneof(...(schema.oneOf as Json[]).map((s) => validValue(s, name, known, depth)));
	switch (schema.type) {
		case "integer":
		case "number": {
			const min = typeof schema.minimum === "number" ? schema.minimum : -1000;
			const max = typeof schema.maximum === "number" ? schema.maximum : Math.max(min + 1000, 1000);
			const edges = fc.constantFrom(min, max);
			return fc.oneof(
				schema.type === "integer"
					? fc.integer({ min: Math.max(min, -(2 ** 31)), max: Math.min(max, 2 ** 31) })
					: fc.double({ min, max, noNaN: true }),
				edges,
			);
		}
		case "boolean":
			return fc.boolean();
		case "array": {
			const items = (schema.items as Json | undefined) ?? {};
			const maxLength = Math.min(typeof schema.maxItems === "number" ? schema.maxItems : 3, 3);
			const minLength = Math.min(typeof schema.minItems === "number" ? schema.minItems : 0, maxLength);
			return fc.array(validValue(items, name, known, depth + 1), { minLength, maxLength });
		}
		case "object": {
			if (!schema.properties || depth > 3)
				return fc.dictionary(
					fc.string({ minLength: 1, maxLength: 8 }),
					fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean()),
					{ maxKeys: 3 },
				);
			return objectValue(schema, known, depth + 1, false);
		}
		case "string":
		default: {
			if (schema.format === "uuid") return known[name]?.length ? fc.oneof(fc.constantFrom(...known[name]), fc.uuid()) : fc.uuid();
			if (known[name]?.length) return fc.constantFrom(...known[name]);
			if (schema.format === "email") return fc.emailAddress().filter((e) => e.length <= 254);
			if (schema.format === "date") return isoDate();
			if (schema.format === "date-time")
				return fc
					.date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2035-12-31T00:00:00Z"), noInvalidDate: true })
					.map((d) => d.toISOString());
			if (schema.type !== "string") return fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.boolean());
			const minLength = typeof schema.minLength === "number" ? schema.minLength : 0;
			const maxLength = Math.min(typeof schema.maxLength === "number" ? schema.maxLength : 40, 60);
			if (typeof schema.pattern === "string")
				return fc
					.stringMatching(new RegExp(schema.pattern))
					.filter((s) => s.length >= minLength && s.length <= ((schema.maxLength as number | undefined) ?? Infinity));
			return fc.string({ minLength, maxLength: Math.max(minLength, maxLength) });
		}
	}
}

/** Either a valid value or, with `hostile`, sometimes a hostile one. */
function fieldValue(schema: Json, name: string, known: Record<string, string[]>, depth: number, hostile: boolean): fc.Arbitrary<unknown> {
	const valid = validValue(schema, name, known, depth);
	return hostile ? fc.oneof({ arbitrary: valid, weight: 2 }, { arbitrary: hostileValue, weight: 1 }) : valid;
}

function objectValue(schema: Json, known: Record<string, string[]>, depth: number, hostile: boolean): fc.Arbitrary<Json> {
	const props = (schema.properties as Record<string, Json> | undefined) ?? {};
	const required = new Set((schema.required as string[] | undefined) ?? []);
	const model: Record<string, fc.Arbitrary<unknown>> = {};
	for (const [k, s] of Object.entries(props)) model[k] = fieldValue(s, k, known, depth, hostile);
	// Hostile bodies may also lack required fields.
	return fc.record(model, { requiredKeys: hostile ? [] : [...required].filter((k) => k in props) }) as fc.Arbitrary<Json>;
}

/** The inputs of one operation: path, query string and JSON body; "valid" draws only values that fit the schema. */
export function requestInput(
	operation: Operation,
	known: Record<string, string[]>,
	mode: "mixed" | "valid" = "mixed",
): fc.Arbitrary<RequestInput> {
	const { op } = operation;
	const hostile = mode === "valid" ? fc.constant(false) : fc.boolean();
	return hostile.chain((h) => {
		const pathParams = (op.parameters ?? []).filter((p) => p.in === "path");
		const queryParams = (op.parameters ?? []).filter((p) => p.in === "query");
		// No ".." among hostile path values: URL normalisation would turn it into another route, not this operation.
		const pathArb = fc.tuple(
			...pathParams.map((p) =>
				h
					? fc.oneof(
							validValue(p.schema, p.name, known),
							fc.constantFrom("not-a-uuid", "0", "' OR 1=1 --", "\u0000", "a".repeat(300)),
						)
					: validValue(p.schema, p.name, known),
			),
		);
		const queryArb = fc.tuple(
			...queryParams.map((p) => fc.option(fieldValue(p.schema, p.name, known, 0, h), { nil: undefined, freq: p.required ? 10 : 2 })),
		);
		const bodySchema = op.requestBody?.content?.["application/json"]?.schema;
		const bodyArb: fc.Arbitrary<unknown> = bodySchema
			? h
				? fc.oneof(
						{ arbitrary: objectValue(bodySchema, known, 0, true), weight: 4 },
						{ arbitrary: fc.array(objectValue(bodySchema, known, 0, false), { maxLength: 2 }), weight: 1 },
						{ arbitrary: fc.constant({}), weight: 1 },
					)
				: objectValue(bodySchema, known, 0, false)
			: fc.constant(undefined);
		return fc.tuple(pathArb, queryArb, bodyArb).map(([pathValues, queryValues, body]) => {
			let path = operation.path;
			pathParams.forEach((p, i) => (path = path.replace(`{${p.name}}`, encodeURIComponent(String(pathValues[i])))));
			const search = new URLSearchParams();
			queryParams.forEach((p, i) => {
				const v = queryValues[i];
				if (v === undefined) return;
				search.append(p.name, typeof v === "object" && v !== null ? JSON.stringify(v) : String(v));
			});
			const query = search.toString();
			return { path, query: query ? `?${query}` : "", body };
		});
	});
}
