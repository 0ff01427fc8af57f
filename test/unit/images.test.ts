/** lib/images.ts: the header check refuses bombs and garbage; sharp is only ever opened through it. */
import fs from "node:fs";
import path from "node:path";
import sharp from "sharp";
import { loadConfig, setConfig } from "../../lib/config";
import { checkImageHeader, decodeSlot, imageError, openImage } from "../../lib/images";

const ROOT = path.resolve(__dirname, "../..");

function sourceFiles(dir: string): string[] {
	return fs
		.readdirSync(dir, { withFileTypes: true })
		.flatMap((e) => (e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : []));
}

describe("lib/images", () => {
	beforeAll(() => setConfig(loadConfig({ NODE_ENV: "test", IMAGE_MAX_PIXELS: "10000" })));

	it("reads the size from the header and refuses more than IMAGE_MAX_PIXELS without decoding", async () => {
		const small = await sharp({ create: { width: 100, height: 100, channels: 3, background: "red" } })
			.png()
			.toBuffer();
		await expect(checkImageHeader(small, "file")).resolves.toEqual({ width: 100, height: 100, pages: 1 });
		const big = await sharp({ create: { width: 101, height: 100, channels: 3, background: "red" } })
			.png()
			.toBuffer();
		await expect(checkImageHeader(big, "file")).rejects.toMatchObject({
			code: 422,
			type: "IMAGE_TOO_LARGE",
			data: { field: "file", width: 101, height: 100, pixels: 10100, maxPixels: 10000 },
		});
		await expect(checkImageHeader(Buffer.concat([small.subarray(0, 8), Buffer.alloc(40)]), "file")).rejects.toMatchObject({
			code: 422,
			type: "IMAGE_UNREADABLE",
		});
		// The decoder itself is bounded too, and its failures are the client's 422.
		await expect(openImage(small).png().toBuffer()).resolves.toBeInstanceOf(Buffer);
		const refused = await openImage(big)
			.png()
			.toBuffer()
			.catch((e: unknown) => imageError(e, "fileId"));
		expect(refused).toMatchObject({ code: 422, type: "IMAGE_TOO_LARGE" });
	});

	it("is the only place that opens sharp (so limitInputPixels is set everywhere)", () => {
		const importers = [
			...sourceFiles(path.join(ROOT, "services")),
			...sourceFiles(path.join(ROOT, "lib")),
			...sourceFiles(path.join(ROOT, "mixins")),
		]
			.filter((f) => /from "sharp"|require\("sharp"\)/.test(fs.readFileSync(f, "utf8")))
			.map((f) => path.relative(ROOT, f));
		expect(importers).toEqual(["lib/images.ts"]);
	});
});

describe("lib/images decodeSlot (IMAGE_DECODES_PER_USER)", () => {
	beforeAll(() => setConfig(loadConfig({ NODE_ENV: "test", IMAGE_DECODES_PER_USER: "1", UPLOAD_BATCH_MAX_FILES: "2" })));
	afterAll(() => setConfig(loadConfig({ NODE_ENV: "test" })));
	const turn = () => new Promise((resolve) => setImmediate(resolve));
	/** A slot request whose grant is observable without awaiting it. */
	function ask(userId: string) {
		const asked = { release: undefined as (() => void) | undefined, error: undefined as unknown };
		void decodeSlot(userId).then(
			(release) => (asked.release = release),
			(err: unknown) => (asked.error = err),
		);
		return asked;
	}

	it("runs one user's decodes one at a time in arrival order, queues a batch's worth, refuses more, and leaves other users alone", async () => {
		const first = ask("u1");
		const second = ask("u1");
		const third = ask("u1");
		const fourth = ask("u1");
		const other = ask("u2");
		await turn();
		expect([!!first.release, !!second.release, !!third.release]).toEqual([true, false, false]);
		expect(fourth.error).toMatchObject({ code: 429, type: "IMAGE_BUSY", data: { retryAfter: 1 } });
		expect(other.release).toBeDefined();

		first.release!();
		first.release!(); // twice is once: it must not let a third decode start beside the second
		await turn();
		expect([!!second.release, !!third.release]).toEqual([true, false]);
		second.release!();
		await turn();
		expect(third.release).toBeDefined();
		third.release!();
		other.release!();
		// Everything given back: a new decode starts at once.
		const again = ask("u1");
		await turn();
		expect(again.release).toBeDefined();
		again.release!();
	});
});

describe("lib/images decodeSlot (IMAGE_DECODE_CONCURRENCY)", () => {
	beforeAll(() => setConfig(loadConfig({ NODE_ENV: "test", IMAGE_DECODE_CONCURRENCY: "1", IMAGE_DECODES_PER_USER: "2" })));
	afterAll(() => setConfig(loadConfig({ NODE_ENV: "test" })));
	const turn = () => new Promise((resolve) => setImmediate(resolve));

	it("bounds the node's decodes of all users together, first come first served", async () => {
		const first = await decodeSlot("a");
		let secondReleased: (() => void) | undefined;
		let thirdReleased: (() => void) | undefined;
		void decodeSlot("b").then((r) => (secondReleased = r));
		void decodeSlot("a").then((r) => (thirdReleased = r));
		await turn();
		// Both have a per-user slot free, but the node's one decode is running.
		expect([secondReleased, thirdReleased]).toEqual([undefined, undefined]);
		first();
		await turn();
		expect(secondReleased).toBeDefined();
		expect(thirdReleased).toBeUndefined();
		secondReleased!();
		await turn();
		expect(thirdReleased).toBeDefined();
		thirdReleased!();
	});

	it("defaults to libuv's pool less one worker, kept for logins and file I/O", () => {
		expect(loadConfig({ NODE_ENV: "test" }).imageDecodeConcurrency).toBe(3);
		expect(loadConfig({ NODE_ENV: "test", UV_THREADPOOL_SIZE: "8" }).imageDecodeConcurrency).toBe(7);
		expect(loadConfig({ NODE_ENV: "test", UV_THREADPOOL_SIZE: "1" }).imageDecodeConcurrency).toBe(1);
	});
});
