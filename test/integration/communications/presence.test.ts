/** Presence stores (memory and Redis) and the attachment sniffer: plain logic against real Redis. */
import { randomUUID } from "node:crypto";
import { loadConfig, setConfig } from "../../../lib/config";
import { presence } from "../../../lib/presence";
import { closeRedis } from "../../../lib/redis";
import { sniff } from "../../../services/communications/attachments.service";

describe.each([
	["memory", {}],
	["redis", { REDIS_URL: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379" }],
])("presence (%s)", (_kind, env: Record<string, string>) => {
	beforeAll(() => setConfig(loadConfig({ ...process.env, NODE_ENV: "test", REDIS_URL: "", ...env })));
	afterAll(() => closeRedis());

	it("is online while any connection lives; first and last connection are reported", async () => {
		const user = randomUUID();
		const other = randomUUID();
		expect(await presence().connect(user, "n1:a")).toBe(true);
		expect(await presence().connect(user, "n2:b")).toBe(false);
		expect(await presence().online([user, other])).toEqual([user]);
		expect(await presence().allOnline()).toContain(user);
		expect(await presence().disconnect(user, "n1:a")).toBe(false);
		expect(await presence().online([user])).toEqual([user]);
		expect(await presence().disconnect(user, "n1:a")).toBe(false); // twice: no second "last"
		expect(await presence().disconnect(user, "n2:b")).toBe(true);
		expect(await presence().online([user])).toEqual([]);
		expect(await presence().allOnline()).not.toContain(user);
		expect(await presence().disconnect(user, "n2:b")).toBe(false);
	});

	it("refresh keeps known connections and never resurrects removed ones", async () => {
		const user = randomUUID();
		await presence().connect(user, "n1:a");
		await presence().disconnect(user, "n1:a");
		await presence().refresh([{ userId: user, connectionId: "n1:a" }]);
		expect(await presence().online([user])).toEqual([]);
	});
});

describe("attachment sniffing", () => {
	it("recognises content by magic bytes, not by name", () => {
		expect(sniff(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0]))?.mime).toBe("image/png");
		expect(sniff(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))?.mime).toBe("image/jpeg");
		expect(sniff(Buffer.from("GIF89a....."))?.mime).toBe("image/gif");
		expect(sniff(Buffer.from("RIFF\0\0\0\0WEBPVP8 "))?.mime).toBe("image/webp");
		expect(sniff(Buffer.from("%PDF-1.7\n"))?.kind).toBe("FILE");
		expect(sniff(Buffer.from("<svg xmlns='http://www.w3.org/2000/svg'/>"))).toBeUndefined();
		expect(sniff(Buffer.from("MZ\x90\0"))).toBeUndefined();
	});
});
