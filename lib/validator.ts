/**
 * The broker's parameter validator: Moleculer's fastest-validator with the rules
 * hostile input needs, in one place for every action:
 * - `email` is a linear check, length bounded first (fastest-validator's own
 *   pattern backtracks cubically: 4 KB took 4.8 s and blocked the event loop);
 * - a string's length is bounded before its `pattern` runs;
 * - `isoDate` / `isoDateTime` accept only real calendar dates (2024-02-30 is 422);
 * - `null` is a value only where a field says `nullable: true` (an optional
 *   field is "absent or valid", never a null that reaches the handler);
 * The input screen (middlewares/input-screen.middleware.ts) runs just before it.
 * Ordering (moleculer.config.ts): the Authorization middleware runs before both,
 * so an anonymous or wrong-role caller never sees the schema's rules.
 */
import { Validators } from "moleculer";

/** Longest address RFC 5321 allows in a path; also the bound checked before anything else. */
export const EMAIL_MAX = 254;

/** C0 controls except tab (\x09) and newline (\x0A), and DEL. One class, linear. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARS = /[\x00-\x08\x0B-\x1F\x7F]/;

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
// Offsets of real time zones only (−12:00 … +14:00 in use; PostgreSQL refuses beyond ±15:59).
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-](0\d|1[0-4]):?[0-5]\d)$/;
const ISO_DATE_TIME_MAX = 40;

const MESSAGES = {
	isoDate: "The '{field}' field must be a real calendar date YYYY-MM-DD.",
	isoDateTime: "The '{field}' field must be an ISO 8601 date-time with a time zone.",
	notNull: "The '{field}' field may be omitted but not null.",
};

/** Whether `value` is a well-formed calendar date `YYYY-MM-DD` (exported for tests and handlers). */
export function isCalendarDate(value: string): boolean {
	// Year 0000 parses in JavaScript; PostgreSQL has no year 0.
	if (value.length !== 10 || !ISO_DATE.test(value) || value.startsWith("0000")) return false;
	const d = new Date(`${value}T00:00:00Z`);
	return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === value;
}

export function isDateTime(value: string): boolean {
	return (
		value.length <= ISO_DATE_TIME_MAX &&
		ISO_DATE_TIME.test(value) &&
		isCalendarDate(value.slice(0, 10)) &&
		!Number.isNaN(Date.parse(value))
	);
}

/** Linear: one `@` with something before it, no whitespace, a dot inside the domain. */
export function isEmail(value: string): boolean {
	if (value.length > EMAIL_MAX || /\s/.test(value)) return false;
	const at = value.indexOf("@");
	if (at < 1 || at !== value.lastIndexOf("@")) return false;
	const dot = value.indexOf(".", at + 2);
	return dot !== -1 && dot < value.length - 1;
}

/** How deep params may nest (an HTTP body, a socket call's params): far beyond any real payload. */
export const MAX_PARAMS_DEPTH = 32;

/**
 * Whether arrays and objects in `value` nest deeper than `max` levels. Iterative: a hostile depth (thousands of
 * levels fit in a 1 MB body) cannot overflow the stack here, and is refused before any recursive code (the input
 * screen, the validator, the cacher's key) sees it; there it was a synchronous RangeError, a 500, and a context the
 * broker's tracker never released.
 */
export function nestsDeeperThan(value: unknown, max = MAX_PARAMS_DEPTH): boolean {
	const stack: [unknown, number][] = [[value, 0]];
	while (stack.length) {
		const [v, depth] = stack.pop()!;
		if (v === null || typeof v !== "object" || ArrayBuffer.isView(v)) continue;
		if (depth >= max) return true;
		for (const child of Array.isArray(v) ? v : Object.values(v)) {
			if (child !== null && typeof child === "object") stack.push([child, depth + 1]);
		}
	}
	return false;
}

