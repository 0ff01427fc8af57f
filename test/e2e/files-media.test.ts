/**
 * Issue 14 §2 through the gateway: video transcode jobs with the real ffmpeg (a 2-second test video made
 * by ffmpeg itself, the output checked with ffprobe), the queue across a restart, responsive image variants
 * and the blurred placeholder, ETag/304, Range/206/416, and signed expiring download URLs.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Client } from "pg";
import sharp from "sharp";
import { startTestApp, type TestApp, type TestUser } from "../helpers/app";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { connectSocket, type TestSocket } from "../helpers/sockets";
import { ffmpegPath, transcodeToMp4 } from "../../services/files/video";
import { byteRange, etagMatches } from "../../services/files/download";

const run = promisify(execFile);
const URL_SECRET = "media-test-url-secret-0123456789abcdef";
const JWT_SECRET = "media-test-jwt-secret-0123456789abcdef";
const FFPROBE = (require("@ffprobe-installer/ffprobe") as { path: string }).path;

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await fn();
		if (value) return value;
		if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 100));
	}
}

interface Probe {
	streams: { codec_type: string; codec_name: string; width?: number; height?: number; pix_fmt?: string }[];
	format: { format_name: string; duration: string };
}

async function probe(file: string): Promise<Probe> {
	const { stdout } = await run(FFPROBE, [
		"-v",
		"error",
		"-show_entries",
		"stream=codec_type,codec_name,width,height,pix_fmt:format=format_name,duration",
		"-of",
		"json",
		file,
	]);
	return JSON.parse(stdout) as Probe;
}

/** A test video (testsrc pattern + 440 Hz sine) made by ffmpeg: 2 seconds of 640×360 at 25 fps unless told. */
async function testVideo(
	dir: string,
	format: "mp4" | "webm",
	{ seconds = 2, size = "640x360", rate = 25 }: { seconds?: number; size?: string; rate?: number } = {},
): Promise<Buffer> {
	const out = path.join(dir, `source-${seconds}s-${size}-${rate}.${format}`);
	const codecs = format === "mp4" ? ["-c:v", "mpeg4", "-q:v", "3", "-c:a", "aac"] : ["-c:v", "libvpx", "-b:v", "500k", "-c:a", "libopus"];
	await run(ffmpegPath(), [
		"-hide_banner",
		"-loglevel",
		"error",
		"-y",
		"-f",
		"lavfi",
		"-i",
		`testsrc=duration=${seconds}:size=${size}:rate=${rate}`,
		"-f",
		"lavfi",
		"-i",
		`sine=frequency=440:duration=${seconds}`,
		...codecs,
		"-shortest",
		out,
	]);
	return fs.promises.readFile(out);
}

/** A photo-like JPEG (gradient + noise). */
async function photo(width: number, height: number, format: "jpeg" | "png" = "jpeg"): Promise<Buffer> {
	const raw = Buffer.alloc(width * height * 3);
	for (let i = 0; i < raw.length; i++) raw[i] = (((i / 3) % width) * 255) / width + ((i * 7919) % 23);
	const img = sharp(raw, { raw: { width, height, channels: 3 } });
	return format === "png" ? img.png().toBuffer() : img.jpeg({ quality: 90 }).toBuffer();
}

/** A file uploaded by `token`'s user (multipart, as a client sends it). */
async function uploadFile(app: TestApp, token: string, name: string, content: Buffer): Promise<{ id: string }> {
	const fd = new FormData();
	fd.append("file", new Blob([content]), name);
	const res = await fetch(`${app.baseUrl}/api/v1/files/upload`, {
		method: "POST",
		body: fd,
		headers: { authorization: `Bearer ${token}` },
	});
	return (await res.json()) as { id: string };
}

/** Tears down a describe's own app, database and work folder. */
async function teardown(app: TestApp | undefined, db: TestDatabase | undefined, work: string): Promise<void> {
	await app?.stop();
	await db?.drop();
	fs.rmSync(work, { recursive: true, force: true });
}

