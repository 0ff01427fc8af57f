/** Pure pieces of auth and the gateway edge: tokens, password policy, lockout, client IP, request ids, error mapping. */
import type { IncomingMessage } from "node:http";
import jwt from "jsonwebtoken";
import { loadConfig, setConfig } from "../../lib/config";
import {
	bearerToken,
	decodeAccessToken,
	invalidateTokensBefore,
	revokeAccessToken,
	signAccessToken,
	verifyAccessToken,
} from "../../lib/tokens";
import { toErrorResponse } from "../../lib/errors";
import { checkPasswordPolicy, lockoutDelaySec } from "../../services/auth/passwords";
import { hashToken, newOpaqueToken } from "../../services/auth/sessions";
import { clientIp, requestIdFor } from "../../services/gateway/http";
import { ruleToSchema } from "../../services/gateway/openapi";

beforeAll(() => {
	setConfig(loadConfig({ NODE_ENV: "test", JWT_SECRET: "u".repeat(48), JWT_ACCESS_TTL: "60" }));
});

const USER = { id: "5f0c8a3e-1d2b-4c5d-8e9f-0a1b2c3d4e5f", role: "CLERK" as const };

describe("access tokens", () => {
	it("sign and verify round-trip with iss/aud/jti/sub/role/typ", async () => {
		const { token, jti, expiresIn } = signAccessToken(USER, "session-1");
		expect(expiresIn).toBe(60);
		const claims = decodeAccessToken(token);
		expect(claims).toMatchObject({
			sub: USER.id,
			role: "CLERK",
			jti,
			sid: "session-1",
			typ: "access",
			iss: "eislager",
			aud: "eislager-api",
		});
		expect(jwt.decode(token, { complete: true })?.header.alg).toBe("HS256");
		await expect(verifyAccessToken(token)).resolves.toMatchObject({ id: USER.id, role: "CLERK", jti, sid: "session-1" });
	});

	it("revocation by jti and by 'valid after' (in-memory store without REDIS_URL)", async () => {
		const a = signAccessToken(USER);
		await revokeAccessToken(a.jti, decodeAccessToken(a.token).exp);
		await expect(verifyAccessToken(a.token)).rejects.toMatchObject({ code: 401, type: "TOKEN_REVOKED" });

		const other = { ...USER, id: "6f0c8a3e-1d2b-4c5d-8e9f-0a1b2c3d4e5f" };
		const old = signAccessToken(other);
		await new Promise((r) => setTimeout(r, 3));
		await invalidateTokensBefore(other.id);
		const fresh = signAccessToken(other);
		await expect(verifyAccessToken(old.token)).rejects.toMatchObject({ code: 401, type: "TOKEN_REVOKED" });
		await expect(verifyAccessToken(fresh.token)).resolves.toMatchObject({ id: other.id });
	});

	it("rejects other secrets, algorithms and types as 401", () => {
		const claims = decodeAccessToken(signAccessToken(USER).token);
		for (const forged of [
			jwt.sign(claims, "v".repeat(48)),
			jwt.sign(claims, "u".repeat(48), { algorithm: "HS384" }),
			jwt.sign({ ...claims, typ: "refresh" }, "u".repeat(48)),
			jwt.sign({ ...claims, ims: undefined }, "u".repeat(48)),
			jwt.sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 10 }, "u".repeat(48)),
			"a.b.c",
		]) {
			expect(() => decodeAccessToken(forged)).toThrow(expect.objectContaining({ code: 401 }));
		}
	});

	it("the verified-claims cache answers only the very token it verified, and forgets on a secret change", async () => {
		const { token } = signAccessToken(USER);
		await expect(verifyAccessToken(token)).resolves.toMatchObject({ id: USER.id, role: "CLERK" });
		// Another payload (an ADMIN) under the cached token's signature: the cache is keyed by the signature, so this is its
		// lookup's hit, which must not answer for it.
		const [header, , signature] = token.split(".");
		const admin = Buffer.from(JSON.stringify({ ...decodeAccessToken(token), role: "ADMIN" })).toString("base64url");
		await expect(verifyAccessToken(`${header}.${admin}.${signature}`)).rejects.toMatchObject({ code: 401, type: "INVALID_TOKEN" });
		await expect(verifyAccessToken(token)).resolves.toMatchObject({ role: "CLERK" });

		// A new secret (no previous one kept): the token verified under the old one is refused, not served from the cache.
		setConfig(loadConfig({ NODE_ENV: "test", JWT_SECRET: "w".repeat(48), JWT_ACCESS_TTL: "60" }));
		try {
			await expect(verifyAccessToken(token)).rejects.toMatchObject({ code: 401, type: "INVALID_TOKEN" });
		} finally {
			setConfig(loadConfig({ NODE_ENV: "test", JWT_SECRET: "u".repeat(48), JWT_ACCESS_TTL: "60" }));
		}
		await expect(verifyAccessToken(token)).resolves.toMatchObject({ role: "CLERK" });
	});

	it("reads only well-formed Bearer headers", () => {
		expect(bearerToken("Bearer abc.def.ghi")).toBe("abc.def.ghi");
		expect(bearerToken("bearer   xyz")).toBe("xyz");
		expect(bearerToken("Basic abc")).toBeUndefined();
		expect(bearerToken("Bearer a b")).toBeUndefined();
		expect(bearerToken(undefined)).toBeUndefined();
	});
});

