/**
 * The gateway: moleculer-web on PORT. Canonical routes /api/v1/<service>/...,
 * the spec's aliases /api/<service>/... and /auth/..., public /health (only "ok":
 * readiness and metrics are on the operator port, lib/health.ts), and the
 * OpenAPI document. Authentication resolves the caller from a Bearer token;
 * role policy is enforced by the Authorization middleware for every action.
 * No domain logic lives here.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Errors, type Context, type Service, type ServiceSchema, type ServiceSettingSchema } from "moleculer";
import ApiGateway from "moleculer-web";
import { config } from "../../lib/config";
import { maintenance, nestedTooDeep, toErrorResponse, unauthorized } from "../../lib/errors";
import { MAX_PARAMS_DEPTH, nestsDeeperThan } from "../../lib/validator";
import { activeMaintenance, OPEN_DURING_MAINTENANCE, settingsOf } from "../../lib/settings";
import { SettingsMixin } from "../../mixins/settings.mixin";
import { packageVersion } from "../../lib/app";
import { bearerToken, verifyAccessToken } from "../../lib/tokens";
import { revocations } from "../../lib/revocation";
import type { AuthUser, Meta } from "../../lib/types";
import { GATEWAY_SERVICE } from "../../lib/actions";
import { BODY_NOT_OBJECT } from "../../middlewares/input-screen.middleware";
import { AliasIndex, type RoutableAlias } from "./alias-index";
import { buildOpenApi } from "./openapi";
import { clientIp, consume, createRateLimiters, refuseWhileSpent, requestIdFor, type RateLimiters } from "./http";
import { SocketMixin } from "./socket.mixin";
import { compressLarge, EDGE_FEATURES, securityHeaders } from "./edge";
import { batchWritesPerTurn } from "./write-batching";
import { httpMetrics } from "./http-metrics";
import { unavailableService } from "../../lib/availability";
import { defineService, type ServiceDefinition } from "../../lib/service";

interface Req extends IncomingMessage {
	$ctx?: Context<unknown, Meta>;
	$action?: { name: string; rateLimit?: "auth"; auth?: string };
	$params?: Record<string, unknown>;
	originalUrl?: string;
	body?: unknown;
}

interface Methods {
	limiters: RateLimiters;
	aliases: RoutableAlias[];
	aliasIndex: AliasIndex<RoutableAlias>;
	errorHandler(req: Req, res: ServerResponse, err: { type?: unknown }): void;
	authenticate(ctx: Context<unknown, Meta>, route: unknown, req: Req): Promise<AuthUser | null>;
	authorize(ctx: Context<unknown, Meta>, route: unknown, req: Req, res: ServerResponse): Promise<void>;
}

type This = Service & Methods & { server: import("node:http").Server };

const DOCS_ASSETS: Record<string, string> = {
	"swagger-ui.css": "text/css; charset=utf-8",
	"swagger-ui-bundle.js": "application/javascript; charset=utf-8",
	"swagger-ui-standalone-preset.js": "application/javascript; charset=utf-8",
};

const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>EisLager API</title>
<link rel="stylesheet" href="/api/v1/docs/swagger-ui.css"></head>
<body><div id="docs"></div>
<script src="/api/v1/docs/swagger-ui-bundle.js"></script>
<script src="/api/v1/docs/docs-init.js"></script></body></html>`;

const DOCS_INIT = `window.ui = SwaggerUIBundle({ url: "/api/v1/openapi.json", dom_id: "#docs" });`;

/** Routes with domain actions: which services each path family reaches. */
function domainRoute(name: string, pathPrefix: string, whitelist?: string[]) {
	return {
		name,
		path: pathPrefix,
		whitelist,
		autoAliases: true,
		mappingPolicy: "restrict" as const,
		authentication: true,
		authorization: true,
		mergeParams: true,
		// A "__proto__" key is dropped: moleculer-web merges the body into the params with Object.assign, where it
		// would replace the params' prototype (and hide every other field from the input screen).
		bodyParsers: { json: { limit: config().bodyLimit, strict: true, reviver: dropProtoKey }, urlencoded: false },
		callOptions: {},
		logging: true,
	};
}

/**
 * busboy's own parse errors on an upload route (no boundary, a form cut short, a broken part header) are plain
 * Errors, which would answer 500: they are the client's malformed body, 400 INVALID_MULTIPART.
 */
