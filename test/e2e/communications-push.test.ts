/**
 * Web Push end to end (issue 14, section 1): a local HTTP server plays the push
 * service. The test subscribes with a real P-256 key pair and auth secret, the
 * backend encrypts with VAPID + aes128gcm, and the test decrypts the body the way
 * a browser does (RFC 8291 with node:crypto, independent of the sender's library)
 * and checks the content. 410 removes the subscription; 503 is retried; the
 * request that caused a push does not wait for the push service.
 */
import { createECDH, createDecipheriv, createPublicKey, hkdfSync, randomBytes, verify, type ECDH } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { startTestApp, type TestApp, type TestUser } from "../helpers/app";
import { metricsText } from "../../lib/health";
import { promtool } from "../helpers/promtool";
import { spawnSync } from "node:child_process";
import { connectSocket, type TestSocket } from "../helpers/sockets";

jest.setTimeout(60_000);

const C = "/api/v1/communications";

interface Received {
	path: string;
	headers: http.IncomingHttpHeaders;
	body: Buffer;
	status: number;
}

/** A push service on 127.0.0.1: answers by path prefix (/ok, /gone 410, /flaky 503 once, /hold until released). */
async function startPushService() {
	const received: Received[] = [];
	const seen = new Map<string, number>();
	const held: (() => void)[] = [];
	const server = http.createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on("data", (c: Buffer) => chunks.push(c));
		req.on("end", () => {
			const path = req.url ?? "/";
			const n = (seen.get(path) ?? 0) + 1;
			seen.set(path, n);
			let status = 201;
			if (path.startsWith("/gone/")) status = 410;
			if (path.startsWith("/flaky/") && n === 1) status = 503;
			const answer = () => {
				received.push({ path, headers: req.headers, body: Buffer.concat(chunks), status });
				res.writeHead(status, status === 503 ? { "retry-after": "1" } : {}).end();
			};
			if (path.startsWith("/hold/")) held.push(answer);
			else answer();
		});
	});
	await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
	const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	return {
		base,
		received,
		held,
		async next(predicate: (r: Received) => boolean, timeoutMs = 15_000): Promise<Received> {
			const deadline = Date.now() + timeoutMs;
			for (;;) {
				const hit = received.find(predicate);
				if (hit) return hit;
				if (Date.now() > deadline)
					throw new Error(`No push matching within ${timeoutMs} ms; got ${received.map((r) => r.path).join(", ")}`);
				await new Promise((r) => setTimeout(r, 25));
			}
		},
		close: () => new Promise<void>((r) => server.close(() => r())),
	};
}

/** A browser's side of a subscription: a P-256 key pair and a 16-byte auth secret. */
function browserKeys() {
	const ecdh = createECDH("prime256v1");
	ecdh.generateKeys();
	const auth = randomBytes(16);
	return { ecdh, auth, json: { p256dh: ecdh.getPublicKey().toString("base64url"), auth: auth.toString("base64url") } };
}

/** RFC 8291/8188 aes128gcm decryption, as a browser's push stack does it. */
function decrypt(body: Buffer, ecdh: ECDH, auth: Buffer): string {
	const salt = body.subarray(0, 16);
	const rs = body.readUInt32BE(16);
	const idLen = body[20];
	const serverPublic = body.subarray(21, 21 + idLen);
	const ciphertext = body.subarray(21 + idLen);
	expect(ciphertext.length).toBeLessThanOrEqual(rs);
	const shared = ecdh.computeSecret(serverPublic);
	const keyInfo = Buffer.concat([Buffer.from("WebPush: info\0"), ecdh.getPublicKey(), serverPublic]);
	const ikm = Buffer.from(hkdfSync("sha256", shared, auth, keyInfo, 32));
	const cek = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: aes128gcm\0"), 16));
	const nonce = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: nonce\0"), 12));
	const decipher = createDecipheriv("aes-128-gcm", cek, nonce);
	decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
	const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
	// The last record ends with the delimiter 0x02 followed by zero padding.
	let end = padded.length - 1;
	while (end >= 0 && padded[end] === 0) end--;
	expect(padded[end]).toBe(2);
	return padded.subarray(0, end).toString("utf8");
}