describe("files media (issue 14 §2)", () => {
	let db: TestDatabase;
	let app: TestApp;
	let owner: TestUser;
	let other: TestUser;
	let socket: TestSocket;
	let mp4: Buffer;
	let webm: Buffer;
	const filesDir = fs.mkdtempSync(path.join(os.tmpdir(), "eislager-media-"));
	const work = fs.mkdtempSync(path.join(os.tmpdir(), "eislager-media-work-"));
	const env = {
		FILES_DIR: filesDir,
		FILES_URL_SECRET: URL_SECRET,
		JWT_SECRET,
		TRANSCODE_CONCURRENCY: "1",
		UPLOAD_MAX_BYTES: String(20 * 1024 * 1024),
	};

	async function send(
		method: string,
		url: string,
		opts: { body?: FormData; token?: string; headers?: Record<string, string> } = {},
		// eslint-disable-next-line @typescript-eslint/no-explicit-any
	): Promise<{ status: number; body: any; headers: Headers; bytes: Buffer }> {
		const res = await fetch(app.baseUrl + url, {
			method,
			body: opts.body,
			headers: { ...opts.headers, ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) },
		});
		const bytes = Buffer.from(await res.arrayBuffer());
		const body = (res.headers.get("content-type") ?? "").includes("json") ? JSON.parse(bytes.toString("utf8")) : null;
		return { status: res.status, body, headers: res.headers, bytes };
	}
	const upload = (token: string, name: string, content: Buffer) => {
		const fd = new FormData();
		fd.append("file", new Blob([content]), name);
		return send("POST", "/api/v1/files/upload", { body: fd, token });
	};
	const job = (id: string, token = owner.token) => app.request("GET", `/api/v1/files/jobs/${id}`, { token });
	const settled = (id: string, token = owner.token) =>
		until(`job ${id}`, async () => {
			const res = await job(id, token);
			return ["DONE", "FAILED"].includes(res.body.status) && res.body;
		});

	beforeAll(async () => {
		db = await createTestDatabase();
		app = await startTestApp({ db, services: ["auth", "files"], env });
		[owner, other] = await Promise.all([app.createUser("PATRON"), app.createUser("PATRON")]);
		[mp4, webm] = await Promise.all([testVideo(work, "mp4"), testVideo(work, "webm")]);
		socket = await connectSocket(app.baseUrl, { token: owner.token });
	}, 60_000);

	afterAll(async () => {
		socket?.close();
		await app?.stop();
		await db?.drop();
		for (const dir of [filesDir, work]) fs.rmSync(dir, { recursive: true, force: true });
	});

	it("reports ffmpeg's -progress output as fractions up to 1", async () => {
		const fractions: number[] = [];
		const src = path.join(work, "progress-source.mp4");
		await fs.promises.writeFile(src, mp4);
		await transcodeToMp4(src, path.join(work, "progress.mp4"), {
			crf: 30,
			maxWidth: 160,
			maxSeconds: 600,
			onProgress: (f) => fractions.push(f),
		});
		expect(fractions.length).toBeGreaterThanOrEqual(2);
		expect(fractions.every((f, i) => f > 0 && f <= 1 && (i === 0 || f >= fractions[i - 1]))).toBe(true);
		expect(fractions.at(-1)).toBe(1);
		expect((await probe(path.join(work, "progress.mp4"))).streams.find((s) => s.codec_type === "video")).toMatchObject({
			codec_name: "h264",
			width: 160,
			height: 90,
		});
	}, 30_000);

	it("stops a transcode at maxSeconds, whatever length the input's header claims", async () => {
		const src = path.join(work, "cap-source.mp4");
		await fs.promises.writeFile(src, mp4);
		const out = path.join(work, "capped.mp4");
		await transcodeToMp4(src, out, { crf: 30, maxWidth: 160, maxSeconds: 1 });
		expect(Number((await probe(out)).format.duration)).toBeLessThanOrEqual(1.1);
	});

	it("stops a transcode's output growing at maxBytes (ffmpeg -fs)", async () => {
		const src = path.join(work, "fs-source.mp4");
		await fs.promises.writeFile(src, mp4);
		const out = path.join(work, "fs-capped.mp4");
		// Lossless 640×360 for 2 s is megabytes.
		await transcodeToMp4(src, out, { crf: 0, maxSeconds: 600, maxBytes: 64 * 1024 });
		expect((await fs.promises.stat(out)).size).toBeLessThan(128 * 1024);
	});

	it("transcodes an MP4 to H.264/AAC at maxWidth with a JPEG poster: 202 { jobId }, progress, FILE_JOB_FINISHED", async () => {
		const up = await upload(owner.token, "clip.mp4", mp4);
		expect(up.status).toBe(201);
		expect(up.body.mimeType).toBe("video/mp4");
		// Another user cannot ask for it (404), nor a crf outside 0–51 (422).
		expect(
			(await app.request("POST", "/api/v1/files/files/compress", { token: other.token, body: { fileId: up.body.id } })).status,
		).toBe(404);
		expect(
			(await app.request("POST", "/api/v1/files/files/compress", { token: owner.token, body: { fileId: up.body.id, crf: 60 } }))
				.status,
		).toBe(422);

		const res = await app.request("POST", "/api/v1/files/files/compress", {
			token: owner.token,
			body: { fileId: up.body.id, maxWidth: 320, crf: 28 },
		});
		expect(res.status).toBe(202);
		expect(res.body).toEqual({ jobId: expect.any(String), status: "QUEUED", url: `/api/v1/files/jobs/${res.body.jobId}` });
		expect(res.headers.get("location")).toBe(res.body.url);
		expect((await job(res.body.jobId, other.token)).status).toBe(404);

		const done = await settled(res.body.jobId);
		expect(done).toMatchObject({
			id: res.body.jobId,
			fileId: up.body.id,
			status: "DONE",
			progress: 100,
			crf: 28,
			maxWidth: 320,
			error: null,
		});
		expect(new Date(done.finishedAt).getTime()).toBeGreaterThanOrEqual(new Date(done.startedAt).getTime());
		expect(done.result.video).toMatchObject({ kind: "VIDEO", mimeType: "video/mp4", width: 320, height: 180, crf: 28 });
		expect(done.result.poster).toMatchObject({ kind: "POSTER", mimeType: "image/jpeg", width: 320, height: 180 });

		const event = await socket.next<{ id: string; status: string; result: { video: { id: string } } }>(
			"FILE_JOB_FINISHED",
			(d) => d.id === res.body.jobId,
			10_000,
		);
		expect(event).toMatchObject({ status: "DONE", progress: 100, result: { video: { id: done.result.video.id } } });

		const video = await send("GET", done.result.video.url, { token: owner.token });
		expect(video.status).toBe(200);
		expect(video.headers.get("content-type")).toBe("video/mp4");
		expect(video.bytes.length).toBe(done.result.video.size);
		const out = path.join(work, "out.mp4");
		await fs.promises.writeFile(out, video.bytes);
		const info = await probe(out);
		expect(info.format.format_name).toContain("mp4");
		expect(Number(info.format.duration)).toBeGreaterThan(1.8);
		expect(Number(info.format.duration)).toBeLessThan(2.3);
		expect(info.streams.find((s) => s.codec_type === "video")).toMatchObject({
			codec_name: "h264",
			width: 320,
			height: 180,
			pix_fmt: "yuv420p",
		});
		expect(info.streams.find((s) => s.codec_type === "audio")).toMatchObject({ codec_name: "aac" });

		const poster = await send("GET", done.result.poster.url, { token: owner.token });
		expect(await sharp(poster.bytes).metadata()).toMatchObject({ format: "jpeg", width: 320, height: 180 });

		// Both outputs are variants of the file, counted like any other.
		const file = await app.request("GET", `/api/v1/files/files/${up.body.id}`, { token: owner.token });
		expect(file.body.variants.map((v: { kind: string }) => v.kind).sort()).toEqual(["POSTER", "VIDEO"]);
	}, 90_000);

	it("runs at most TRANSCODE_CONCURRENCY (1) jobs at once; the others wait in the queue; a WebM becomes MP4 too", async () => {
		const [a, b] = await Promise.all([upload(owner.token, "a.webm", webm), upload(owner.token, "b.mp4", mp4)]);
		expect(a.body.mimeType).toBe("video/webm");
		const ids: string[] = [];
		for (const up of [a, b, a]) {
			const res = await app.request("POST", "/api/v1/files/files/compress", {
				token: owner.token,
				body: { fileId: up.body.id, maxWidth: 256 },
			});
			expect(res.status).toBe(202);
			ids.push(res.body.jobId);
		}
		const jobs = await Promise.all(ids.map((id) => settled(id)));
		expect(jobs.map((j) => j.status)).toEqual(["DONE", "DONE", "DONE"]);
		// One at a time: no two runs overlap, in queue order.
		const spans = jobs.map((j) => [new Date(j.startedAt).getTime(), new Date(j.finishedAt).getTime()]).sort((x, y) => x[0] - y[0]);
		for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
		expect(jobs.map((j) => new Date(j.startedAt).getTime())).toEqual(
			[...jobs.map((j) => new Date(j.startedAt).getTime())].sort((x, y) => x - y),
		);

		const video = await send("GET", jobs[0].result.video.url, { token: owner.token });
		const out = path.join(work, "from-webm.mp4");
		await fs.promises.writeFile(out, video.bytes);
		const info = await probe(out);
		expect(info.streams.map((s) => s.codec_name).sort()).toEqual(["aac", "h264"]);
		expect(info.streams.find((s) => s.codec_type === "video")).toMatchObject({ width: 256, height: 144 });
	}, 120_000);

	it("fails a job whose video ffmpeg cannot read, with the reason and the socket event; PDFs stay 415", async () => {
		const fake = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from("ftypisom"), randomBytes(4096)]);
		const up = await upload(owner.token, "broken.mp4", fake);
		expect(up.status).toBe(201);
		const res = await app.request("POST", "/api/v1/files/files/compress", { token: owner.token, body: { fileId: up.body.id } });
		expect(res.status).toBe(202);
		const failed = await settled(res.body.jobId);
		expect(failed).toMatchObject({ status: "FAILED", result: null, error: expect.stringMatching(/ffmpeg/) });
		expect(failed.error).not.toContain(filesDir);
		expect(await socket.next("FILE_JOB_FINISHED", (d: { id: string }) => d.id === res.body.jobId, 10_000)).toMatchObject({
			status: "FAILED",
		});
		expect((await app.request("GET", `/api/v1/files/files/${up.body.id}`, { token: owner.token })).body.variants).toEqual([]);

		const pdf = await upload(owner.token, "doc.pdf", Buffer.from("%PDF-1.4\n" + "x".repeat(100)));
		const pc = await app.request("POST", "/api/v1/files/files/compress", { token: owner.token, body: { fileId: pdf.body.id } });
		expect(pc.status).toBe(415);
		expect(pc.body.error.details.accepted).toEqual(expect.arrayContaining(["video/mp4", "video/webm"]));
	}, 60_000);

	it("refuses a video longer than VIDEO_MAX_SECONDS or with frames above VIDEO_MAX_PIXELS (422), queuing nothing", async () => {
		const [long, large] = await Promise.all([
			testVideo(work, "mp4", { seconds: 601, size: "32x32", rate: 1 }),
			testVideo(work, "mp4", { seconds: 1, size: "3856x2176", rate: 1 }),
		]);
		const pg = new Client({ connectionString: db.url });
		await pg.connect();
		try {
			for (const [name, content, code, details] of [
				["long.mp4", long, "VIDEO_TOO_LONG", { field: "fileId", durationSec: expect.any(Number), maxSeconds: 600 }],
				["large.mp4", large, "VIDEO_TOO_LARGE", { field: "fileId", width: 3856, height: 2176, maxPixels: 3840 * 2160 }],
			] as const) {
				const up = await upload(owner.token, name, content);
				expect(up.status).toBe(201);
				const res = await app.request("POST", "/api/v1/files/files/compress", { token: owner.token, body: { fileId: up.body.id } });
				expect(res.status).toBe(422);
				expect(res.body.error).toMatchObject({ code, details });
				const jobs = await pg.query("SELECT 1 FROM files.transcode_jobs WHERE file_id = $1", [up.body.id]);
				expect(jobs.rowCount).toBe(0);
			}
		} finally {
			await pg.end();
		}
	}, 90_000);

	it("lets one requester have at most TRANSCODE_JOBS_PER_USER (3) jobs queued or running: the next is 429 TRANSCODE_LIMIT, others are not held", async () => {
		const hog = await app.createUser("PATRON");
		// The first job keeps the single worker busy for a while, so the next two stay QUEUED.
		const [busy, small] = await Promise.all([
			upload(hog.token, "busy.mp4", await testVideo(work, "mp4", { seconds: 6, size: "1280x720" })),
			upload(hog.token, "small.mp4", mp4),
		]);
		// The busy one at full size (720p): seconds of work, against ~0.2 s for the three requests after it.
		const compress = (token: string, fileId: string, resize = true) =>
			app.request("POST", "/api/v1/files/files/compress", { token, body: resize ? { fileId, maxWidth: 160 } : { fileId } });
		const accepted: string[] = [];
		for (const [fileId, resize] of [
			[busy.body.id, false],
			[small.body.id, true],
			[small.body.id, true],
		] as const) {
			const res = await compress(hog.token, fileId, resize);
			expect(res.status).toBe(202);
			accepted.push(res.body.jobId);
		}
		const refused = await compress(hog.token, small.body.id);
		expect(refused.status).toBe(429);
		expect(refused.body.error).toMatchObject({ code: "TRANSCODE_LIMIT", details: { retryAfter: 30 } });
		expect(refused.headers.get("retry-after")).toBe("30");
		// The limit is the requester's: someone else still gets a job.
		const mine = await upload(owner.token, "mine.mp4", mp4);
		const ownerJob = await compress(owner.token, mine.body.id);
		expect(ownerJob.status).toBe(202);
		// A finished job frees its slot.
		await settled(accepted[0], hog.token);
		const again = await compress(hog.token, small.body.id);
		expect(again.status).toBe(202);
		const all = await Promise.all([...accepted, again.body.jobId].map((id) => settled(id, hog.token)));
		expect(all.map((j) => j.status)).toEqual(["DONE", "DONE", "DONE", "DONE"]);
		await settled(ownerJob.body.jobId);
	}, 180_000);

	it("makes responsive variants (320/640/1280, never upscaled; progressive JPEG or WebP) and a blurred placeholder < 1 KB at upload", async () => {
		const big = await upload(owner.token, "wide.jpg", await photo(1600, 1000));
		expect(big.status).toBe(201);
		const info = await app.request("GET", `/api/v1/files/files/${big.body.id}`, { token: owner.token });
		const responsive = info.body.variants.filter((v: { kind: string }) => v.kind === "RESPONSIVE");
		expect(responsive.map((v: { width: number; height: number; mimeType: string }) => [v.width, v.height, v.mimeType])).toEqual([
			[320, 200, "image/jpeg"],
			[640, 400, "image/jpeg"],
			[1280, 800, "image/jpeg"],
		]);
		for (const v of responsive) {
			const res = await send("GET", v.url, { token: owner.token });
			expect(res.bytes.length).toBe(v.size);
			expect(await sharp(res.bytes).metadata()).toMatchObject({ format: "jpeg", width: v.width, isProgressive: true });
		}
		expect(info.body.placeholder).toMatch(/^data:image\/webp;base64,/);
		expect(info.body.placeholder.length).toBeLessThan(1024);
		const tiny = await sharp(Buffer.from(info.body.placeholder.split(",")[1], "base64")).metadata();
		expect(tiny).toMatchObject({ format: "webp", width: 16, height: 10 });

		// 700 wide: only 320 and 640 (no upscale); a PNG becomes WebP.
		const png = await upload(owner.token, "mid.png", await photo(700, 350, "png"));
		const pinfo = await app.request("GET", `/api/v1/files/files/${png.body.id}`, { token: owner.token });
		expect(pinfo.body.variants.map((v: { width: number; mimeType: string; kind: string }) => [v.kind, v.width, v.mimeType])).toEqual([
			["RESPONSIVE", 320, "image/webp"],
			["RESPONSIVE", 640, "image/webp"],
		]);
		// Narrower than 320: no variants, still a placeholder.
		const small = await upload(owner.token, "small.jpg", await photo(200, 100));
		const sinfo = await app.request("GET", `/api/v1/files/files/${small.body.id}`, { token: owner.token });
		expect(sinfo.body.variants).toEqual([]);
		expect(sinfo.body.placeholder).toMatch(/^data:image\/webp;base64,/);
	}, 60_000);

	it("revalidates with ETag (304) and serves byte ranges (206, 416 beyond the end)", async () => {
		const up = await upload(owner.token, "range.mp4", mp4);
		const url = up.body.url;
		const full = await send("GET", url, { token: owner.token });
		expect(full.status).toBe(200);
		expect(full.headers.get("accept-ranges")).toBe("bytes");
		const etag = full.headers.get("etag")!;
		expect(etag).toBe(`"${createHash("sha256").update(mp4).digest("hex")}"`);
		expect(full.headers.get("cache-control")).toBe("private, max-age=3600");
		expect(full.headers.get("cross-origin-resource-policy")).toBe("same-site");

		const notModified = await send("GET", url, { token: owner.token, headers: { "if-none-match": `W/"other", ${etag}` } });
		expect(notModified.status).toBe(304);
		expect(notModified.bytes.length).toBe(0);
		expect(notModified.headers.get("etag")).toBe(etag);
		expect((await send("GET", url, { token: owner.token, headers: { "if-none-match": '"other"' } })).status).toBe(200);

		const part = await send("GET", url, { token: owner.token, headers: { range: "bytes=100-1099" } });
		expect(part.status).toBe(206);
		expect(part.headers.get("content-range")).toBe(`bytes 100-1099/${mp4.length}`);
		expect(part.bytes.equals(mp4.subarray(100, 1100))).toBe(true);
		const tail = await send("GET", url, { token: owner.token, headers: { range: "bytes=-500" } });
		expect(tail.status).toBe(206);
		expect(tail.bytes.equals(mp4.subarray(mp4.length - 500))).toBe(true);
		const open = await send("GET", url, { token: owner.token, headers: { range: `bytes=${mp4.length - 10}-` } });
		expect(open.bytes.equals(mp4.subarray(mp4.length - 10))).toBe(true);

		const beyond = await send("GET", url, { token: owner.token, headers: { range: `bytes=${mp4.length}-` } });
		expect(beyond.status).toBe(416);
		expect(beyond.headers.get("content-range")).toBe(`bytes */${mp4.length}`);
		expect(beyond.body.error).toMatchObject({ code: "RANGE_NOT_SATISFIABLE", details: { size: mp4.length } });
		// An If-Range that no longer matches: the whole file.
		expect((await send("GET", url, { token: owner.token, headers: { range: "bytes=0-9", "if-range": '"stale"' } })).status).toBe(200);
		expect((await send("GET", url, { token: owner.token, headers: { range: "bytes=0-9", "if-range": etag } })).status).toBe(206);
	});

	it("hands out signed, expiring URLs that work without a token, cacheable by a CDN", async () => {
		const up = await upload(owner.token, "cdn.jpg", await photo(800, 600));
		expect((await app.request("GET", `/api/v1/files/files/${up.body.id}/urls`, { token: other.token })).status).toBe(404);
		expect((await app.request("GET", `/api/v1/files/files/${up.body.id}/urls`)).status).toBe(401);
		const urls = await app.request("GET", `/api/v1/files/files/${up.body.id}/urls`, { token: owner.token });
		expect(urls.status).toBe(200);
		const exp = Math.floor(new Date(urls.body.expiresAt).getTime() / 1000);
		expect(exp * 1000).toBeGreaterThan(Date.now() + 3600_000 - 5000);
		expect(urls.body.variants.map((v: { width: number }) => v.width)).toEqual([320, 640]);

		// The signature is the documented HMAC of file, variant and expiry with FILES_URL_SECRET.
		const variant = urls.body.variants[0];
		const sig = (variantId: string, e: number) =>
			createHmac("sha256", URL_SECRET).update(`${up.body.id}\n${variantId}\n${e}`).digest("base64url");
		expect(variant.url).toBe(`/api/v1/files/files/${up.body.id}/content?variant=${variant.id}&exp=${exp}&sig=${sig(variant.id, exp)}`);

		const anon = await send("GET", variant.url);
		expect(anon.status).toBe(200);
		expect(anon.bytes.length).toBe(variant.size);
		const cache = anon.headers.get("cache-control")!;
		expect(cache).toMatch(/^public, max-age=\d+, immutable$/);
		const maxAge = Number(/max-age=(\d+)/.exec(cache)![1]);
		expect(maxAge).toBeGreaterThan(0);
		expect(maxAge).toBeLessThanOrEqual(exp - Math.floor(Date.now() / 1000) + 1);
		expect(anon.headers.get("etag")).toBe(`"${variant.id}"`);
		expect(anon.headers.get("cross-origin-resource-policy")).toBe("cross-origin");
		expect((await send("GET", variant.url, { headers: { "if-none-match": `"${variant.id}"` } })).status).toBe(304);
		const original = await send("GET", urls.body.original.url);
		expect(original.status).toBe(200);
		expect(original.bytes.length).toBe(up.body.size);
		const head = await send("GET", urls.body.original.url, { headers: { range: "bytes=0-99" } });
		expect(head.status).toBe(206);
		expect(head.bytes.equals(original.bytes.subarray(0, 100))).toBe(true);

		// Tampered, moved to another variant, expired, half a signature, no signature.
		const bad = await send(
			"GET",
			variant.url.replace(/sig=(.)/, (_m: string, c: string) => `sig=${c === "A" ? "B" : "A"}`),
		);
		expect(bad.status).toBe(403);
		expect(bad.body.error.code).toBe("INVALID_SIGNATURE");
		const other640 = urls.body.variants[1];
		expect(
			(await send("GET", `/api/v1/files/files/${up.body.id}/content?variant=${other640.id}&exp=${exp}&sig=${sig(variant.id, exp)}`))
				.status,
		).toBe(403);
		const past = Math.floor(Date.now() / 1000) - 10;
		const expired = await send(
			"GET",
			`/api/v1/files/files/${up.body.id}/content?variant=${variant.id}&exp=${past}&sig=${sig(variant.id, past)}`,
		);
		expect(expired.status).toBe(403);
		expect(expired.body.error.code).toBe("URL_EXPIRED");
		expect((await send("GET", `/api/v1/files/files/${up.body.id}/content?variant=${variant.id}&exp=${exp}`)).status).toBe(422);
		expect((await send("GET", `/api/v1/files/files/${up.body.id}/content`)).status).toBe(401);

		// A deleted file's links stop working.
		expect((await app.request("DELETE", `/api/v1/files/files/${up.body.id}`, { token: owner.token })).status).toBe(204);
		expect((await send("GET", variant.url)).status).toBe(404);
	});

	it("keeps the queue across a restart: a job RUNNING when its node died and a QUEUED one both complete", async () => {
		const up = await upload(owner.token, "restart.mp4", mp4);
		// An open socket would hold the gateway's server open.
		socket.close();
		await app.stop();
		const pg = new Client({ connectionString: db.url });
		await pg.connect();
		try {
			// As a crash leaves them: one running on a node that is gone, one running on this very node (same id after restart), one waiting.
			const insert = `INSERT INTO files.transcode_jobs (file_id, owner_id, requested_by, crf, max_width, status, node_id, heartbeat_at, attempts, started_at, created_at)
				VALUES ($1, $2, $2, 30, 160, $3, $4, $5, $6, $5, now() - $7::interval) RETURNING id`;
			const crashed = await pg.query<{ id: string }>(insert, [
				up.body.id,
				owner.id,
				"RUNNING",
				"gone-node",
				new Date(Date.now() - 600_000),
				1,
				"3 minutes",
			]);
			const own = await pg.query<{ id: string }>(insert, [
				up.body.id,
				owner.id,
				"RUNNING",
				"media-restart-node",
				new Date(),
				1,
				"2 minutes",
			]);
			const queued = await pg.query<{ id: string }>(insert, [up.body.id, owner.id, "QUEUED", null, null, 0, "1 minute"]);
			app = await startTestApp({ db, services: ["auth", "files"], env, broker: { nodeID: "media-restart-node" } });
			const login = await app.broker.call<{ accessToken: string }, object>("auth.login", {
				email: owner.email,
				password: owner.password,
			});
			owner = { ...owner, token: login.accessToken };
			const jobs = await Promise.all([crashed, own, queued].map((r) => settled(r.rows[0].id)));
			expect(jobs.map((j) => j.status)).toEqual(["DONE", "DONE", "DONE"]);
			expect(jobs[0].result.video).toMatchObject({ width: 160, height: 90 });
			const attempts = await pg.query<{ attempts: number }>(
				"SELECT attempts FROM files.transcode_jobs WHERE id = ANY($1) ORDER BY created_at",
				[jobs.map((j) => j.id)],
			);
			expect(attempts.rows.map((r) => r.attempts)).toEqual([2, 2, 1]);
		} finally {
			await pg.end();
		}
	}, 120_000);
});

