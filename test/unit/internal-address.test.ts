/** SSRF guard for server-side requests to client-named URLs (lib/internal-address.ts), as Web Push uses it. */
import { createECDH, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { isInternalAddress, isInternalHostLiteral } from "../../lib/internal-address";
import { generateVapidKeys, sendPush } from "../../services/communications/push-sender";

describe("isInternalAddress", () => {
	it.each([
		"127.0.0.1",
		"127.8.9.10",
		"10.1.2.3",
		"172.16.5.5",
		"172.31.255.255",
		"192.168.1.1",
		"169.254.169.254",
		"100.64.0.1",
		"0.0.0.0",
		"224.0.0.1",
		"255.255.255.255",
		"::",
		"::1",
		"fe80::1",
		"fd12:3456::1",
		"ff02::1",
		"::ffff:127.0.0.1",
		"::ffff:10.0.0.1",
		"::ffff:7f00:1",
		"not-an-ip",
	])("refuses %s", (ip) => expect(isInternalAddress(ip)).toBe(true));

	it.each(["8.8.8.8", "172.32.0.1", "192.169.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "::ffff:808:808"])(
		"allows %s",
		(ip) => expect(isInternalAddress(ip)).toBe(false),
	);
});

describe("isInternalHostLiteral (a URL's hostname)", () => {
	it.each(["127.0.0.1", "[::1]", "[::ffff:7f00:1]", "localhost", "LOCALHOST", "push.localhost", "10.0.0.7"])("refuses %s", (host) =>
		expect(isInternalHostLiteral(host)).toBe(true),
	);
	it.each(["8.8.8.8", "[2606:4700:4700::1111]", "fcm.googleapis.com", "localhost.example.com"])("leaves %s to the lookup", (host) =>
		expect(isInternalHostLiteral(host)).toBe(false),
	);
});

describe("sendPush to an internal address", () => {
	let server: http.Server;
	let port: number;
	let received = 0;
	const vapid = { subject: "mailto:ops@example.com", ...generateVapidKeys() };
	const ecdh = createECDH("prime256v1");
	const target = (endpoint: string) => ({
		endpoint,
		p256dh: ecdh.generateKeys().toString("base64url"),
		auth: randomBytes(16).toString("base64url"),
	});

	beforeAll(async () => {
		server = http.createServer((req, res) => {
			received++;
			req.resume();
			req.on("end", () => res.writeHead(201).end());
		});
		await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
		port = (server.address() as AddressInfo).port;
	});
	afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
	beforeEach(() => (received = 0));

	it("is never contacted when guarded: an address literal, and a name that resolves to one", async () => {
		for (const endpoint of [
			`http://127.0.0.1:${port}/push/1`,
			`http://localhost:${port}/push/2`,
			`http://[::ffff:127.0.0.1]:${port}/x`,
		]) {
			const outcome = await sendPush(target(endpoint), "{}", vapid, "normal", true);
			expect(outcome).toMatchObject({ kind: "GONE", status: null, reason: expect.stringContaining("internal address") });
		}
		expect(received).toBe(0);
	});

	it("is sent to when unguarded (development: a local stand-in push service)", async () => {
		expect(await sendPush(target(`http://127.0.0.1:${port}/push/3`), "{}", vapid, "normal", false)).toEqual({
			kind: "SENT",
			status: 201,
		});
		expect(received).toBe(1);
	});
});