/** Checks the VAPID header: `vapid t=<ES256 JWT for the endpoint's origin>, k=<our public key>`. */
function checkVapid(headers: http.IncomingHttpHeaders, publicKey: string, audience: string) {
	const match = /^vapid t=([^,]+),\s*k=(.+)$/.exec(String(headers.authorization));
	expect(match).not.toBeNull();
	const [, token, k] = match!;
	expect(k).toBe(publicKey);
	const [h, p, s] = token.split(".");
	const raw = Buffer.from(publicKey, "base64url");
	const key = createPublicKey({
		key: { kty: "EC", crv: "P-256", x: raw.subarray(1, 33).toString("base64url"), y: raw.subarray(33).toString("base64url") },
		format: "jwk",
	});
	expect(verify("sha256", Buffer.from(`${h}.${p}`), { key, dsaEncoding: "ieee-p1363" }, Buffer.from(s, "base64url"))).toBe(true);
	const claims = JSON.parse(Buffer.from(p, "base64url").toString()) as { aud: string; exp: number; sub: string };
	expect(claims.aud).toBe(audience);
	expect(claims.sub).toMatch(/^mailto:|^https:/);
}

describe("Web Push", () => {
	let app: TestApp;
	let pushService: Awaited<ReturnType<typeof startPushService>>;
	let admin: TestUser, alice: TestUser, bob: TestUser;
	let publicKey: string;
	const sockets: TestSocket[] = [];

	beforeAll(async () => {
		pushService = await startPushService();
		app = await startTestApp({ services: ["auth", "communications"] });
		[admin, alice, bob] = await Promise.all([app.createUser("ADMIN"), app.createUser("PATRON"), app.createUser("PATRON")]);
	});
	afterAll(async () => {
		for (const s of sockets) s.close();
		for (const release of pushService?.held ?? []) release();
		await app?.stop();
		await pushService?.close();
	});

	const notify = (userId: string, type: string, message: string) =>
		app.request("POST", `${C}/notifications`, { token: admin.token, body: { userId, type, message } });
	const subscribe = (user: TestUser, endpoint: string, keys: { p256dh: string; auth: string }) =>
		app.request("POST", `${C}/push/subscriptions`, { token: user.token, body: { endpoint, keys, expirationTime: null } });

	it("serves a VAPID public key that survives a restart (generated once, kept in the database)", async () => {
		const res = await app.request("GET", `${C}/push/public-key`, { token: alice.token });
		expect(res.status).toBe(200);
		publicKey = res.body.publicKey;
		const raw = Buffer.from(publicKey, "base64url");
		expect(raw.length).toBe(65);
		expect(raw[0]).toBe(4);
		expect((await app.request("GET", `${C}/push/public-key`)).status).toBe(401);

		const second = await startTestApp({ services: ["communications"], db: app.db, env: { JWT_SECRET: app.config.jwt.secret } });
		try {
			expect((await second.request("GET", `${C}/push/public-key`, { token: alice.token })).body.publicKey).toBe(publicKey);
		} finally {
			await second.stop();
		}
	});

	it("subscribes a device once per endpoint and refuses keys that are not a P-256 point", async () => {
		const { json } = browserKeys();
		const endpoint = `${pushService.base}/ok/dedup-${randomBytes(4).toString("hex")}`;
		const first = await subscribe(alice, endpoint, json);
		expect(first.status).toBe(201);
		expect(first.body).toMatchObject({ endpoint, id: expect.any(String) });
		const again = await subscribe(alice, endpoint, json);
		expect(again.status).toBe(200);
		expect(again.body.id).toBe(first.body.id);
		const list = await app.request("GET", `${C}/push/subscriptions`, { token: alice.token });
		expect(list.body.rows.filter((r: { endpoint: string }) => r.endpoint === endpoint)).toHaveLength(1);
		expect(JSON.stringify(list.body)).not.toContain(json.auth);

		const bad = await subscribe(alice, `${pushService.base}/ok/bad`, {
			p256dh: Buffer.alloc(65, 7).toString("base64url"),
			auth: json.auth,
		});
		expect(bad.status).toBe(422);
		expect(bad.body.error.details[0].field).toBe("keys.p256dh");
		expect((await subscribe(alice, "ftp://example.com/push/x", json)).status).toBe(422);

		// Someone else's subscription is not yours to delete; your own is.
		expect((await app.request("DELETE", `${C}/push/subscriptions/${first.body.id}`, { token: bob.token })).status).toBe(404);
		expect((await app.request("DELETE", `${C}/push/subscriptions/${first.body.id}`, { token: alice.token })).status).toBe(204);
		expect((await app.request("DELETE", `${C}/push/subscriptions/${first.body.id}`, { token: alice.token })).status).toBe(404);
	});

	it("pushes a notification, encrypted for the subscriber, signed with VAPID, without making the request wait", async () => {
		const keys = browserKeys();
		const path = `/hold/${randomBytes(4).toString("hex")}`;
		expect((await subscribe(bob, pushService.base + path, keys.json)).status).toBe(201);

		// The push service holds its answer: the notification request must not wait for it.
		const created = await notify(bob.id, "STOCK_ARRIVED", "Pistachio is back in stock.");
		expect(created.status).toBe(201);
		await new Promise<void>((resolve, reject) => {
			const deadline = Date.now() + 15_000;
			const poll = () =>
				pushService.held.length
					? resolve()
					: Date.now() > deadline
						? reject(new Error("push never reached the push service"))
						: setTimeout(poll, 25);
			poll();
		});
		pushService.held.shift()!();
		const got = await pushService.next((r) => r.path === path);

		expect(got.headers["content-encoding"]).toBe("aes128gcm");
		expect(Number(got.headers.ttl)).toBeGreaterThan(0);
		checkVapid(got.headers, publicKey, pushService.base);
		const payload = JSON.parse(decrypt(got.body, keys.ecdh, keys.auth));
		expect(payload).toEqual({
			type: "STOCK_ARRIVED",
			title: "EisLager",
			body: "Pistachio is back in stock.",
			url: "/notifications",
			data: { notificationId: created.body.id },
		});
	});

	it("pushes chat messages only to recipients with no live socket", async () => {
		const carol = await app.createUser("PATRON");
		const aliceKeys = browserKeys();
		const carolKeys = browserKeys();
		const alicePath = `/ok/alice-${randomBytes(4).toString("hex")}`;
		const carolPath = `/ok/carol-${randomBytes(4).toString("hex")}`;
		expect((await subscribe(alice, pushService.base + alicePath, aliceKeys.json)).status).toBe(201);
		expect((await subscribe(carol, pushService.base + carolPath, carolKeys.json)).status).toBe(201);
		const conv = await app.request("POST", `${C}/chat/conversations`, {
			token: bob.token,
			body: { type: "GROUP", name: "Push", participantIds: [alice.id, carol.id] },
		});
		expect(conv.status).toBe(201);

		// Carol is online (a socket), Alice is not.
		const carolSocket = await connectSocket(app.baseUrl, { token: carol.token });
		sockets.push(carolSocket);
		const sent = await app.request("POST", `${C}/chat/conversations/${conv.body.id}/messages`, {
			token: bob.token,
			body: { content: "Delivery at 9, gate B" },
		});
		expect(sent.status).toBe(201);

		const got = await pushService.next((r) => r.path === alicePath);
		expect(JSON.parse(decrypt(got.body, aliceKeys.ecdh, aliceKeys.auth))).toEqual({
			type: "NEW_MESSAGE",
			title: "New message",
			body: "Delivery at 9, gate B",
			url: `/chat/${conv.body.id}`,
			data: { conversationId: conv.body.id, messageId: sent.body.id, senderId: bob.id },
		});
		// The consumer handles events in order: once Carol's later notification is pushed, the message was not.
		await notify(carol.id, "AFTER_MESSAGE", "marker");
		const marker = await pushService.next((r) => r.path === carolPath);
		expect(JSON.parse(decrypt(marker.body, carolKeys.ecdh, carolKeys.auth)).type).toBe("AFTER_MESSAGE");
		expect(pushService.received.filter((r) => r.path === carolPath)).toHaveLength(1);
	});

	it("honours preferences: muted types and a switched-off user get no push", async () => {
		const dave = await app.createUser("PATRON");
		const keys = browserKeys();
		const path = `/ok/dave-${randomBytes(4).toString("hex")}`;
		expect((await subscribe(dave, pushService.base + path, keys.json)).status).toBe(201);
		const prefs = await app.request("PUT", `${C}/push/preferences`, { token: dave.token, body: { mutedTypes: ["REVIEW_SUBMITTED"] } });
		expect(prefs.status).toBe(200);
		expect(prefs.body).toEqual({ enabled: true, mutedTypes: ["REVIEW_SUBMITTED"] });
		expect(
			(await app.request("PUT", `${C}/push/preferences`, { token: dave.token, body: { mutedTypes: ["lower-case"] } })).status,
		).toBe(422);

		await notify(dave.id, "REVIEW_SUBMITTED", "muted one");
		await notify(dave.id, "INVENTORY_LOW", "wanted one");
		await pushService.next((r) => r.path === path);
		const payloads = pushService.received
			.filter((r) => r.path === path)
			.map((r) => JSON.parse(decrypt(r.body, keys.ecdh, keys.auth)).body);
		expect(payloads).toEqual(["wanted one"]);

		expect((await app.request("PUT", `${C}/push/preferences`, { token: dave.token, body: { enabled: false } })).body).toEqual({
			enabled: false,
			mutedTypes: ["REVIEW_SUBMITTED"],
		});
		expect((await app.request("GET", `${C}/push/preferences`, { token: dave.token })).body).toEqual({
			enabled: false,
			mutedTypes: ["REVIEW_SUBMITTED"],
		});
		await notify(dave.id, "INVENTORY_LOW", "switched off");
		// A marker to another subscriber, queued after it, proves the consumer went past it.
		const marker = browserKeys();
		const markerPath = `/ok/marker-${randomBytes(4).toString("hex")}`;
		await subscribe(alice, pushService.base + markerPath, marker.json);
		await notify(alice.id, "MARKER", "after the switched-off one");
		await pushService.next((r) => r.path === markerPath);
		expect(pushService.received.filter((r) => r.path === path)).toHaveLength(1);
	});

	it("removes a subscription the push service answers 410 Gone", async () => {
		const erin = await app.createUser("PATRON");
		const path = `/gone/${randomBytes(4).toString("hex")}`;
		const sub = await subscribe(erin, pushService.base + path, browserKeys().json);
		expect(sub.status).toBe(201);
		await notify(erin.id, "INVENTORY_LOW", "to a gone device");
		await pushService.next((r) => r.path === path && r.status === 410);
		const deadline = Date.now() + 15_000;
		let rows: unknown[] = [{}];
		while (rows.length && Date.now() < deadline) {
			rows = (await app.request("GET", `${C}/push/subscriptions`, { token: erin.token })).body.rows;
			if (rows.length) await new Promise((r) => setTimeout(r, 50));
		}
		expect(rows).toEqual([]);
	});

	it("retries a push the push service answers 503 (Retry-After), and delivers it", async () => {
		const frank = await app.createUser("PATRON");
		const keys = browserKeys();
		const path = `/flaky/${randomBytes(4).toString("hex")}`;
		expect((await subscribe(frank, pushService.base + path, keys.json)).status).toBe(201);
		await notify(frank.id, "INVENTORY_LOW", "second time lucky");
		const ok = await pushService.next((r) => r.path === path && r.status === 201);
		const attempts = pushService.received.filter((r) => r.path === path);
		expect(attempts.map((r) => r.status)).toEqual([503, 201]);
		expect(JSON.parse(decrypt(ok.body, keys.ecdh, keys.auth)).body).toBe("second time lucky");
		// Both attempts carried the same message (one queued row), each freshly encrypted.
		expect(JSON.parse(decrypt(attempts[0].body, keys.ecdh, keys.auth)).body).toBe("second time lucky");
	});

	it("counts the attempts by outcome and reports the queue in /metrics", async () => {
		const text = await metricsText(app.broker);
		const count = (outcome: string) =>
			Number(new RegExp(`^eislager_push_deliveries_total\\{[^}]*outcome="${outcome}"[^}]*\\} (\\d+)`, "m").exec(text)?.[1] ?? 0);
		// The tests above: pushes sent, a 410 Gone, a 503 retried.
		expect(count("sent")).toBeGreaterThanOrEqual(2);
		expect(count("gone")).toBeGreaterThanOrEqual(1);
		expect(count("retry")).toBeGreaterThanOrEqual(1);
		expect(text).toMatch(/^eislager_push_queue_due\{[^}]*\} \d+/m);
		expect(text).toMatch(/^eislager_push_queue_oldest_seconds\{[^}]*\} [\d.]+/m);
		// Our families pass Prometheus' own lint.
		const ours = `${text
			.split("\n")
			.filter((l) => /^(# (HELP|TYPE) )?eislager_push_/.test(l))
			.join("\n")}\n`;
		const lint = spawnSync(promtool(), ["check", "metrics"], { input: ours, encoding: "utf8" });
		expect([lint.status, `${lint.stdout}${lint.stderr}`.trim()]).toEqual([0, ""]);
	});
});
