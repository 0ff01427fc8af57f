/**
 * OpenAPI 3 document generated from the live registry: every published action
 * with a `rest` definition becomes an operation under /api/v1/<service>/...,
 * its fastest-validator params become parameters / request body, and its
 * `auth`/`roles` metadata become security and a note on who may call it.
 */
import type { ActionSchema } from "moleculer";
import { successStatuses } from "../../lib/actions";
import { describeAccess } from "../../lib/access";

type Json = Record<string, unknown>;

/** An action as the registry lists it: the declared metadata (lib/action-schema.d.ts) plus its full name. */
export type ActionInfo = Pick<
	ActionSchema,
	"rest" | "params" | "auth" | "roles" | "summary" | "description" | "visibility" | "status" | "access" | "response"
> & { name: string };

export interface ServiceInfo {
	name: string;
	fullName?: string;
	settings?: { rest?: string | string[] };
	actions?: Record<string, ActionInfo>;
}

const FV_FORMATS: Record<string, Json> = {
	email: { type: "string", format: "email" },
	uuid: { type: "string", format: "uuid" },
	url: { type: "string", format: "uri" },
	date: { type: "string", format: "date-time" },
	isoDate: { type: "string", format: "date" },
	isoDateTime: { type: "string", format: "date-time" },
	boolean: { type: "boolean" },
	any: {},
	object: { type: "object" },
};

/** fastest-validator rule → JSON Schema (the subset the project uses). */
export function ruleToSchema(rule: unknown): Json {
	if (typeof rule === "string") {
		const [type] = rule.split("|");
		return ruleToSchema({ type });
	}
	if (Array.isArray(rule)) return { oneOf: rule.map(ruleToSchema) };
	const r = (rule ?? {}) as Json;
	const out: Json = {};
	switch (r.type) {
		case "string":
			out.type = "string";
			if (typeof r.min === "number") out.minLength = r.min;
			if (typeof r.max === "number") out.maxLength = r.max;
			if (r.pattern instanceof RegExp) out.pattern = r.pattern.source;
			else if (typeof r.pattern === "string") out.pattern = r.pattern;
			break;
		case "number":
			out.type = r.integer ? "integer" : "number";
			if (typeof r.min === "number") out.minimum = r.min;
			if (typeof r.max === "number") out.maximum = r.max;
			break;
		case "enum":
			out.type = "string";
			out.enum = r.values;
			break;
		case "equal":
			out.enum = [r.value];
			break;
		case "array":
			out.type = "array";
			if (r.items) out.items = ruleToSchema(r.items);
			if (typeof r.min === "number") out.minItems = r.min;
			if (typeof r.max === "number") out.maxItems = r.max;
			break;
		case "object":
			Object.assign(out, r.props ? objectSchema(r.props as Json) : { type: "object" });
			break;
		case "multi":
			out.oneOf = ((r.rules as unknown[]) ?? []).map(ruleToSchema);
			break;
		default:
			Object.assign(out, FV_FORMATS[String(r.type)] ?? {});
	}
	if (r.default !== undefined && typeof r.default !== "function") out.default = r.default;
	if (typeof r.description === "string") out.description = r.description;
	if (r.nullable) out.nullable = true;
	return out;
}

function isOptional(rule: unknown): boolean {
	if (typeof rule === "string") return rule.includes("|optional");
	const r = (rule ?? {}) as Json;
	return Boolean(r.optional) || r.default !== undefined;
}

export function objectSchema(props: Json): Json {
	const properties: Json = {};
	const required: string[] = [];
	for (const [key, rule] of Object.entries(props)) {
		if (key.startsWith("$$")) continue;
		properties[key] = ruleToSchema(rule);
		if (!isOptional(rule)) required.push(key);
	}
	return { type: "object", properties, ...(required.length ? { required } : {}) };
}

interface RestEntry {
	method: string;
	path: string;
	/** A multipart upload route (lib/uploads.ts multipartRoute): files in, no JSON body. */
	multipart?: { files: number; maxBytes?: number };
}

function restEntries(rest: ActionInfo["rest"]): RestEntry[] {
	const list = (Array.isArray(rest) ? rest : rest ? [rest] : []) as (
		| string
		| { method?: string; path?: string; type?: string; busboyConfig?: { limits?: { files?: number; fileSize?: number } } }
	)[];
	return list.flatMap((r) => {
		if (typeof r === "string") {
			const [method, path] = r.includes(" ") ? r.split(/\s+/) : ["*", r];
			return [{ method: method.toLowerCase(), path }];
		}
		if (!r.path) return [];
		const limits = r.busboyConfig?.limits;
		const multipart =
			r.type === "multipart"
				? { files: limits?.files ?? 1, maxBytes: limits?.fileSize ? limits.fileSize - 1 : undefined }
				: undefined;
		return [{ method: (r.method ?? "*").toLowerCase(), path: r.path, ...(multipart && { multipart }) }];
	});
}

/** The multipart/form-data body of an upload route. */
function multipartBody(m: NonNullable<RestEntry["multipart"]>): Json {
	const file = { type: "string", format: "binary", ...(m.maxBytes && { description: `At most ${m.maxBytes} bytes` }) };
	const schema =
		m.files > 1
			? { type: "object", properties: { files: { type: "array", items: file, maxItems: m.files } } }
			: { type: "object", required: ["file"], properties: { file } };
	return { required: true, content: { "multipart/form-data": { schema } } };
}