describe("passwords and refresh tokens", () => {
	it("policy: not the email (or its local part), not trivially simple", () => {
		expect(() => checkPasswordPolicy("Pat@Example.com", "pat@example.com")).toThrow(expect.objectContaining({ code: 422 }));
		expect(() => checkPasswordPolicy("patricia", "patricia@example.com")).toThrow(expect.objectContaining({ code: 422 }));
		expect(() => checkPasswordPolicy("aaaaaaaaaa", "x@example.com")).toThrow(expect.objectContaining({ code: 422 }));
		expect(() => checkPasswordPolicy("correct horse", "x@example.com")).not.toThrow();
	});

	it("lockout: 4 free failures, then 30 s doubling, capped at 15 minutes", () => {
		expect([1, 2, 3, 4].map(lockoutDelaySec)).toEqual([0, 0, 0, 0]);
		expect([5, 6, 7].map(lockoutDelaySec)).toEqual([30, 60, 120]);
		expect(lockoutDelaySec(50)).toBe(900);
	});

	it("refresh tokens are 256-bit random and stored as SHA-256", () => {
		const t = newOpaqueToken();
		expect(Buffer.from(t, "base64url")).toHaveLength(32);
		expect(newOpaqueToken()).not.toBe(t);
		expect(hashToken(t)).toMatch(/^[0-9a-f]{64}$/);
		expect(hashToken(t)).not.toContain(t);
	});
});

describe("gateway edge helpers", () => {
	const req = (xff: string | undefined, remote = "10.0.0.1", id?: string) =>
		({
			headers: { ...(xff !== undefined && { "x-forwarded-for": xff }), ...(id !== undefined && { "x-request-id": id }) },
			socket: { remoteAddress: remote },
		}) as unknown as IncomingMessage;

	it("client IP: X-Forwarded-For only as far as TRUST_PROXY hops", () => {
		expect(clientIp(req("1.1.1.1"), 0)).toBe("10.0.0.1");
		expect(clientIp(req("1.1.1.1"), 1)).toBe("1.1.1.1");
		expect(clientIp(req("6.6.6.6, 1.1.1.1"), 1)).toBe("1.1.1.1");
		expect(clientIp(req("6.6.6.6, 1.1.1.1, 2.2.2.2"), 2)).toBe("1.1.1.1");
		expect(clientIp(req(undefined), 1)).toBe("10.0.0.1");
		expect(clientIp(req("1.1.1.1"), 5)).toBe("1.1.1.1");
	});

	it("request ids: a well-formed incoming one is kept, anything else replaced by a UUID", () => {
		expect(requestIdFor(req(undefined, "x", "proxy-abc-123"))).toBe("proxy-abc-123");
		for (const bad of ["short", "has spaces in it", "<script>", "x".repeat(200)])
			expect(requestIdFor(req(undefined, "x", bad))).toMatch(/^[0-9a-f-]{36}$/);
	});

	it("errors map to one shape and never leak 5xx internals", () => {
		expect(toErrorResponse(new Error("SELECT * FROM secrets"), "r1")).toEqual({
			status: 500,
			body: { error: { code: "INTERNAL_ERROR", message: "Internal server error" }, requestId: "r1" },
		});
		expect(toErrorResponse({ type: "entity.too.large", status: 413 }, "r2").status).toBe(413);
		// A full bulkhead queue names the action and the node in its stock message: neither leaves the gateway.
		expect(
			toErrorResponse(
				{
					code: 429,
					type: "QUEUE_FULL",
					message: "Queue is full. Request 'sales.pos.sale' action on 'host-sales-42' node is rejected.",
					data: { action: "sales.pos.sale", nodeID: "host-sales-42" },
				},
				"rq",
			),
		).toEqual({
			status: 503,
			body: {
				error: { code: "SERVICE_UNAVAILABLE", message: "Service busy, try again shortly", details: { retryAfter: 1 } },
				requestId: "rq",
			},
		});
		// A corrupt compressed body (zlib's string codes) is the client's: 400, not 500.
		expect(toErrorResponse({ code: "Z_DATA_ERROR", message: "incorrect header check" }, "rz")).toMatchObject({
			status: 400,
			body: { error: { code: "INVALID_BODY" } },
		});
		// body-parser's dotted types are not our codes.
		expect(
			toErrorResponse({ code: 415, type: "charset.unsupported", message: 'unsupported charset "LATIN1"' }, "rc").body.error.code,
		).toBe("UNSUPPORTED_MEDIA_TYPE");
		expect(toErrorResponse({ type: "entity.parse.failed", status: 400 }, "r3").body.error.code).toBe("INVALID_JSON");
		expect(
			toErrorResponse(
				{ code: 422, type: "VALIDATION_ERROR", data: [{ field: "email", message: "bad", type: "email", actual: "secret" }] },
				"r4",
			).body.error.details,
		).toEqual([{ field: "email", message: "bad", type: "email" }]);
		expect(toErrorResponse({ code: 401, type: "TOKEN_EXPIRED", message: "Token expired" }, "r5").body.error).toEqual({
			code: "TOKEN_EXPIRED",
			message: "Token expired",
		});
	});

	it("OpenAPI: fastest-validator rules become JSON Schema", () => {
		expect(ruleToSchema({ type: "email", max: 254 })).toEqual({ type: "string", format: "email" });
		expect(ruleToSchema({ type: "string", min: 8, max: 256 })).toEqual({ type: "string", minLength: 8, maxLength: 256 });
		expect(ruleToSchema({ type: "enum", values: ["A", "B"] })).toEqual({ type: "string", enum: ["A", "B"] });
		expect(ruleToSchema({ type: "number", integer: true, min: 1, default: 1 })).toEqual({ type: "integer", minimum: 1, default: 1 });
	});
});