/** The first string (or key) holding a control character, as a field path (`tags[2]`, `preferences.theme`). */
export function findControlChars(value: unknown, path = ""): string | undefined {
	if (typeof value === "string") return CONTROL_CHARS.test(value) ? path || "body" : undefined;
	if (Array.isArray(value)) {
		for (let i = 0; i < value.length; i++) {
			const hit = findControlChars(value[i], `${path}[${i}]`);
			if (hit) return hit;
		}
		return undefined;
	}
	if (value && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
		for (const [key, v] of Object.entries(value)) {
			const field = path ? `${path}.${key}` : key;
			if (CONTROL_CHARS.test(key)) return field;
			const hit = findControlChars(v, field);
			if (hit) return hit;
		}
	}
	return undefined;
}

// fastest-validator's rule compiler API, as far as these rules use it.
interface RuleArgs {
	schema: Record<string, unknown>;
	messages: Record<string, string>;
}
interface Compiler {
	addMessage(type: string, message: string): void;
	addCustomFunction(name: string, fn: (value: string) => boolean): void;
	rules: Record<string, RuleFn>;
	add(type: string, fn: RuleFn): void;
	makeError(opts: { type: string; actual?: string; expected?: unknown; messages: Record<string, string> }): string;
	wrapRequiredCheckSourceCode(rule: { schema: Record<string, unknown>; messages: Record<string, string> }, ...rest: unknown[]): string;
}
type RuleFn = (
	this: Compiler,
	args: RuleArgs,
	path: string,
	context: { customs: Record<string, unknown> },
) => { source: string; sanitized?: boolean };

/**
 * A string rule whose check is one of the plain functions above (registered as a
 * custom function, so the compiled code calls it): the length is bounded first.
 */
function functionRule(name: string, max: number, normalizable: boolean): RuleFn {
	return function (this: Compiler, { schema, messages }) {
		const limit = typeof schema.max === "number" ? Math.min(schema.max, max) : max;
		const normalizing = normalizable && Boolean(schema.normalize);
		return {
			sanitized: normalizing,
			source: `
				if (typeof value !== "string") { ${this.makeError({ type: "string", actual: "value", messages })} return value; }
				if (value.length > ${limit * 4}) { ${this.makeError({ type: "stringMax", expected: limit, actual: "value.length", messages })} return value; }
				${normalizing ? "value = value.trim().toLowerCase();" : ""}
				if (value.length > ${limit}) { ${this.makeError({ type: "stringMax", expected: limit, actual: "value.length", messages })} return value; }
				if (!context.customFunctions.${name}(value)) { ${this.makeError({ type: name, actual: "value", messages })} }
				return value;
			`,
		};
	};
}

export class AppValidator extends Validators.Fastest {
	constructor() {
		super();
		const fv = (this as unknown as { validator: Compiler }).validator;
		for (const [k, m] of Object.entries(MESSAGES)) fv.addMessage(k, m);
		for (const [name, check, max] of [
			["email", isEmail, EMAIL_MAX],
			["isoDate", isCalendarDate, 10],
			["isoDateTime", isDateTime, ISO_DATE_TIME_MAX],
		] as const) {
			fv.addCustomFunction(name, check);
			fv.add(name, functionRule(name, max, name === "email"));
		}

		// A pattern runs only on a string already within `max`.
		const string = fv.rules.string;
		fv.add("string", function (this: Compiler, args, path, context) {
			const compiled = string.call(this, args, path, context);
			const { schema, messages } = args;
			if (schema.pattern === undefined || typeof schema.max !== "number") return compiled;
			const guard = `
				if (typeof value === "string" && ${schema.trim ? "value.trim()" : "value"}.length > ${schema.max}) {
					${this.makeError({ type: "stringMax", expected: schema.max, actual: "value.length", messages })}
					return value;
				}`;
			return { ...compiled, source: guard + compiled.source };
		});

		// Optional means absent or valid: a null reaches the handler only where `nullable: true` says so.
		const wrap = fv.wrapRequiredCheckSourceCode.bind(fv);
		fv.wrapRequiredCheckSourceCode = function (rule, ...rest) {
			const src = wrap(rule, ...rest);
			const s = rule.schema;
			if (s.optional !== true || s.nullable === true || s.type === "forbidden" || s.default !== undefined) return src;
			return src.replace(
				"// allow null",
				this.makeError({
					type: "notNull",
					actual: "value",
					messages: { ...rule.messages, notNull: rule.messages.notNull ?? MESSAGES.notNull },
				}),
			);
		};
	}
}