function malformedMultipart(req: Req, err: unknown): Errors.MoleculerClientError | undefined {
	if (!isUpload(req) || !(err instanceof Error) || err instanceof Errors.MoleculerError) return undefined;
	return new Errors.MoleculerClientError(`Malformed multipart body: ${err.message}`, 400, "INVALID_MULTIPART");
}

/** An upload route (lib/uploads.ts multipartRoute): it reads its own multipart body. */
function isUpload(req: Req): boolean {
	return (req as { $alias?: { type?: string } }).$alias?.type === "multipart";
}

function dropProtoKey(key: string, value: unknown): unknown {
	return key === "__proto__" ? undefined : value;
}

function sendJson(res: ServerResponse, status: number, body: unknown, contentType = "application/json; charset=utf-8"): void {
	res.statusCode = status;
	res.setHeader("Content-Type", contentType);
	res.end(typeof body === "string" ? body : JSON.stringify(body));
}

export default function createApiService(): ServiceSchema {
	const cfg = config();
	// moleculer-web's per-request lines are at debug (settings below): only these levels print them.
	const requestLinesLogged = cfg.logLevel === "debug" || cfg.logLevel === "trace";
	const schema: ServiceDefinition<ServiceSettingSchema, This> = {
		name: GATEWAY_SERVICE,
		mixins: [ApiGateway, SocketMixin, SettingsMixin],

		settings: {
			port: cfg.port,
			ip: "0.0.0.0",
			use: [
				httpMetrics(),
				EDGE_FEATURES.securityHeaders &&
					securityHeaders({
						crossOriginResourcePolicy: { policy: "same-site" },
						frameguard: { action: "deny" },
						contentSecurityPolicy: { directives: { frameAncestors: ["'none'"] } },
					}),
				EDGE_FEATURES.compression && compressLarge(1024),
			].filter((use) => typeof use === "function"),
			cors: cfg.corsOrigins.length
				? {
						origin: cfg.corsOrigins.includes("*") ? "*" : cfg.corsOrigins,
						methods: ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
						allowedHeaders: ["Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id", "X-Device-Key"],
						exposedHeaders: ["X-Request-Id", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining"],
						credentials: !cfg.corsOrigins.includes("*"),
						maxAge: 600,
					}
				: undefined,
			rootCallOptions(options: { requestID?: string }, req: IncomingMessage) {
				options.requestID = requestIdFor(req);
			},
			// One line per request and response is debugging detail: at info it costs ~20 % of a request's CPU.
			logRequest: "debug",
			logResponse: "debug",
			log4XXResponses: false,
			logRequestParams: null,
			logResponseData: null,
			optimizeOrder: true,
			// Aliases follow services joining and leaving the cluster; regenerate soon after a change.
			debounceTime: 200,
			routes: [
				{
					name: "system",
					path: "",
					whitelist: [`${GATEWAY_SERVICE}.health`, `${GATEWAY_SERVICE}.openapi`],
					authentication: false,
					authorization: false,
					aliases: {
						"GET /health": `${GATEWAY_SERVICE}.health`,
						"GET /api/v1/openapi.json": `${GATEWAY_SERVICE}.openapi`,
						"GET /api/v1/docs"(_req: IncomingMessage, res: ServerResponse) {
							sendJson(res, 200, DOCS_PAGE, "text/html; charset=utf-8");
						},
						"GET /api/v1/docs/:file"(req: IncomingMessage & { $params: { file: string } }, res: ServerResponse) {
							const file = req.$params.file;
							if (file === "docs-init.js") return sendJson(res, 200, DOCS_INIT, DOCS_ASSETS["swagger-ui-bundle.js"]);
							const type = DOCS_ASSETS[file];
							if (!type)
								return sendJson(res, 404, toErrorResponse({ code: 404 }, String(res.getHeader("X-Request-ID") ?? "")).body);
							res.setHeader("Cache-Control", "public, max-age=86400");
							sendJson(
								res,
								200,
								fs.readFileSync(path.join(require("swagger-ui-dist").getAbsoluteFSPath(), file), "utf8"),
								type,
							);
						},
					},
				},
				domainRoute("v1", "/api/v1"),
				domainRoute("api", "/api"),
				// The spec's gateway table also routes /auth/* straight to the auth service.
				domainRoute("auth-alias", "", ["auth.*"]),
			],
			onError(req: Req, res: ServerResponse, err: unknown) {
				const requestId = req.$ctx?.requestID ?? String(res.getHeader("X-Request-ID") ?? "");
				// A known service's path while none of its nodes is up: 503, not the 404 of a vanished route.
				const { status, body } = toErrorResponse(
					unavailableService(this.broker, req.method ?? "GET", req.originalUrl ?? req.url ?? "", err) ??
						malformedMultipart(req, err) ??
						err,
					requestId,
				);
				// A device route's 401 (wrong key, unknown freezer) spends the address's failure budget (see authorize).
				// Queued before the answer goes out, so the address's next request already sees it.
				if (status === 401 && req.$action?.auth === "device") {
					const address = `ip:${req.$ctx?.meta.ip ?? clientIp(req)}`;
					this.limiters.deviceKeyFailedRecently.mark(address);
					this.limiters.deviceKeyFailures.penalty(address).catch(() => undefined);
				}
				if (status >= 500 && body.error.code !== "MAINTENANCE")
					this.logger.error(`${req.method} ${req.originalUrl ?? req.url} -> ${status}`, { requestId, err });
				if (res.headersSent) return void res.end();
				res.setHeader("X-Request-ID", requestId);
				// Every 429 (gateway limits and the account lockout alike) tells the client when to retry.
				const retryAfter = (body.error.details as { retryAfter?: unknown } | undefined)?.retryAfter;
				if ((status === 429 || status === 503) && typeof retryAfter === "number") res.setHeader("Retry-After", String(retryAfter));
				// A 416 names the size of what was asked for (RFC 9110 15.5.17).
				const size = (body.error.details as { size?: unknown } | undefined)?.size;
				if (status === 416 && typeof size === "number") res.setHeader("Content-Range", `bytes */${size}`);
				sendJson(res, status, body);
			},
		},

		actions: {
			// moleculer-web's alias listing would publish the route table: not part of the API.
			listAliases: false,
			health: {
				auth: "public",
				visibility: "published",
				// Nothing about the host, the process or the dependencies: that is operator data.
				handler() {
					return { status: "ok" };
				},
			},
			openapi: {
				auth: "public",
				visibility: "published",
				cache: false,
				handler() {
					return buildOpenApi(this.broker.registry.getServiceList({ onlyAvailable: true, withActions: true }), {
						version: packageVersion(),
					});
				},
			},
		},

		methods: {
			/** moleculer-web's alias lookup, same answer, without trying every alias's regexp (alias-index.ts). */
			resolveAlias(this: This, url: string, method = "GET") {
				return this.aliasIndex.resolve(this.aliases, url, method);
			},

			/** moleculer-web's response line, built (colours, timing) only when it is logged: it is at debug (settings.logResponse). */
			logResponse(this: This, req: Req, res: ServerResponse, data?: unknown) {
				if (!requestLinesLogged) return;
				(ApiGateway.methods as { logResponse(this: This, req: Req, res: ServerResponse, data?: unknown): void }).logResponse.call(
					this,
					req,
					res,
					data,
				);
			},

			/**
			 * moleculer-web's, except after an upload whose action failed: its multipart handler answers the error at
			 * once and still sends the files' results when the form ends. That answer stands; there is nothing left to
			 * send and nothing to warn about ("Headers have already sent" was logged for every refused upload).
			 */
			sendResponse(this: This, req: Req, res: ServerResponse, data: unknown, action: unknown) {
				if (res.headersSent && isUpload(req)) return;
				return (
					ApiGateway.methods as { sendResponse(this: This, req: Req, res: ServerResponse, data: unknown, action: unknown): void }
				).sendResponse.call(this, req, res, data, action);
			},

			/** moleculer-web's, minus its error log line for a maintenance window's 503s (the system doing as told). */
			errorHandler(this: This, req: Req, res: ServerResponse, err: { type?: unknown }) {
				if (err?.type === "MAINTENANCE")
					return (this as unknown as { sendError(req: Req, res: ServerResponse, err: unknown): void }).sendError(req, res, err);
				return (
					ApiGateway.methods as { errorHandler(this: This, req: Req, res: ServerResponse, err: unknown): void }
				).errorHandler.call(this, req, res, err);
			},

			/** Resolves the caller from `Authorization: Bearer`; an invalid or revoked token is 401, none is anonymous. */
			async authenticate(_ctx: Context<unknown, Meta>, _route: unknown, req: Req): Promise<AuthUser | null> {
				const header = req.headers.authorization;
				if (!header) return null;
				const token = bearerToken(header);
				if (!token) throw unauthorized("Malformed Authorization header", "INVALID_TOKEN");
				return verifyAccessToken(token);
			},

			/** Rate limits (per user, or per client IP; stricter on credential endpoints) and request facts for the audit trail. */
			async authorize(ctx: Context<unknown, Meta>, _route: unknown, req: Req, res: ServerResponse): Promise<void> {
				const ip = clientIp(req);
				ctx.meta.ip = ip;
				ctx.meta.userAgent = String(req.headers["user-agent"] ?? "").slice(0, 256);
				// moleculer-web merges an array body into the params as "0", "1", ...: flag it for the input screen (after the role check).
				if (req.body !== undefined && (typeof req.body !== "object" || req.body === null || Array.isArray(req.body)))
					(ctx.meta as Record<string, unknown>)[BODY_NOT_OBJECT] = true;
				// A body the JSON parser did not take (form-encoded, text/plain, an unknown +json type) would be dropped
				// and the call made without it: a 200 that did nothing. Uploads (multipart) read their own body.
				const hasBody = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
				if (hasBody && !(req as { _body?: boolean })._body && !isUpload(req))
					throw new Errors.MoleculerClientError("Send the body as application/json", 415, "UNSUPPORTED_MEDIA_TYPE");
				// Before anything walks the params recursively (the screen, the validator, the cacher's key).
				if (nestsDeeperThan(req.body)) throw nestedTooDeep("body", MAX_PARAMS_DEPTH);
				const idempotencyKey = req.headers["idempotency-key"];
				if (typeof idempotencyKey === "string") ctx.meta.idempotencyKey = idempotencyKey.slice(0, 200);
				// A maintenance window closes the API to all but ADMINs; sign-in stays open so an ADMIN can get in and lift it (auth refuses the others).
				const window = activeMaintenance(settingsOf(this.broker));
				if (window && ctx.meta.user?.role !== "ADMIN" && !OPEN_DURING_MAINTENANCE.has(req.$action?.name ?? ""))
					throw maintenance(window.message, window.endsAt);
				if (req.method === "GET" && (req.headers["if-none-match"] || req.headers.range)) {
					// ETag revalidation and byte ranges of downloads are decided by the action that knows the bytes.
					const header = (name: string) =>
						typeof req.headers[name] === "string" ? (req.headers[name] as string).slice(0, 512) : undefined;
					const download = { ifNoneMatch: header("if-none-match"), ifRange: header("if-range"), range: header("range") };
					if (download.ifNoneMatch || download.range) ctx.meta.download = download;
				}
				if (req.$action?.rateLimit === "auth") await consume(this.limiters.auth, `ip:${ip}`, res);
				if (req.$action?.auth === "device") {
					// An address that keeps sending wrong keys (or random freezer ids) is stopped here, before any work.
					// Only an address that failed here lately can have spent its budget: the others skip the store.
					if (this.limiters.deviceKeyFailedRecently.has(`ip:${ip}`))
						await refuseWhileSpent(this.limiters.deviceKeyFailures, `ip:${ip}`, res);
					// A machine client (freezer sensor): its key goes to the action only, and its limit is per device, since
					// one sensor gateway may post for thousands of freezers from one address.
					const key = req.headers["x-device-key"];
					if (typeof key === "string" && key) ctx.meta.deviceKey = key.slice(0, 200);
					// Per freezer and key: requests with a wrong key spend their own budget, never the real sensor's.
					const keyTag = createHash("sha256")
						.update(String(ctx.meta.deviceKey ?? ""))
						.digest("base64url")
						.slice(0, 16);
					return consume(this.limiters.general, `device:${String(req.$params?.freezerId ?? ip).slice(0, 64)}:${keyTag}`, res);
				}
				await consume(this.limiters.general, ctx.meta.user ? `user:${ctx.meta.user.id}` : `ip:${ip}`, res);
			},
		},

		created() {
			this.limiters = createRateLimiters();
			this.aliasIndex = new AliasIndex();
			// moleculer-web made the server in its own created hook, which runs before this one.
			if (EDGE_FEATURES.writeBatching) batchWritesPerTurn(this.server);
		},

		stopped() {
			this.limiters.general.stop?.();
		},

		async started() {
			// Token checks read the local revocation copy: fill it before the first request (a Redis that is down fails them closed).
			if (!(await revocations().settled()))
				this.logger.warn("Token revocation state not available (Redis unreachable): authenticated requests answer 503 until it is");
		},
	};
	return defineService(schema);
}
