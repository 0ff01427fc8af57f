/** files through the gateway: real multipart bodies (FormData/Blob), images made with sharp. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import sharp from "sharp";
import { startTestApp, type TestApp, type TestUser } from "../helpers/app";
import { sniff } from "../../lib/uploads";
import { Client } from "pg";
import { sqlRows } from "../integration/inventory/helpers";

const MAX_BYTES = 300_000;

/** A noisy (hard to compress) RGB image. */
async function noisyImage(format: "png" | "jpeg", width = 200, height = 150): Promise<Buffer> {
	const raw = Buffer.alloc(width * height * 3);
	let seed = 42;
	for (let i = 0; i < raw.length; i++) {
		seed = (seed * 1103515245 + 12345) & 0x7fffffff;
		raw[i] = (i % 3 === 0 ? (i / 3) % width : seed >> 16) & 0xff;
	}
	const img = sharp(raw, { raw: { width, height, channels: 3 } });
	return format === "png" ? img.png().toBuffer() : img.jpeg({ quality: 95 }).toBuffer();
}

function form(files: { name: string; content: Buffer; type?: string }[]): FormData {
	const fd = new FormData();
	for (const f of files) fd.append("file", new Blob([f.content], { type: f.type ?? "application/octet-stream" }), f.name);
	return fd;
}

