/**
 * Shared upload plumbing for multipart routes (moleculer-web busboy): content
 * types recognised by magic bytes (never by the client's name or Content-Type),
 * uploads streamed to disk with a size cap (413), the alias options that answer 401/415 before
 * busboy runs, safe original names and storage under FILES_DIR with generated names.
 */
import fs from "node:fs";
import path from "node:path";
import { createHash, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { EventEmitter } from "node:events";
import type { Readable } from "node:stream";
import { Errors } from "moleculer";
import { config } from "./config";
import { unauthorized, validationError } from "./errors";

export type FileKind = "IMAGE" | "VIDEO" | "FILE";

export interface FileSignature {
	mime: string;
	ext: string;
	kind: FileKind;
	test: (b: Buffer) => boolean;
}

/** ISO base media brands of MP4 video (HEIC/AVIF images and QuickTime share the `ftyp` box: not accepted). */
const MP4_BRANDS = new Set(["isom", "iso2", "iso3", "iso4", "iso5", "iso6", "mp41", "mp42", "avc1", "M4V ", "dash", "mmp4", "f4v "]);

export const SIGNATURES: readonly FileSignature[] = [
	{
		mime: "image/png",
		ext: "png",
		kind: "IMAGE",
		test: (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
	},
	{ mime: "image/jpeg", ext: "jpg", kind: "IMAGE", test: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
	{ mime: "image/gif", ext: "gif", kind: "IMAGE", test: (b) => /^GIF8[79]a/.test(b.subarray(0, 6).toString("latin1")) },
	{
		mime: "image/webp",
		ext: "webp",
		kind: "IMAGE",
		test: (b) => b.subarray(0, 4).toString("latin1") === "RIFF" && b.subarray(8, 12).toString("latin1") === "WEBP",
	},
	{ mime: "application/pdf", ext: "pdf", kind: "FILE", test: (b) => b.subarray(0, 5).toString("latin1") === "%PDF-" },
	{
		mime: "video/mp4",
		ext: "mp4",
		kind: "VIDEO",
		test: (b) => b.subarray(4, 8).toString("latin1") === "ftyp" && MP4_BRANDS.has(b.subarray(8, 12).toString("latin1")),
	},
	{
		mime: "video/webm",
		ext: "webm",
		kind: "VIDEO",
		test: (b) => b.subarray(0, 4).equals(Buffer.from([0x1a, 0x45, 0xdf, 0xa3])) && b.subarray(0, 64).includes("webm", 0, "latin1"),
	},
];

/** The accepted type of `head` (the file's first bytes) among `accepted` mime types (default: all known). */
export function sniff(head: Buffer, accepted?: readonly string[]): FileSignature | undefined {
	return SIGNATURES.find((s) => (!accepted || accepted.includes(s.mime)) && s.test(head));
}

export const tooLarge = (maxBytes: number, what = "File") =>
	new Errors.MoleculerClientError(`${what} larger than ${maxBytes} bytes`, 413, "PAYLOAD_TOO_LARGE", { maxBytes });

export const unsupported = (accepted: readonly string[], message: string) =>
	new Errors.MoleculerClientError(message, 415, "UNSUPPORTED_MEDIA_TYPE", { accepted: [...accepted] });

const isPayloadTooLarge = (err: unknown) =>
	(err as { code?: unknown }).code === 413 || (err as { name?: string }).name === "PayloadTooLarge";

/** How many leading bytes decide the type (WebM looks for its doctype within the first 64). */
const SNIFF_BYTES = 64;

export interface ReceivedFile {
	/** Generated name under FILES_DIR/<area> (`<uuid>.<ext>`). */
	storageKey: string;
	/** Absolute path of the stored bytes. */
	path: string;
	size: number;
	sha256: string;
	type: FileSignature;
}

export interface ReceiveOptions {
	/** Largest accepted size; beyond it `overLimit()` (default 413 PAYLOAD_TOO_LARGE). */
	maxBytes: number;
	overLimit?: () => Error;
	/** Accepted mime types (by magic bytes) and the 415 message for others. */
	accepted: readonly string[];
	unsupportedMessage: string;
	/** A stream silent this long is abandoned (a client gone mid-upload): its partial file is removed. */
	idleMs?: number;
}

/**
 * Streams an upload to disk (never whole in memory): a `.part` file under FILES_DIR/<area>, renamed to
 * `<uuid>.<ext>` once complete. Sniffs the type from the first bytes (415 as soon as they do not match),
 * counts bytes (413 past `maxBytes`), hashes on the way. On any failure the partial file is removed and
 * the rest of the stream is drained, so busboy goes on with the next file of a batch.
 */
/** Where the gateway keeps a file stream's error that came before the action listened (see multipartAlias). */
const EARLY_ERROR = Symbol("eislager.uploadEarlyError");
type FlaggedStream = Readable & { [EARLY_ERROR]?: unknown };

export async function receiveFile(stream: Readable, area: string, opts: ReceiveOptions): Promise<ReceivedFile> {
	// Listened to at once: a body cut short can fail the stream while the directory is made, and an 'error'
	// nobody listens to is an uncaught exception that ends the process.
	let earlyError: unknown = (stream as FlaggedStream)[EARLY_ERROR];
	const onEarlyError = (err: unknown) => (earlyError ??= err);
	stream.on("error", onEarlyError);
	const overLimit = opts.overLimit ?? (() => tooLarge(opts.maxBytes));
	await fs.promises.mkdir(storageDir(area), { recursive: true });
	const name = randomUUID();
	const partPath = path.join(storageDir(area), `${name}.part`);
	const out = fs.createWriteStream(partPath, { flags: "wx", mode: 0o640 });
	const hash = createHash("sha256");
	let size = 0;
	let head = Buffer.alloc(0);
	let type: FileSignature | undefined;
	try {
		await new Promise<void>((resolve, reject) => {
			let idle: NodeJS.Timeout | undefined;
			const finish = (err?: unknown) => {
				clearTimeout(idle);
				stream.off("data", onData).off("end", onEnd).off("error", onError);
				// A late error (busboy's own size limit) must not go unhandled; the rest is drained.
				stream.on("error", () => undefined);
				if (err === undefined) return resolve();
				stream.resume();
				reject(isPayloadTooLarge(err) ? overLimit() : err);
			};
			const arm = () => {
				clearTimeout(idle);
				idle = setTimeout(
					() => finish(new Errors.MoleculerClientError("The upload stalled", 408, "UPLOAD_STALLED")),
					opts.idleMs ?? config().requestTimeoutMs,
				);
			};
			const onData = (chunk: Buffer) => {
				arm();
				size += chunk.length;
				if (size > opts.maxBytes) return finish(overLimit());
				hash.update(chunk);
				if (!type && head.length < SNIFF_BYTES) {
					head = Buffer.concat([head, chunk.subarray(0, SNIFF_BYTES - head.length)]);
					if (head.length >= SNIFF_BYTES && !(type = sniff(head, opts.accepted)))
						return finish(unsupported(opts.accepted, opts.unsupportedMessage));
				}
				if (!out.write(chunk)) {
					stream.pause();
					out.once("drain", () => stream.resume());
				}
			};
			const onEnd = () => finish();
			// The client's stream broke (aborted body, malformed multipart): their fault, not a 500.
			const onError = (err: unknown) =>
				finish(
					isPayloadTooLarge(err) ? err : new Errors.MoleculerClientError("The upload was interrupted", 400, "UPLOAD_INTERRUPTED"),
				);
			out.once("error", finish);
			stream.off("error", onEarlyError);
			if (earlyError !== undefined) return onError(earlyError);
			stream.on("data", onData).once("end", onEnd).once("error", onError);
			arm();
		});
		await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
		if (size === 0) throw validationError("file", "The file is empty.", "required");
		type ??= sniff(head, opts.accepted);
		if (!type) throw unsupported(opts.accepted, opts.unsupportedMessage);
		const storageKey = `${name}.${type.ext}`;
		const finalPath = path.join(storageDir(area), storageKey);
		await fs.promises.rename(partPath, finalPath);
		return { storageKey, path: finalPath, size, sha256: hash.digest("hex"), type };
	} catch (err) {
		out.destroy();
		await fs.promises.unlink(partPath).catch(() => undefined);
		throw err;
	}
}

type GatewayRequest = IncomingMessage & { $ctx?: { meta: { user?: unknown } } };
interface MultipartAlias {
	multipartHandler(req: GatewayRequest, res: ServerResponse): void;
}

/**
 * moleculer-web alias options for a multipart upload route. Busboy throws on a body that is not
 * multipart (a 500) before the action's own 401 could apply: the handler answers 401/415 first.
 * With `files > 1`, one more file than allowed answers 413 TOO_MANY_FILES.
 */
export function multipartRoute(routePath: string, opts: { maxBytes: number; files?: number; fields?: number }) {
	const files = opts.files ?? 1;
	return {
		method: "POST" as const,
		path: routePath,
		type: "multipart",
		busboyConfig: {
			limits: { files, fileSize: opts.maxBytes + 1, fields: opts.fields ?? 5 },
			onFilesLimit(this: unknown, busboy: { emit(e: string, err: unknown): void }) {
				busboy.emit(
					"error",
					new Errors.MoleculerClientError(`At most ${files} files per request`, 413, "TOO_MANY_FILES", { maxFiles: files }),
				);
			},
		},
		multipartHandler(this: MultipartAlias, req: GatewayRequest, res: ServerResponse) {
			if (!req.$ctx?.meta.user) throw unauthorized();
			if (
				!/^multipart\/form-data\s*;.*\bboundary=("[^"]{1,70}"|[^";\s]{1,70})(\s*;|\s*$)/i.test(
					String(req.headers["content-type"] ?? ""),
				)
			) {
				throw new Errors.MoleculerClientError(
					"Send the file as multipart/form-data with a boundary",
					415,
					"UNSUPPORTED_MEDIA_TYPE",
				);
			}
			// Each file stream gets an error listener the moment busboy makes it: a body cut short fails the stream
			// while the action's call is still on its way, and an 'error' nobody listens to ends the process.
			const pipe = req.pipe;
			req.pipe = function <T extends NodeJS.WritableStream>(this: GatewayRequest, dest: T, options?: { end?: boolean }): T {
				req.pipe = pipe;
				(dest as unknown as EventEmitter).on("file", (_field: string, file: Readable) =>
					file.on("error", (err: unknown) => ((file as FlaggedStream)[EARLY_ERROR] ??= err)),
				);
				return pipe.call(this, dest, options) as T;
			};
			return (Object.getPrototypeOf(this) as MultipartAlias).multipartHandler.call(this, req, res);
		},
	};
}

/** ctx.meta fields moleculer-web sets on a multipart call. */
export interface UploadMeta {
	filename?: string;
	fieldname?: string;
	$params?: Record<string, unknown>;
	$multipart?: Record<string, unknown>;
}

/** The client's file name, reduced to a harmless base name. */
export function safeOriginalName(name: unknown, fallback = "file"): string {
	return (
		path
			.basename(String(name ?? fallback))
			.replace(/[^\w.\- ]/g, "_")
			.slice(0, 200) || fallback
	);
}

/** FILES_DIR/<area>, absolute. */
export const storageDir = (area: string) => path.resolve(config().filesDir, area);

/** Writes `content` under FILES_DIR/<area> with a generated name (never overwriting); returns that name. */
export async function storeFile(area: string, ext: string, content: Buffer): Promise<string> {
	const name = `${randomUUID()}.${ext}`;
	await fs.promises.mkdir(storageDir(area), { recursive: true });
	await fs.promises.writeFile(path.join(storageDir(area), name), content, { flag: "wx", mode: 0o640 });
	return name;
}

/** Removes `.part` files older than `olderThanMs` under FILES_DIR/<area>: uploads cut short by a crash. Returns how many. */
export async function sweepPartials(area: string, olderThanMs = 3600_000): Promise<number> {
	const dir = storageDir(area);
	const names = await fs.promises.readdir(dir).catch(() => [] as string[]);
	let removed = 0;
	for (const name of names.filter((n) => n.endsWith(".part"))) {
		const stat = await fs.promises.stat(path.join(dir, name)).catch(() => undefined);
		if (stat && Date.now() - stat.mtimeMs > olderThanMs) {
			await fs.promises.unlink(path.join(dir, name)).catch(() => undefined);
			removed++;
		}
	}
	return removed;
}

export async function removeStored(area: string, name: string): Promise<void> {
	await fs.promises.unlink(path.join(storageDir(area), path.basename(name))).catch(() => undefined);
}

export const sha256 = (content: Buffer) => createHash("sha256").update(content).digest("hex");

/** `Content-Disposition` with a quoted ASCII name and the RFC 5987 UTF-8 form. */
export function contentDisposition(type: "inline" | "attachment", name: string): string {
	return `${type}; filename="${name.replace(/["\\]/g, "")}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
