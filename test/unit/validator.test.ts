/** The broker's validator rules (lib/validator.ts), the database error mapping and the documented status, without a broker. */
import { AppValidator, findControlChars, isCalendarDate, isDateTime, isEmail, nestsDeeperThan } from "../../lib/validator";
import { apiField } from "../../mixins/db.mixin";
import { email, isoDate, isoDateTime, trimmed } from "../../lib/params";
import { buildOpenApi } from "../../services/gateway/openapi";

const v = new AppValidator();
const check = (schema: object, params: object) => v.compile(schema)(params) as true | { field: string; type: string }[];

describe("validator rules", () => {
	it("checks emails linearly: the crafted 4 KB and 1 MB addresses fail at once", () => {
		for (const size of [2_000, 500_000]) {
			const crafted = "@.".repeat(size) + " x";
			const started = process.hrtime.bigint();
			expect(check({ email }, { email: crafted })).toEqual([expect.objectContaining({ field: "email" })]);
			console.log(`email of ${crafted.length} chars rejected in ${Number(process.hrtime.bigint() - started) / 1e6} ms`);
		}
		expect(check({ email }, { email: " Ada@Example.COM " })).toBe(true);
		for (const bad of ["a@b", "@b.c", "a@@b.c", "a b@c.d", "a@b.", "a@.b", "a@b.c@d.e", "x".repeat(250) + "@b.co"])
			expect(isEmail(bad)).toBe(false);
		for (const good of ["a@b.c", "first.last+tag@sub.example.org"]) expect(isEmail(good)).toBe(true);
	});

	it("accepts only real calendar dates and zoned date-times", () => {
		expect(isCalendarDate("2024-02-29")).toBe(true);
		for (const bad of ["2024-02-30", "2023-02-29", "2024-13-01", "2024-00-10", "2024-1-01", "2024-01-01x"])
			expect(isCalendarDate(bad)).toBe(false);
		expect(isDateTime("2024-02-29T23:59:59.123Z")).toBe(true);
		expect(isDateTime("2024-02-29T10:00+01:00")).toBe(true);
		for (const bad of ["2024-02-30T00:00:00Z", "2024-01-01T25:00:00Z", "2024-01-01T10:00:00", "2024-01-01"])
			expect(isDateTime(bad)).toBe(false);
		// What PostgreSQL refuses (22009, 22008) is refused here, as a 422, not a 500 from the database.
		for (const bad of ["2024-01-01T00:00:00+16:00", "2024-01-01T00:00:00-15:00", "2024-01-01T00:00:00+05:60", "0000-01-01T00:00:00Z"])
			expect(isDateTime(bad)).toBe(false);
		expect(isCalendarDate("0000-01-01")).toBe(false);
		for (const good of ["2024-01-01T00:00:00+14:00", "2024-01-01T00:00:00-12:00", "2024-01-01T00:00:00+0530"])
			expect(isDateTime(good)).toBe(true);
		expect(check({ from: isoDate }, { from: "2024-02-30" })).toEqual([expect.objectContaining({ field: "from", type: "isoDate" })]);
		expect(check({ at: isoDateTime }, { at: "1".repeat(100_000) })).toEqual([expect.objectContaining({ field: "at" })]);
	});

	it("measures nesting without recursion, arrays and objects alike, and ignores binary data", () => {
		const nest = (n: number): unknown => {
			let v: unknown = "leaf";
			for (let i = 0; i < n; i++) v = i % 2 ? [v] : { k: v };
			return v;
		};
		expect(nestsDeeperThan(nest(32))).toBe(false);
		expect(nestsDeeperThan(nest(33))).toBe(true);
		expect(nestsDeeperThan(nest(200_000))).toBe(true);
		expect(nestsDeeperThan({ a: 1, b: [1, 2, { c: "x" }], d: Buffer.alloc(1000) }, 3)).toBe(false);
		expect(nestsDeeperThan({ a: 1, b: [1, 2, { c: "x" }] }, 2)).toBe(true);
		expect(nestsDeeperThan("text")).toBe(false);
		expect(nestsDeeperThan(null)).toBe(false);
	});

	it("treats null on an optional field as invalid unless the field is nullable", () => {
		expect(check({ name: { ...trimmed(1, 10), optional: true } }, { name: null })).toEqual([
			expect.objectContaining({ field: "name", type: "notNull" }),
		]);
		expect(check({ name: { ...trimmed(1, 10), optional: true } }, {})).toBe(true);
		expect(check({ phone: { type: "string", optional: true, nullable: true } }, { phone: null })).toBe(true);
		expect(check({ tags: { type: "array", items: "string", default: [] } }, { tags: null })).toBe(true);
	});

	it("bounds a string's length before its pattern runs", () => {
		const schema = { code: { type: "string", max: 10, pattern: /^(a+)+$/ } };
		expect(check(schema, { code: "a".repeat(100_000) + "!" })).toEqual([expect.objectContaining({ field: "code", type: "stringMax" })]);
	});

	it("finds control characters anywhere in the params, tab and newline allowed", () => {
		expect(findControlChars({ name: "a\tb\nc", tags: ["x"], prefs: { a: { b: "ok" } } })).toBeUndefined();
		expect(findControlChars({ name: "a\u0000b" })).toBe("name");
		expect(findControlChars({ tags: ["ok", "b\u001b[31m"] })).toBe("tags[1]");
		expect(findControlChars({ prefs: { theme: { color: "red\r" } } })).toBe("prefs.theme.color");
		expect(findControlChars({ prefs: { "k\u0000": 1 } })).toBe("prefs.k\u0000");
		expect(findControlChars({ n: 1, b: true, z: null })).toBeUndefined();
	});
});

describe("database error fields", () => {
	it("names the API field, never an index expression or column", () => {
		expect(apiField("lower(name::text)", "id")).toBe("name");
		expect(apiField("lower((name)::text)", "id")).toBe("name");
		expect(apiField("factory_id", "id")).toBe("factoryId");
		expect(apiField("shop_id, day", "id")).toBe("shopId");
		expect(apiField(undefined, "id")).toBe("id");
	});
});

describe("declared success status", () => {
	it("is what the OpenAPI document lists, the method's guess otherwise", () => {
		const doc = buildOpenApi(
			[
				{
					name: "auth",
					settings: { rest: "/auth" },
					actions: {
						login: { name: "auth.login", rest: "POST /login", status: 200 },
						register: { name: "auth.register", rest: "POST /register" },
						start: { name: "auth.start", rest: "POST /start", status: [200, 201] },
					},
				},
			],
			{ version: "1" },
		) as { paths: Record<string, { post: { responses: Record<string, unknown> } }> };
		const codes = (path: string) => Object.keys(doc.paths[path].post.responses).filter((c) => /^2\d\d$/.test(c));
		expect(codes("/api/v1/auth/login")).toEqual(["200"]);
		expect(codes("/api/v1/auth/register")).toEqual(["201"]);
		expect(codes("/api/v1/auth/start")).toEqual(["200", "201"]);
	});
});
