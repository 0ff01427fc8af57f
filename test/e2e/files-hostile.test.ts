/**
 * Hostile files through the gateway (issue 10, item 2 and 10): a decompression bomb, a corrupt
 * image that passes the magic-byte check, uploads streamed to disk (not buffered), the
 * per-user storage quota under concurrent uploads, and one user's image decodes at a time
 * (IMAGE_DECODES_PER_USER).
 */
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { deflateSync } from "node:zlib";
import type { Service } from "moleculer";
import sharp from "sharp";
import { startTestApp, type TestApp, type TestUser } from "../helpers/app";
import type { FilesModels } from "../../services/files/files.model";

const MAX_BYTES = 400_000;
const QUOTA = 100_000;

function crc32(buf: Buffer): number {
	let crc = 0xffffffff;
	for (const byte of buf) {
		crc ^= byte;
		for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
	}
	return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
	const len = Buffer.alloc(4);
	len.writeUInt32BE(data.length);
	const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
	const crc = Buffer.alloc(4);
	crc.writeUInt32BE(crc32(body));
	return Buffer.concat([len, body, crc]);
}

/** A 1-bit greyscale PNG of `width`×`height` black pixels: a valid file of a few KB that decodes to width×height pixels. */
function blackPng(width: number, height: number, idat?: Buffer): Buffer {
	const ihdr = Buffer.alloc(13);
	ihdr.writeUInt32BE(width, 0);
	ihdr.writeUInt32BE(height, 4);
	ihdr[8] = 1; // bit depth
	ihdr[9] = 0; // greyscale
	const raw = idat ?? deflateSync(Buffer.alloc((Math.ceil(width / 8) + 1) * height), { level: 9 });
	return Buffer.concat([
		Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
		pngChunk("IHDR", ihdr),
		pngChunk("IDAT", raw),
		pngChunk("IEND", Buffer.alloc(0)),
	]);
}

/** "%PDF-" and filler: an accepted type of an exact size. */
const pdf = (size: number) => Buffer.concat([Buffer.from("%PDF-1.7\n"), Buffer.alloc(size - 9, 0x20)]);

function form(files: { name: string; content: Buffer }[]): FormData {
	const fd = new FormData();
	for (const f of files) fd.append("file", new Blob([f.content]), f.name);
	return fd;
}

