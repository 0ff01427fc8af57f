/**
 * The gateway's HTTP edge: CORS, security headers, compression, request ids,
 * opaque 500s, and an OpenAPI document that lists every route that exists.
 */
import zlib from "node:zlib";
import type { Service } from "moleculer";
import { startTestApp, waitForAliases, type TestApp } from "../helpers/app";
import { rawRequest } from "../integration/auth/helpers";

const ALLOWED = "https://shop.example.com";

interface Alias {
	method: string;
	path: string;
	fullPath?: string;
	action?: string;
	route?: { path: string };
}

describe("gateway HTTP edge", () => {
	let app: TestApp;
	let api: Service & { aliases: Alias[] };

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth"], env: { CORS_ORIGINS: `${ALLOWED},https://admin.example.com` } });
		// A service that fails the way a database bug would: the message holds SQL.
		await app.broker.createService({
			name: "boom",
			settings: { rest: "/boom" },
			actions: {
				explode: {
					rest: "GET /",
					auth: "public",
					summary: "Fails on purpose (test only)",
					handler() {
						const err = new Error('relation "secret_table" does not exist: SELECT password_hash FROM auth.users WHERE id = 1');
						throw Object.assign(err, { sql: "SELECT password_hash FROM auth.users", code: "42P01" });
					},
				},
			},
		});
		api = app.broker.getLocalService("api") as typeof api;
		await waitForAliases(api, ["auth", "boom"]);
	});
	afterAll(async () => app?.stop());

	describe("CORS from CORS_ORIGINS", () => {
		it("answers a preflight for an allowed origin", async () => {
			const res = await rawRequest(app.baseUrl, "OPTIONS", "/api/v1/auth/login", {
				origin: ALLOWED,
				"access-control-request-method": "POST",
				"access-control-request-headers": "content-type,authorization",
			});
			expect(res.status).toBeGreaterThanOrEqual(200);
			expect(res.status).toBeLessThan(300);
			expect(res.headers["access-control-allow-origin"]).toBe(ALLOWED);
			expect(String(res.headers["access-control-allow-methods"])).toContain("POST");
			expect(String(res.headers["access-control-allow-headers"]).toLowerCase()).toContain("authorization");
			const actual = await rawRequest(app.baseUrl, "GET", "/health", { origin: ALLOWED });
			expect(actual.headers["access-control-allow-origin"]).toBe(ALLOWED);
			expect(String(actual.headers["access-control-expose-headers"]).toLowerCase()).toContain("x-request-id");
		});

		it("does not echo an unknown origin", async () => {
			const evil = "https://evil.example.net";
			for (const method of ["OPTIONS", "GET"]) {
				const res = await rawRequest(app.baseUrl, method, "/api/v1/auth/me", {
					origin: evil,
					"access-control-request-method": "GET",
				});
				expect(res.headers["access-control-allow-origin"]).not.toBe(evil);
				expect(res.headers["access-control-allow-origin"]).not.toBe("*");
			}
		});
	});

	describe("security headers", () => {
		it.each(["/health", "/api/v1/auth/me", "/api/v1/nothing-here"])("are on %s (success and errors alike)", async (path) => {
			const res = await rawRequest(app.baseUrl, "GET", path);
			expect(res.headers["x-content-type-options"]).toBe("nosniff");
			expect(String(res.headers["x-frame-options"]).toUpperCase()).toBe("DENY");
			expect(String(res.headers["content-security-policy"])).toContain("frame-ancestors 'none'");
			expect(res.headers["x-powered-by"]).toBeUndefined();
		});
	});

	describe("compression", () => {
		it.each([
			["gzip", (b: Buffer) => zlib.gunzipSync(b)],
			["br", (b: Buffer) => zlib.brotliDecompressSync(b)],
		])("compresses a large JSON response with %s", async (encoding, decode) => {
			const res = await rawRequest(app.baseUrl, "GET", "/api/v1/openapi.json", { "accept-encoding": encoding });
			expect(res.status).toBe(200);
			expect(res.headers["content-encoding"]).toBe(encoding);
			const doc = JSON.parse(decode(res.body).toString("utf8"));
			expect(doc.openapi).toMatch(/^3\./);
			expect(res.body.length).toBeLessThan(decode(res.body).length / 2);
		});

		it("leaves the response plain without Accept-Encoding, and small responses uncompressed", async () => {
			const plain = await rawRequest(app.baseUrl, "GET", "/api/v1/openapi.json");
			expect(plain.headers["content-encoding"]).toBeUndefined();
			expect(JSON.parse(plain.body.toString("utf8")).openapi).toBeDefined();
			const small = await rawRequest(app.baseUrl, "GET", "/health", { "accept-encoding": "gzip" });
			expect(small.headers["content-encoding"]).toBeUndefined();
		});
	});

	describe("request ids", () => {
		const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

		it.each<[string, string, string | undefined, number]>([
			["GET", "/health", undefined, 200],
			["GET", "/api/v1/openapi.json", undefined, 200],
			["GET", "/api/v1/auth/me", undefined, 401],
			["GET", "/api/v1/nothing-here", undefined, 404],
			["GET", "/totally/unknown", undefined, 404],
			["POST", "/api/v1/auth/login", "{not json", 400],
			["POST", "/api/v1/auth/login", JSON.stringify({ email: "x" }), 422],
			["POST", "/api/v1/auth/register", JSON.stringify({ name: "x".repeat(1100 * 1024) }), 413],
			["GET", "/api/v1/boom", undefined, 500],
		])("%s %s carries X-Request-Id (and the error body names it)", async (method, path, body, status) => {
			const res = await rawRequest(app.baseUrl, method, path, body ? { "content-type": "application/json" } : {}, body);
			expect(res.status).toBe(status);
			const id = res.headers["x-request-id"];
			expect(id).toMatch(UUID);
			if (status >= 400) expect(JSON.parse(res.body.toString("utf8")).requestId).toBe(id);
		});

		it("echoes a well-formed incoming X-Request-Id and replaces a malformed one", async () => {
			const good = await rawRequest(app.baseUrl, "GET", "/api/v1/auth/me", { "x-request-id": "edge-proxy-req-12345" });
			expect(good.headers["x-request-id"]).toBe("edge-proxy-req-12345");
			expect(JSON.parse(good.body.toString("utf8")).requestId).toBe("edge-proxy-req-12345");
			const bad = await rawRequest(app.baseUrl, "GET", "/health", { "x-request-id": "<script>alert(1)</script>" });
			expect(bad.headers["x-request-id"]).toMatch(UUID);
		});
	});

	describe("500s", () => {
		it("answer the one error shape with no stack trace and no SQL", async () => {
			const res = await rawRequest(app.baseUrl, "GET", "/api/v1/boom");
			expect(res.status).toBe(500);
			const text = res.body.toString("utf8");
			const body = JSON.parse(text);
			expect(body).toEqual({ error: { code: "INTERNAL_ERROR", message: "Internal server error" }, requestId: expect.any(String) });
			for (const leak of ["SELECT", "secret_table", "password_hash", "42P01", "at ", ".ts:", "node_modules"])
				expect(text).not.toContain(leak);
		});
	});

	describe("OpenAPI", () => {
		it("lists every published route of the gateway, and nothing that isn't routed", async () => {
			const res = await rawRequest(app.baseUrl, "GET", "/api/v1/openapi.json");
			const doc = JSON.parse(res.body.toString("utf8")) as {
				paths: Record<string, Record<string, { summary?: string; security?: unknown }>>;
			};
			const routed = new Set(
				api.aliases
					.filter((a) => a.action && !a.action.startsWith("api.") && (a.fullPath ?? a.path).startsWith("/api/v1/"))
					.map((a) => `${a.method.toLowerCase()} ${(a.fullPath ?? a.path).replace(/:(\w+)/g, "{$1}")}`),
			);
			const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)));
			expect(routed.size).toBeGreaterThanOrEqual(15);
			expect([...routed].filter((r) => !documented.has(r))).toEqual([]);
			expect([...documented].filter((d) => !routed.has(d))).toEqual([]);
			// The 16 auth routes (14 + verify-email, resend-verification), each with a summary; public ones without security.
			const authOps = Object.entries(doc.paths)
				.filter(([p]) => p.startsWith("/api/v1/auth/"))
				.flatMap(([, ops]) => Object.values(ops));
			expect(authOps).toHaveLength(16);
			for (const op of authOps) expect(op.summary).toBeTruthy();
			expect(doc.paths["/api/v1/auth/login"].post.security).toBeUndefined();
			expect(doc.paths["/api/v1/auth/me"].get.security).toBeDefined();
			// The same actions are also served under /api/<service> and /auth.
			const aliasPaths = new Set(api.aliases.map((a) => `${a.method} ${a.fullPath ?? a.path}`));
			for (const p of ["POST /api/auth/login", "POST /auth/login", "GET /auth/users", "DELETE /api/auth/users/:userId"])
				expect(aliasPaths).toContain(p);
		});
	});
});
