/**
 * Request bodies a hostile client sends through the gateway (HTTP and sockets): each gets its one-shape
 * error (400/413/415/422), never a 500, and nothing reaches a handler that should not.
 */
import http from "node:http";
import { gzipSync } from "node:zlib";
import { randomUUID } from "node:crypto";
import { startTestApp, type TestApp, type TestUser } from "../helpers/app";
import { connectSocket } from "../helpers/sockets";

interface Raw {
	status: number;
	body: { error?: { code: string; message: string; details?: unknown } } & Record<string, unknown>;
}

/** A raw request: the headers and bytes exactly as given. */
function raw(app: TestApp, method: string, path: string, headers: Record<string, string>, body: Buffer | string): Promise<Raw> {
	return new Promise((resolve, reject) => {
		const req = http.request(app.baseUrl + path, {
			method,
			headers: { "content-length": String(Buffer.byteLength(body)), ...headers },
		});
		req.on("response", (res) => {
			let text = "";
			res.on("data", (c: Buffer) => (text += c.toString()));
			res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Raw["body"]) : {} }));
		});
		req.on("error", reject);
		req.end(body);
	});
}

describe("hostile request bodies", () => {
	let app: TestApp;
	let user: TestUser;
	const json = (token: string) => ({ "content-type": "application/json", authorization: `Bearer ${token}` });

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "files", "communications"] });
		user = await app.createUser("PATRON");
	});
	afterAll(async () => {
		await app?.stop();
	});

	it("refuses a body nested deeper than 32 levels with 422, and a hostile depth without a 500", async () => {
		const deep = (n: number) => {
			let v = '"x"';
			for (let i = 0; i < n; i++) v = i % 2 ? `[${v}]` : `{"k":${v}}`;
			return `{"preferences":{"a":${v}}}`;
		};
		const ok = await raw(app, "PUT", "/api/v1/auth/profile", json(user.token), deep(2));
		expect(ok.status).toBe(200);
		const refused = await raw(app, "PUT", "/api/v1/auth/profile", json(user.token), deep(40));
		expect([refused.status, refused.body.error?.code]).toEqual([422, "VALIDATION_ERROR"]);
		expect(refused.body.error?.details).toEqual([expect.objectContaining({ field: "body", type: "depth" })]);
		// Thousands of levels (a public route, no token): refused before any recursive code; the process keeps no context.
		const auth = app.broker.getLocalService("auth") as unknown as { _trackedContexts?: unknown[] };
		const tracked = auth._trackedContexts?.length ?? 0;
		for (let i = 0; i < 5; i++) {
			const hostile = await raw(app, "POST", "/api/v1/auth/login", { "content-type": "application/json" }, deep(6000));
			expect([400, 422]).toContain(hostile.status);
		}
		expect(auth._trackedContexts?.length ?? 0).toBe(tracked);
	});

	it("drops a top-level __proto__ key: the other fields are still screened", async () => {
		const res = await raw(app, "PUT", "/api/v1/auth/profile", json(user.token), '{"__proto__":{},"name":"a\\u0000b"}');
		expect([res.status, res.body.error?.details]).toEqual([422, [expect.objectContaining({ field: "name", type: "controlChars" })]]);
	});

	it("answers a corrupt compressed body 400 INVALID_BODY and an unsupported charset 415 UNSUPPORTED_MEDIA_TYPE", async () => {
		const corrupt = await raw(app, "PUT", "/api/v1/auth/profile", { ...json(user.token), "content-encoding": "gzip" }, "notgzip");
		expect([corrupt.status, corrupt.body.error?.code]).toEqual([400, "INVALID_BODY"]);
		const gz = await raw(
			app,
			"PUT",
			"/api/v1/auth/profile",
			{ ...json(user.token), "content-encoding": "gzip" },
			gzipSync('{"name":"Zipped"}'),
		);
		expect([gz.status, gz.body.name]).toEqual([200, "Zipped"]);
		const latin = await raw(
			app,
			"PUT",
			"/api/v1/auth/profile",
			{ "content-type": "application/json; charset=latin1", authorization: `Bearer ${user.token}` },
			'{"name":"x"}',
		);
		expect([latin.status, latin.body.error?.code]).toEqual([415, "UNSUPPORTED_MEDIA_TYPE"]);
	});

	it("answers a body the JSON parser does not take 415, instead of a 200 that ignored it", async () => {
		for (const type of ["application/x-www-form-urlencoded", "text/plain", "application/merge-patch+json"]) {
			const res = await raw(
				app,
				"PUT",
				"/api/v1/auth/profile",
				{ "content-type": type, authorization: `Bearer ${user.token}` },
				"name=Changed",
			);
			expect([type, res.status, res.body.error?.code]).toEqual([type, 415, "UNSUPPORTED_MEDIA_TYPE"]);
		}
		const me = await app.request("GET", "/api/v1/auth/me", { token: user.token });
		expect(me.body.name).not.toBe("Changed");
		// A request without a body is not concerned.
		expect((await raw(app, "GET", "/api/v1/auth/me", { authorization: `Bearer ${user.token}` }, "")).status).toBe(200);
	});

	it("answers a malformed multipart upload 415 (no boundary) or 400 INVALID_MULTIPART (cut short), never 500", async () => {
		const headers = (type: string) => ({ authorization: `Bearer ${user.token}`, "content-type": type });
		const noBoundary = await raw(app, "POST", "/api/v1/files/upload", headers("multipart/form-data; charset=utf-8"), "x");
		expect([noBoundary.status, noBoundary.body.error?.code]).toEqual([415, "UNSUPPORTED_MEDIA_TYPE"]);
		const boundary = `b${randomUUID()}`;
		const cut = await raw(
			app,
			"POST",
			"/api/v1/files/upload",
			headers(`multipart/form-data; boundary=${boundary}`),
			`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\nabc`,
		);
		expect([cut.status, cut.body.error?.code]).toEqual([400, "INVALID_MULTIPART"]);
	});

	it("keeps preferences small: at most 4 KB as JSON and 4 levels deep", async () => {
		const put = (preferences: unknown) => raw(app, "PUT", "/api/v1/auth/profile", json(user.token), JSON.stringify({ preferences }));
		const refusal = (type: string) => [422, [expect.objectContaining({ field: "preferences", type })]];
		const big = await put({ a: "x".repeat(5000) });
		expect([big.status, big.body.error?.details]).toEqual(refusal("maxBytes"));
		const deep = await put({ a: { b: { c: { d: { e: 1 } } } } });
		expect([deep.status, deep.body.error?.details]).toEqual(refusal("depth"));
		expect((await put({ theme: "dark", a: { b: 1 } })).status).toBe(200);
	});

	it("refuses a socket call whose params nest deeper than 32 levels with a 422 ack, and keeps the socket", async () => {
		const s = await connectSocket(app.baseUrl, { token: user.token });
		try {
			let v: unknown = "x";
			// Deep enough to be refused, shallow enough for the client's own JSON encoder.
			for (let i = 0; i < 200; i++) v = { k: v };
			const [err] = await s.ack("call", "communications.chat.listConversations", v);
			expect(err).toMatchObject({ code: "VALIDATION_ERROR", status: 422 });
			expect(s.socket.connected).toBe(true);
		} finally {
			s.close();
		}
	});
});