describe("files against hostile uploads", () => {
	let app: TestApp;
	let owner: TestUser;
	const filesDir = fs.mkdtempSync(path.join(os.tmpdir(), "eislager-files-hostile-"));
	const stored = () => (fs.existsSync(path.join(filesDir, "files")) ? fs.readdirSync(path.join(filesDir, "files")) : []);

	async function upload(
		token: string,
		files: { name: string; content: Buffer }[],
		url = "/api/v1/files/upload",
		// eslint-disable-next-line @typescript-eslint/no-explicit-any
	): Promise<{ status: number; body: any }> {
		const res = await fetch(app.baseUrl + url, { method: "POST", body: form(files), headers: { authorization: `Bearer ${token}` } });
		return { status: res.status, body: await res.json() };
	}

	/** A row and bytes as an upload made before the pixel limit existed would have left them. */
	async function storeDirectly(ownerId: string, content: Buffer): Promise<string> {
		const storageKey = `${randomUUID()}.png`;
		fs.mkdirSync(path.join(filesDir, "files"), { recursive: true });
		fs.writeFileSync(path.join(filesDir, "files", storageKey), content);
		const { models } = app.broker.getLocalService("files") as Service & { models: FilesModels };
		const row = await models.StoredFile.create({
			ownerId,
			originalName: "old.png",
			mimeType: "image/png",
			size: content.length,
			sha256: "0".repeat(64),
			storageKey,
		});
		return row.id;
	}

	// A crash mid-upload two hours ago left this behind; one in flight right now must be kept.
	const stale = path.join(filesDir, "files", `${randomUUID()}.part`);
	const inFlight = path.join(filesDir, "files", `${randomUUID()}.part`);

	beforeAll(async () => {
		fs.mkdirSync(path.join(filesDir, "files"), { recursive: true });
		fs.writeFileSync(stale, "half");
		fs.utimesSync(stale, new Date(Date.now() - 7200_000), new Date(Date.now() - 7200_000));
		fs.writeFileSync(inFlight, "half");
		app = await startTestApp({
			services: ["auth", "files"],
			env: {
				FILES_DIR: filesDir,
				UPLOAD_MAX_BYTES: String(MAX_BYTES),
				UPLOAD_QUOTA_BYTES: String(QUOTA),
				REQUEST_TIMEOUT_MS: "5000",
			},
		});
		owner = await app.createUser("PATRON");
	});

	afterAll(async () => {
		await app?.stop();
		fs.rmSync(filesDir, { recursive: true, force: true });
	});

	it("removes partial uploads left by a crash when it starts", () => {
		expect(fs.existsSync(stale)).toBe(false);
		expect(fs.existsSync(inFlight)).toBe(true);
		fs.unlinkSync(inFlight);
	});

	it("refuses a decompression bomb (16000×16000 declared in a few KB) on upload with 422 IMAGE_TOO_LARGE, keeping nothing", async () => {
		const bomb = blackPng(16000, 16000);
		expect(bomb.length).toBeLessThan(QUOTA);
		const res = await upload(owner.token, [{ name: "bomb.png", content: bomb }]);
		expect(res.status).toBe(422);
		expect(res.body.error).toMatchObject({
			code: "IMAGE_TOO_LARGE",
			details: { field: "file", width: 16000, height: 16000, maxPixels: 40_000_000 },
		});
		expect(stored()).toEqual([]);
		// A sensible image of the same kind is accepted.
		const fine = await upload(owner.token, [{ name: "fine.png", content: blackPng(64, 64) }]);
		expect(fine.status).toBe(201);
		expect((await app.request("DELETE", `/api/v1/files/files/${fine.body.id}`, { token: owner.token })).status).toBe(204);
	});

	it("answers 422 IMAGE_TOO_LARGE, without decoding, when compressing a bomb stored earlier", async () => {
		const user = await app.createUser("PATRON");
		const fileId = await storeDirectly(user.id, blackPng(16000, 16000));
		const res = await app.request("POST", "/api/v1/files/files/compress", { token: user.token, body: { fileId } });
		expect(res.status).toBe(422);
		expect(res.body.error.code).toBe("IMAGE_TOO_LARGE");
	}, 30_000);

	it("answers 422 IMAGE_UNREADABLE, never 500, for a corrupt image that passed the magic-byte check", async () => {
		const user = await app.createUser("PATRON");
		const corrupt = blackPng(64, 64, Buffer.from("this is not zlib data at all, only garbage after a valid header"));
		const up = await upload(user.token, [{ name: "corrupt.png", content: corrupt }]);
		expect(up.status).toBe(201);
		const res = await app.request("POST", "/api/v1/files/files/compress", { token: user.token, body: { fileId: up.body.id } });
		expect(res.status).toBe(422);
		expect(res.body.error.code).toBe("IMAGE_UNREADABLE");
		// No readable header at all is refused on upload already.
		const headless = await upload(user.token, [
			{ name: "x.png", content: Buffer.concat([corrupt.subarray(0, 8), Buffer.alloc(100, 7)]) },
		]);
		expect(headless.status).toBe(422);
		expect(headless.body.error.code).toBe("IMAGE_UNREADABLE");
	});

	it("streams an upload to disk while it arrives, and removes the partial file when it fails", async () => {
		const user = await app.createUser("PATRON");
		const boundary = `----eislager${randomUUID()}`;
		const req = http.request(app.baseUrl + "/api/v1/files/upload", {
			method: "POST",
			headers: { authorization: `Bearer ${user.token}`, "content-type": `multipart/form-data; boundary=${boundary}` },
		});
		const done = new Promise<{ status: number; body: string }>((resolve, reject) => {
			req.on("response", (res) => {
				let body = "";
				res.on("data", (c: Buffer) => (body += c.toString()));
				res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
			});
			req.on("error", reject);
		});
		req.write(
			`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\nContent-Type: application/pdf\r\n\r\n`,
		);
		req.write(pdf(60_000));
		// Half the body is sent and the request is still open: its bytes are already on disk.
		const partialOnDisk = () => stored().some((f) => f.endsWith(".part") && fs.statSync(path.join(filesDir, "files", f)).size > 0);
		for (let i = 0; i < 200 && !partialOnDisk(); i++) await new Promise((r) => setTimeout(r, 50));
		expect(partialOnDisk()).toBe(true);
		// The rest takes it past the user's quota (smaller than UPLOAD_MAX_BYTES here): 413 while streaming, and the partial file is gone.
		req.write(Buffer.alloc(MAX_BYTES, 0x20));
		req.end(`\r\n--${boundary}--\r\n`);
		const res = await done;
		expect(res.status).toBe(413);
		expect(JSON.parse(res.body).error.code).toBe("QUOTA_EXCEEDED");
		expect(stored().filter((f) => f.endsWith(".part"))).toEqual([]);
	}, 30_000);

	it("counts uploads against UPLOAD_QUOTA_BYTES: 413 QUOTA_EXCEEDED, also for concurrent uploads, and deletes give bytes back", async () => {
		const user = await app.createUser("PATRON");
		// Five concurrent 30 KB uploads against a 100 KB quota: exactly three fit.
		const results = await Promise.all([1, 2, 3, 4, 5].map((i) => upload(user.token, [{ name: `${i}.pdf`, content: pdf(30_000) }])));
		const statuses = results.map((r) => r.status).sort();
		expect(statuses).toEqual([201, 201, 201, 413, 413]);
		const refused = results.find((r) => r.status === 413)!;
		expect(refused.body.error).toMatchObject({ code: "QUOTA_EXCEEDED", details: { quotaBytes: QUOTA } });
		const list = await app.request("GET", `/api/v1/files/files/user/${user.id}`, { token: user.token });
		expect(list.body.total).toBe(3);

		// A larger one than what is left is refused while it streams; a batch reports it per file.
		const big = await upload(user.token, [{ name: "big.pdf", content: pdf(20_000) }]);
		expect(big.status).toBe(413);
		expect(big.body.error.code).toBe("QUOTA_EXCEEDED");
		const batch = await upload(
			user.token,
			[
				{ name: "small.pdf", content: pdf(5_000) },
				{ name: "more.pdf", content: pdf(8_000) },
			],
			"/api/v1/files/upload/batch",
		);
		expect(batch.status).toBe(207);
		// Both stream at once and both fit what was left; only one fits it together with the other.
		expect(batch.body.map((r: { status: number }) => r.status).sort()).toEqual([201, 413]);

		// Deleting gives the bytes back.
		const first = results.find((r) => r.status === 201)!;
		expect((await app.request("DELETE", `/api/v1/files/files/${first.body.id}`, { token: user.token })).status).toBe(204);
		expect((await upload(user.token, [{ name: "again.pdf", content: pdf(30_000) }])).status).toBe(201);

		// Another user has their own quota; nothing partial is left behind.
		expect((await upload(owner.token, [{ name: "mine.pdf", content: pdf(30_000) }])).status).toBe(201);
		expect(stored().filter((f) => f.endsWith(".part"))).toEqual([]);
	}, 30_000);
});