describe("a transcode within its owner's storage quota", () => {
	let db: TestDatabase;
	let app: TestApp;
	let source: Buffer;
	const work = fs.mkdtempSync(path.join(os.tmpdir(), "eislager-media-quota-"));
	const filesDir = path.join(work, "files");
	/** Room for the source and ~40 KB more: a small result fits, a lossless one does not. */
	const ROOM = 40 * 1024;

	beforeAll(async () => {
		// Before this describe's app exists, ffmpeg is the one of the configuration in force (the previous app's).
		source = await testVideo(work, "mp4");
		db = await createTestDatabase();
		app = await startTestApp({
			db,
			services: ["auth", "files"],
			env: { FILES_DIR: filesDir, TRANSCODE_CONCURRENCY: "1", UPLOAD_QUOTA_BYTES: String(source.length + ROOM) },
		});
	}, 60_000);

	afterAll(() => teardown(app, db, work));

	it("stops writing a result the quota could not hold (the job fails QUOTA_EXCEEDED, nothing is kept); a small one is kept", async () => {
		const user = await app.createUser("PATRON");
		const up = await uploadFile(app, user.token, "clip.mp4", source);
		const run = async (body: object) => {
			const res = await app.request("POST", "/api/v1/files/files/compress", { token: user.token, body: { fileId: up.id, ...body } });
			expect(res.status).toBe(202);
			return until(`job ${res.body.jobId}`, async () => {
				const job = await app.request("GET", `/api/v1/files/jobs/${res.body.jobId}`, { token: user.token });
				return ["DONE", "FAILED"].includes(job.body.status) && job.body;
			});
		};
		const stored = () => fs.readdirSync(filesDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;

		// Lossless 640×360: megabytes, but ffmpeg stops at the ~40 KB left.
		const lossless = await run({ crf: 0 });
		expect(lossless).toMatchObject({ status: "FAILED", error: expect.stringContaining("Storage quota exceeded") });
		expect(stored()).toBe(1);

		const small = await run({ crf: 51, maxWidth: 64 });
		expect(small.status).toBe("DONE");
		expect(stored()).toBe(3);
	}, 90_000);
});

describe("transcode queue on a graceful stop", () => {
	let db: TestDatabase;
	let app: TestApp;
	const work = fs.mkdtempSync(path.join(os.tmpdir(), "eislager-media-stop-"));
	// An "ffmpeg" whose transcodes never finish (a job stays RUNNING until it is killed); asked to list its input (the
	// probe before queuing), it finds no video at once, as ffmpeg does for an unreadable file.
	const stuck = path.join(work, "stuck-ffmpeg.sh");
	fs.writeFileSync(stuck, '#!/bin/sh\ncase "$*" in *-progress*) exec sleep 300;; esac\nexit 1\n', { mode: 0o755 });

	beforeAll(async () => {
		db = await createTestDatabase();
		app = await startTestApp({
			db,
			services: ["auth", "files"],
			env: { FILES_DIR: path.join(work, "files"), FFMPEG_PATH: stuck, TRANSCODE_CONCURRENCY: "1" },
		});
	});

	afterAll(() => teardown(app, db, work));

	it("runs one job while the next waits QUEUED, and gives the running one back to the queue when the node stops", async () => {
		const user = await app.createUser("PATRON");
		const up = await uploadFile(
			app,
			user.token,
			"v.mp4",
			Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from("ftypisom"), Buffer.alloc(256, 7)]),
		);
		const ids: string[] = [];
		for (let i = 0; i < 2; i++)
			ids.push(
				(await app.request("POST", "/api/v1/files/files/compress", { token: user.token, body: { fileId: up.id } })).body.jobId,
			);
		const first = await until("the first job to run", async () => {
			const res = await app.request("GET", `/api/v1/files/jobs/${ids[0]}`, { token: user.token });
			return res.body.status === "RUNNING" && res.body;
		});
		expect(first).toMatchObject({ progress: 0, startedAt: expect.any(String) });
		expect((await app.request("GET", `/api/v1/files/jobs/${ids[1]}`, { token: user.token })).body.status).toBe("QUEUED");

		await app.stop();
		const pg = new Client({ connectionString: db.url });
		await pg.connect();
		try {
			const rows = await pg.query<{ status: string; node_id: string | null; attempts: number }>(
				"SELECT status, node_id, attempts FROM files.transcode_jobs WHERE id = ANY($1) ORDER BY created_at",
				[ids],
			);
			expect(rows.rows).toEqual([
				{ status: "QUEUED", node_id: null, attempts: 0 },
				{ status: "QUEUED", node_id: null, attempts: 0 },
			]);
		} finally {
			await pg.end();
		}
		app = undefined as unknown as TestApp;
	}, 60_000);
});

describe("download helpers", () => {
	it("compares ETags weakly for If-None-Match and parses single byte ranges", () => {
		expect(etagMatches('W/"a"', '"a"')).toBe(true);
		expect(etagMatches("*", '"a"')).toBe(true);
		expect(etagMatches('"b"', '"a"')).toBe(false);
		expect(byteRange("bytes=0-0", undefined, '"a"', 10)).toEqual({ start: 0, end: 0 });
		expect(byteRange("bytes=5-100", undefined, '"a"', 10)).toEqual({ start: 5, end: 9 });
		expect(byteRange("bytes=-20", undefined, '"a"', 10)).toEqual({ start: 0, end: 9 });
		expect(byteRange("bytes=0-1,3-4", undefined, '"a"', 10)).toBeUndefined();
		expect(byteRange("items=0-1", undefined, '"a"', 10)).toBeUndefined();
		expect(() => byteRange("bytes=10-", undefined, '"a"', 10)).toThrow(/not within/);
		expect(() => byteRange("bytes=-0", undefined, '"a"', 10)).toThrow(/not within/);
	});
});