/** The error statuses an action can answer, from what it declares: token, roles, ownership, path ids, params, limits. */
function errorStatuses(action: ActionInfo, entry: RestEntry, hasParams: boolean, hasPathParams: boolean): Record<string, Json> {
	const codes = new Set<number>([429]);
	if (action.auth !== "public") codes.add(401);
	if (action.roles?.length || action.access) codes.add(403);
	if (hasPathParams || action.access) codes.add(404);
	if (hasParams || entry.multipart) codes.add(422);
	if (entry.multipart) [413, 415].forEach((c) => codes.add(c));
	return Object.fromEntries([...codes].sort().map((c) => [String(c), ERROR_RESPONSE]));
}

const ERROR_RESPONSE = { $ref: "#/components/responses/Error" };

/** `services` as the registry lists them (`getServiceList({ withActions: true })`). */
export function buildOpenApi(registryServices: readonly object[], info: { version: string; serverUrl?: string }): Json {
	const services = registryServices as readonly ServiceInfo[];
	const paths: Record<string, Json> = {};
	const seen = new Set<string>();
	for (const svc of services) {
		const base = Array.isArray(svc.settings?.rest) ? svc.settings?.rest[0] : svc.settings?.rest;
		if (base === undefined || seen.has(svc.fullName ?? svc.name)) continue;
		seen.add(svc.fullName ?? svc.name);
		for (const action of Object.values(svc.actions ?? {})) {
			if (action.visibility && action.visibility !== "published") continue;
			for (const entry of restEntries(action.rest)) {
				const { method, path } = entry;
				const fullPath = `/api/v1${base}${path === "/" ? "" : path}`.replace(/\/+/g, "/");
				const oaPath = fullPath.replace(/:(\w+)/g, "{$1}");
				const pathParams = [...fullPath.matchAll(/:(\w+)/g)].map((m) => m[1]);
				const params = { ...(action.params ?? {}) };
				const parameters: Json[] = pathParams.map((name) => ({
					name,
					in: "path",
					required: true,
					schema: ruleToSchema(params[name]),
				}));
				for (const name of pathParams) delete params[name];
				const op: Json = {
					operationId: action.name,
					tags: [base.replace(/^\//, "")],
					summary: action.summary ?? action.name,
					description: [action.description, who(action)].filter(Boolean).join("\n\n"),
					responses: {
						...Object.fromEntries(
							successStatuses(action.status, method === "*" ? "post" : method).map((s) => [
								String(s),
								s !== 204 && action.response
									? { description: "Success", content: { "application/json": { schema: action.response } } }
									: { description: "Success" },
							]),
						),
						...errorStatuses(
							action,
							entry,
							Object.keys(action.params ?? {}).some((k) => !k.startsWith("$$")),
							pathParams.length > 0,
						),
						"4XX": ERROR_RESPONSE,
						"5XX": ERROR_RESPONSE,
					},
				};
				if (action.auth === "device") op.security = [{ deviceKey: [] }];
				else if (action.auth !== "public") op.security = [{ bearerAuth: [] }];
				const fields = Object.keys(params).filter((k) => !k.startsWith("$$"));
				if (entry.multipart) {
					op.requestBody = multipartBody(entry.multipart);
				} else if (fields.length) {
					if (method === "get" || method === "delete") {
						for (const name of fields)
							parameters.push({ name, in: "query", required: !isOptional(params[name]), schema: ruleToSchema(params[name]) });
					} else {
						op.requestBody = { required: true, content: { "application/json": { schema: objectSchema(params) } } };
					}
				}
				if (parameters.length) op.parameters = parameters;
				paths[oaPath] = { ...(paths[oaPath] ?? {}), [method === "*" ? "post" : method]: op };
			}
		}
	}
	return {
		openapi: "3.0.3",
		info: {
			title: "EisLager API",
			version: info.version,
			description:
				"The EisLager ice-cream chain backend. Every route is also served under /api/<service>/... and auth under /auth/...; errors use one shape (components.schemas.Error).",
		},
		servers: [{ url: info.serverUrl ?? "/" }],
		paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
		components: {
			securitySchemes: {
				bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
				deviceKey: { type: "apiKey", in: "header", name: "X-Device-Key" },
			},
			schemas: {
				Error: {
					type: "object",
					required: ["error", "requestId"],
					properties: {
						error: {
							type: "object",
							required: ["code", "message"],
							properties: { code: { type: "string", example: "VALIDATION_ERROR" }, message: { type: "string" }, details: {} },
						},
						requestId: { type: "string" },
					},
				},
			},
			responses: {
				Error: { description: "Error", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
			},
		},
	};
}

function who(action: ActionInfo): string {
	const owner = action.access ? ` ${describeAccess(action.access, action.roles)}` : "";
	if (action.roles?.length) return `Roles: ${action.roles.join(", ")}.${owner}`;
	if (action.auth === "device") return "A device key (X-Device-Key), not a user token.";
	return action.auth === "public" ? "Public." : "Any signed-in user.";
}