describe("one user's image decodes (IMAGE_DECODES_PER_USER=1, UPLOAD_BATCH_MAX_FILES=2)", () => {
	let app: TestApp;
	const filesDir = fs.mkdtempSync(path.join(os.tmpdir(), "eislager-files-decodes-"));
	/** A black PNG of a few KB that takes its decoder and PNG encoder most of a second. */
	const heavyPng = () =>
		sharp({ create: { width: 2500, height: 2500, channels: 3, background: "black" } })
			.png()
			.toBuffer();

	async function upload(token: string, files: { name: string; content: Buffer }[], url = "/api/v1/files/upload") {
		const res = await fetch(app.baseUrl + url, { method: "POST", body: form(files), headers: { authorization: `Bearer ${token}` } });
		// eslint-disable-next-line @typescript-eslint/no-explicit-any
		return { status: res.status, body: (await res.json()) as any };
	}
	async function compress(token: string, fileId: string) {
		const res = await fetch(`${app.baseUrl}/api/v1/files/files/compress`, {
			method: "POST",
			body: JSON.stringify({ fileId, quality: 60 }),
			headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
		});
		// eslint-disable-next-line @typescript-eslint/no-explicit-any
		return { status: res.status, retryAfter: res.headers.get("retry-after"), body: (await res.json()) as any };
	}

	beforeAll(async () => {
		app = await startTestApp({
			services: ["auth", "files"],
			env: { FILES_DIR: filesDir, IMAGE_DECODES_PER_USER: "1", UPLOAD_BATCH_MAX_FILES: "2" },
		});
	});
	afterAll(async () => {
		await app?.stop();
		fs.rmSync(filesDir, { recursive: true, force: true });
	});

	it("queues a user's decodes behind their running one, refuses more than a batch's worth with 429 IMAGE_BUSY, and leaves others alone", async () => {
		const [owner, other] = await Promise.all([app.createUser("PATRON"), app.createUser("PATRON")]);
		const mine = await upload(owner.token, [{ name: "heavy.png", content: await heavyPng() }]);
		const theirs = await upload(other.token, [{ name: "theirs.png", content: await heavyPng() }]);
		expect([mine.status, theirs.status]).toEqual([201, 201]);

		// Six at once: one decodes, two wait their turn, three are refused; the other user's runs beside them.
		const [otherResult, ...results] = await Promise.all([
			compress(other.token, theirs.body.id),
			...Array.from({ length: 6 }, () => compress(owner.token, mine.body.id)),
		]);
		expect(otherResult.status).toBe(201);
		const refused = results.filter((r) => r.status === 429);
		expect(results.filter((r) => r.status === 201).length + refused.length).toBe(6);
		expect(refused.length).toBeGreaterThanOrEqual(1);
		expect(refused[0].retryAfter).toBe("1");
		expect(refused[0].body.error).toMatchObject({ code: "IMAGE_BUSY", message: expect.stringContaining("images being processed") });

		// Nothing stays taken: the next one decodes.
		expect((await compress(owner.token, mine.body.id)).status).toBe(201);
	}, 60_000);

	it("decodes a batch upload's images one after another instead of refusing them", async () => {
		const owner = await app.createUser("PATRON");
		const batch = await upload(
			owner.token,
			[
				{ name: "a.png", content: await heavyPng() },
				{ name: "b.png", content: await heavyPng() },
			],
			"/api/v1/files/upload/batch",
		);
		expect(batch.status).toBe(200);
		expect(batch.body.map((r: { status: number }) => r.status)).toEqual([201, 201]);
	}, 60_000);
});