describe("files", () => {
	let app: TestApp;
	let owner: TestUser;
	let other: TestUser;
	let executive: TestUser;
	let admin: TestUser;
	let png: Buffer;
	let jpeg: Buffer;
	const filesDir = fs.mkdtempSync(path.join(os.tmpdir(), "eislager-files-"));

	async function send(
		method: string,
		url: string,
		body: FormData | undefined,
		token?: string,
		// eslint-disable-next-line @typescript-eslint/no-explicit-any
	): Promise<{ status: number; body: any; headers: Headers; bytes: Buffer }> {
		const res = await fetch(app.baseUrl + url, { method, body, headers: token ? { authorization: `Bearer ${token}` } : {} });
		const bytes = Buffer.from(await res.arrayBuffer());
		let parsed: unknown = null;
		if ((res.headers.get("content-type") ?? "").includes("json")) parsed = JSON.parse(bytes.toString("utf8"));
		return { status: res.status, body: parsed, headers: res.headers, bytes };
	}
	const upload = (token: string | undefined, files: { name: string; content: Buffer; type?: string }[], url = "/api/v1/files/upload") =>
		send("POST", url, form(files), token);

	beforeAll(async () => {
		app = await startTestApp({
			services: ["auth", "files"],
			env: { FILES_DIR: filesDir, UPLOAD_MAX_BYTES: String(MAX_BYTES), UPLOAD_BATCH_MAX_FILES: "3" },
		});
		[owner, other, executive, admin] = await Promise.all([
			app.createUser("PATRON"),
			app.createUser("PATRON"),
			app.createUser("EXECUTIVE"),
			app.createUser("ADMIN"),
		]);
		[png, jpeg] = await Promise.all([noisyImage("png"), noisyImage("jpeg")]);
	});

	afterAll(async () => {
		await app?.stop();
		fs.rmSync(filesDir, { recursive: true, force: true });
	});

	it("publishes every route of docs/spec.md section 7 (and the download addition) in the OpenAPI document", async () => {
		const doc = await app.request("GET", "/api/v1/openapi.json");
		const routes = [
			["post", "/upload"],
			["get", "/files/{fileId}"],
			["delete", "/files/{fileId}"],
			["post", "/upload/batch"],
			["get", "/files/user/{userId}"],
			["post", "/files/compress"],
			["get", "/files/{fileId}/content"],
		];
		const missing = routes.filter(([method, route]) => !doc.body.paths[`/api/v1/files${route}`]?.[method]);
		expect(missing).toEqual([]);
		expect(doc.body.paths["/api/v1/files/files/{fileId}/content"].get.summary).toMatch(/addition/i);
	});

	it("uploads, describes, serves and deletes a file; others see 404, anonymous 401", async () => {
		const up = await upload(owner.token, [{ name: "cone.png", content: png, type: "image/png" }]);
		expect(up.status).toBe(201);
		expect(up.body).toEqual({
			id: expect.any(String),
			name: "cone.png",
			mimeType: "image/png",
			size: png.length,
			url: `/api/v1/files/files/${up.body.id}/content`,
			createdAt: expect.any(String),
		});
		expect(up.headers.get("location")).toBe(`/api/v1/files/files/${up.body.id}`);
		const stored = fs.readdirSync(path.join(filesDir, "files"));
		expect(stored).toHaveLength(1);
		expect(stored[0]).toMatch(/^[0-9a-f-]{36}\.png$/);

		const info = await app.request("GET", `/api/v1/files/files/${up.body.id}`, { token: owner.token });
		expect(info.status).toBe(200);
		expect(info.body).toMatchObject({
			id: up.body.id,
			ownerId: owner.id,
			sha256: createHash("sha256").update(png).digest("hex"),
			variants: [],
		});
		expect((await app.request("GET", `/api/files/files/${up.body.id}`, { token: executive.token })).status).toBe(200);
		expect((await app.request("GET", `/api/v1/files/files/${up.body.id}`, { token: other.token })).status).toBe(404);
		expect((await app.request("GET", `/api/v1/files/files/${up.body.id}`)).status).toBe(401);
		expect((await app.request("GET", `/api/v1/files/files/00000000-0000-4000-8000-000000000000`, { token: owner.token })).status).toBe(
			404,
		);

		const content = await send("GET", up.body.url, undefined, owner.token);
		expect(content.status).toBe(200);
		expect(content.headers.get("content-type")).toBe("image/png");
		expect(content.headers.get("x-content-type-options")).toBe("nosniff");
		expect(content.headers.get("content-disposition")).toMatch(/^inline; filename="cone.png"/);
		expect(content.bytes.equals(png)).toBe(true);
		expect((await send("GET", up.body.url, undefined, other.token)).status).toBe(404);

		expect((await app.request("DELETE", `/api/v1/files/files/${up.body.id}`, { token: other.token })).status).toBe(404);
		expect((await app.request("DELETE", `/api/v1/files/files/${up.body.id}`, { token: executive.token })).status).toBe(403);
		expect((await app.request("DELETE", `/api/v1/files/files/${up.body.id}`, { token: owner.token })).status).toBe(204);
		expect(fs.readdirSync(path.join(filesDir, "files"))).toHaveLength(0);
		expect((await app.request("GET", `/api/v1/files/files/${up.body.id}`, { token: owner.token })).status).toBe(404);
		expect((await app.request("DELETE", `/api/v1/files/files/${up.body.id}`, { token: owner.token })).status).toBe(404);

		expect((await upload(undefined, [{ name: "a.png", content: png }])).status).toBe(401);
	});

	it("a delete racing a new variant gives back the variant's bytes too (the quota stays true)", async () => {
		const user = await app.createUser("PATRON");
		const up = await upload(user.token, [{ name: "race.png", content: png, type: "image/png" }]);
		expect(up.status).toBe(201);
		const usage = async () =>
			Number(
				(await sqlRows<{ bytes: string }>(app, "SELECT bytes FROM files.storage_usage WHERE user_id = $1", [user.id]))[0]?.bytes ??
					0,
			);
		expect(await usage()).toBe(png.length);
		// A compression adds a variant as compressions do: under the file's row lock, its bytes counted in the same commit.
		const pg = new Client({ connectionString: app.db.url });
		await pg.connect();
		try {
			await pg.query("BEGIN");
			await pg.query("SELECT 1 FROM files.files WHERE id = $1 FOR UPDATE", [up.body.id]);
			await pg.query(
				`UPDATE files.files SET variants = variants || jsonb_build_array(jsonb_build_object('id', gen_random_uuid(), 'storageKey', 'race-variant.jpg',
				   'mimeType', 'image/jpeg', 'size', 500, 'width', 10, 'height', 10, 'quality', 80, 'createdAt', now())) WHERE id = $1`,
				[up.body.id],
			);
			await pg.query("UPDATE files.storage_usage SET bytes = bytes + 500 WHERE user_id = $1", [user.id]);
			const deleted = app.request("DELETE", `/api/v1/files/files/${up.body.id}`, { token: user.token });
			await new Promise((r) => setTimeout(r, 800));
			await pg.query("COMMIT");
			expect((await deleted).status).toBe(204);
		} finally {
			await pg.end();
		}
		expect(await usage()).toBe(0);
	});

	it("rejects wrong magic bytes (415), too large (413) and non-multipart bodies (415)", async () => {
		const fake = await upload(owner.token, [
			{ name: "photo.png", content: Buffer.from("MZ\x90\0 this is an exe, not a png"), type: "image/png" },
		]);
		expect(fake.status).toBe(415);
		expect(fake.body.error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
		const big = await upload(owner.token, [{ name: "big.png", content: Buffer.concat([png, Buffer.alloc(MAX_BYTES)]) }]);
		expect(big.status).toBe(413);
		expect(big.body.error.code).toBe("PAYLOAD_TOO_LARGE");
		const json = await app.request("POST", "/api/v1/files/upload", { token: owner.token, body: { file: "x" } });
		expect(json.status).toBe(415);
		const pdf = await upload(owner.token, [{ name: "menu.pdf", content: Buffer.from("%PDF-1.7\n1 0 obj\n<<>>\nendobj\n") }]);
		expect(pdf.status).toBe(201);
		expect(pdf.body.mimeType).toBe("application/pdf");
		const dl = await send("GET", pdf.body.url, undefined, owner.token);
		expect(dl.headers.get("content-disposition")).toMatch(/^attachment; filename="menu.pdf"/);
		expect(fs.readdirSync(path.join(filesDir, "files")).filter((f) => f.endsWith(".png"))).toHaveLength(0);
	});

	it("batch uploads with per-file statuses and lists a user's files", async () => {
		const all = await upload(
			other.token,
			[
				{ name: "a.png", content: png },
				{ name: "b.jpg", content: jpeg },
			],
			"/api/v1/files/upload/batch",
		);
		expect(all.status).toBe(200);
		expect(all.body.map((r: { status: number }) => r.status)).toEqual([201, 201]);
		expect(all.body.map((r: { file: { mimeType: string } }) => r.file.mimeType)).toEqual(["image/png", "image/jpeg"]);

		const mixed = await upload(
			other.token,
			[
				{ name: "c.png", content: png },
				{ name: "evil.jpg", content: Buffer.from("<svg/>") },
			],
			"/api/v1/files/upload/batch",
		);
		expect(mixed.status).toBe(207);
		expect(mixed.body).toEqual([
			expect.objectContaining({ name: "c.png", status: 201 }),
			expect.objectContaining({ name: "evil.jpg", status: 415, error: expect.objectContaining({ code: "UNSUPPORTED_MEDIA_TYPE" }) }),
		]);
		const tooMany = await upload(
			other.token,
			[1, 2, 3, 4].map((i) => ({ name: `${i}.png`, content: png })),
			"/api/v1/files/upload/batch",
		);
		expect(tooMany.status).toBe(413);

		const list = await app.request("GET", `/api/v1/files/files/user/${other.id}?pageSize=2&sort=-createdAt`, { token: other.token });
		expect(list.status).toBe(200);
		expect(list.body).toMatchObject({ page: 1, pageSize: 2 });
		expect(list.body.total).toBeGreaterThanOrEqual(3);
		expect(list.body.rows).toHaveLength(2);
		expect((await app.request("GET", `/api/v1/files/files/user/${other.id}`, { token: admin.token })).status).toBe(200);
		expect((await app.request("GET", `/api/v1/files/files/user/${other.id}`, { token: owner.token })).status).toBe(403);
		expect((await app.request("GET", `/api/v1/files/files/user/${other.id}?sort=sha256`, { token: other.token })).status).toBe(422);
	});

	it("compresses an image into a smaller valid variant; a video is queued as a transcode job (202)", async () => {
		const up = await upload(owner.token, [{ name: "big.jpg", content: jpeg }]);
		expect(up.status).toBe(201);
		expect(
			(await app.request("POST", "/api/v1/files/files/compress", { token: other.token, body: { fileId: up.body.id } })).status,
		).toBe(404);
		const res = await app.request("POST", "/api/v1/files/files/compress", {
			token: owner.token,
			body: { fileId: up.body.id, quality: 40, maxWidth: 100 },
		});
		expect(res.status).toBe(201);
		expect(res.body).toMatchObject({
			fileId: up.body.id,
			mimeType: "image/jpeg",
			width: 100,
			height: 75,
			quality: 40,
			originalSize: jpeg.length,
		});
		expect(res.body.size).toBeLessThan(jpeg.length);
		const variant = await send("GET", res.body.url, undefined, owner.token);
		expect(variant.status).toBe(200);
		expect(variant.bytes.length).toBe(res.body.size);
		const meta = await sharp(variant.bytes).metadata();
		expect(meta).toMatchObject({ format: "jpeg", width: 100, height: 75 });
		const info = await app.request("GET", `/api/v1/files/files/${up.body.id}`, { token: owner.token });
		expect(info.body.variants).toEqual([expect.objectContaining({ id: res.body.id, size: res.body.size })]);

		const mp4 = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from("ftypisom"), Buffer.alloc(64, 1)]);
		const video = await upload(owner.token, [{ name: "clip.mp4", content: mp4 }]);
		expect(video.status).toBe(201);
		expect(video.body.mimeType).toBe("video/mp4");
		const vc = await app.request("POST", "/api/v1/files/files/compress", { token: owner.token, body: { fileId: video.body.id } });
		// The real transcode (ffmpeg on a generated video) is tested in files-media.test.ts.
		expect(vc.status).toBe(202);
		expect(vc.body).toMatchObject({ jobId: expect.any(String), status: "QUEUED" });
	});
});

describe("magic bytes (lib/uploads)", () => {
	it("tells video containers apart from look-alikes", () => {
		const ftyp = (brand: string) => Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from(`ftyp${brand}`), Buffer.alloc(8)]);
		expect(sniff(ftyp("mp42"))?.mime).toBe("video/mp4");
		expect(sniff(ftyp("heic"))).toBeUndefined();
		expect(sniff(ftyp("qt  "))).toBeUndefined();
		const ebml = Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, 0x84]);
		expect(sniff(Buffer.concat([ebml, Buffer.from("webm")]))?.mime).toBe("video/webm");
		expect(sniff(Buffer.concat([ebml, Buffer.from("matroska")]))).toBeUndefined();
		expect(sniff(Buffer.from("%PDF-1.4"), ["image/png"])).toBeUndefined();
	});
});
