/**
 * Images are decoded only within IMAGE_MAX_PIXELS. Every sharp instance of the
 * project is made by `openImage`, which sets sharp's `limitInputPixels` to that
 * value; `checkImageHeader` reads the dimensions from the header (sharp's
 * `metadata()` parses the header, it does not decode pixels) so a
 * decompression bomb (a small PNG declaring 16000×16000) is refused before
 * anything is decoded. Unreadable images are the client's fault: 422, never 500.
 * A node decodes at most IMAGE_DECODE_CONCURRENCY images at once, a user at most IMAGE_DECODES_PER_USER of
 * them (`decodeSlot`).
 */
import sharp, { type Sharp, type SharpOptions } from "sharp";
import { Errors } from "moleculer";
import { config } from "./config";
import { tooManyRequests } from "./errors";

/** A counting semaphore whose freed slot passes to the longest waiter (first come, first served). */
class Slots {
	running = 0;
	readonly waiting: (() => void)[] = [];

	/** Resolves once the caller holds a slot (at once while fewer than `limit` are held). */
	async take(limit: number): Promise<void> {
		if (this.running < limit) this.running++;
		else await new Promise<void>((resolve) => this.waiting.push(resolve));
	}

	/** The slot passes to the next waiter as it is (running unchanged), or is given back. */
	give(): void {
		const next = this.waiting.shift();
		if (next) next();
		else this.running--;
	}
}

/** Per user on this node: their images decoding, and their callers waiting. */
const perUser = new Map<string, Slots>();
/** Every user's decodes on this node together. */
const nodeWide = new Slots();

/**
 * A decoding slot: one of the user's IMAGE_DECODES_PER_USER, then one of the node's IMAGE_DECODE_CONCURRENCY; call
 * the result to release it. When they are taken the caller waits its turn (a batch upload's files decode one after
 * another); with UPLOAD_BATCH_MAX_FILES of the user's callers already waiting, 429 `IMAGE_BUSY` (Retry-After 1).
 * sharp decodes on libuv's worker threads (4 by default), which argon2 (every login) and file I/O share: with four
 * users compressing two images each, logins took 0.4–0.7 s (p50) and 1.5 s (p90) instead of 65 ms (docs/files.md).
 * The node-wide bound keeps a worker free for them; the per-user one keeps one user from taking every decode.
 */
export async function decodeSlot(userId: string): Promise<() => void> {
	const { imageDecodesPerUser, imageDecodeConcurrency, upload } = config();
	let user = perUser.get(userId);
	if (!user) perUser.set(userId, (user = new Slots()));
	const mine = user;
	if (mine.running >= imageDecodesPerUser && mine.waiting.length >= upload.batchMaxFiles)
		throw tooManyRequests(`You have ${mine.running + mine.waiting.length} images being processed; try again shortly`, "IMAGE_BUSY", 1);
	await mine.take(imageDecodesPerUser);
	await nodeWide.take(imageDecodeConcurrency);
	let released = false;
	return () => {
		if (released) return;
		released = true;
		nodeWide.give();
		mine.give();
		if (mine.running === 0 && perUser.get(userId) === mine) perUser.delete(userId);
	};
}

export function imageTooLarge(field: string, size?: { width: number; height: number; pixels: number }): Errors.MoleculerClientError {
	const maxPixels = config().imageMaxPixels;
	const what = size ? ` (${size.width}×${size.height}, ${size.pixels} pixels)` : "";
	return new Errors.MoleculerClientError(
		`The image is too large to process${what}; at most ${maxPixels} pixels`,
		422,
		"IMAGE_TOO_LARGE",
		{ field, ...size, maxPixels },
	);
}

export const imageUnreadable = (field: string) =>
	new Errors.MoleculerClientError("The image could not be read: it is corrupt or truncated", 422, "IMAGE_UNREADABLE", { field });

/** sharp bounded by IMAGE_MAX_PIXELS. */
export function openImage(input: string | Buffer, options: SharpOptions = {}): Sharp {
	return sharp(input, { ...options, limitInputPixels: config().imageMaxPixels });
}

export interface ImageHeader {
	width: number;
	height: number;
	/** Frames of an animated GIF/WebP (1 otherwise): an animation decodes all of them. */
	pages: number;
}

/** The header's dimensions (`field` names the input in the error); 422 IMAGE_TOO_LARGE above IMAGE_MAX_PIXELS, 422 IMAGE_UNREADABLE when there is no valid header. */
export async function checkImageHeader(input: string | Buffer, field: string): Promise<ImageHeader> {
	let meta: sharp.Metadata;
	try {
		// Header only: no pixel limit needed here (and with one, sharp would refuse without telling the size).
		meta = await sharp(input, { limitInputPixels: false }).metadata();
	} catch {
		throw imageUnreadable(field);
	}
	const { width, height } = meta;
	if (!width || !height) throw imageUnreadable(field);
	const pages = Math.max(1, meta.pages ?? 1);
	const pixels = width * height * pages;
	if (pixels > config().imageMaxPixels) throw imageTooLarge(field, { width, height, pixels });
	return { width, height, pages };
}

/**
 * Maps a failure of a sharp pipeline to the client error it is. sharp throws plain Errors and only for
 * its input here (the output goes to memory), so anything but the pixel limit means an unreadable image.
 */
export function imageError(err: unknown, field: string): Errors.MoleculerError {
	if (err instanceof Errors.MoleculerError) return err;
	if (/pixel limit/i.test((err as Error | undefined)?.message ?? "")) return imageTooLarge(field);
	return imageUnreadable(field);
}

/** Widths of the responsive variants made at upload (only those below the image's own width: never upscaled). */
export const RESPONSIVE_WIDTHS = [320, 640, 1280] as const;

export interface ResizedImage {
	data: Buffer;
	mimeType: "image/jpeg" | "image/webp";
	ext: "jpg" | "webp";
	width: number;
	height: number;
	quality: number;
}

const RESPONSIVE_QUALITY = 80;

/**
 * Responsive copies of an image for `srcset`: one per RESPONSIVE_WIDTHS entry narrower than the image, first
 * frame only, auto-rotated. A JPEG stays a progressive JPEG (mozjpeg); other formats (maybe with alpha) become WebP.
 * The caller has checked the header (IMAGE_MAX_PIXELS); a corrupt image throws `IMAGE_UNREADABLE`.
 */
export async function responsiveVariants(file: string, mimeType: string, header: ImageHeader): Promise<ResizedImage[]> {
	// EXIF orientations 5–8 swap the axes: the width a reader sees is the header's height.
	const meta = await sharp(file, { limitInputPixels: false }).metadata();
	const shownWidth = (meta.orientation ?? 1) >= 5 ? header.height : header.width;
	const widths = RESPONSIVE_WIDTHS.filter((w) => w < shownWidth);
	if (!widths.length) return [];
	// The original is decoded once, to the largest width; the smaller ones are resized from those pixels.
	const largest = await openImage(file)
		.rotate()
		.resize({ width: widths[widths.length - 1] })
		.raw()
		.toBuffer({ resolveWithObject: true })
		.catch((err: unknown) => {
			throw imageError(err, "file");
		});
	const raw = { width: largest.info.width, height: largest.info.height, channels: largest.info.channels };
	const jpeg = mimeType === "image/jpeg";
	const out: ResizedImage[] = [];
	for (const width of widths) {
		const img = sharp(largest.data, { raw }).resize({ width });
		const encoded = jpeg
			? img.jpeg({ quality: RESPONSIVE_QUALITY, progressive: true, mozjpeg: true })
			: img.webp({ quality: RESPONSIVE_QUALITY });
		const { data, info } = await encoded.toBuffer({ resolveWithObject: true });
		out.push({
			data,
			mimeType: jpeg ? "image/jpeg" : "image/webp",
			ext: jpeg ? "jpg" : "webp",
			width: info.width,
			height: info.height,
			quality: RESPONSIVE_QUALITY,
		});
	}
	return out;
}

/** Largest data URI `placeholder` returns (the file info carries it inline). */
export const PLACEHOLDER_MAX_CHARS = 1023;

/** A tiny blurred WebP of the image as a `data:` URI (< 1 KB), for progressive loading; a client stretches it until the real image arrives. */
export async function placeholder(file: string): Promise<string> {
	for (const size of [16, 10, 6]) {
		const data = await openImage(file)
			.rotate()
			.resize({ width: size, height: size, fit: "inside" })
			.blur(0.6)
			.webp({ quality: 30, effort: 6 })
			.toBuffer()
			.catch((err: unknown) => {
				throw imageError(err, "file");
			});
		const uri = `data:image/webp;base64,${data.toString("base64")}`;
		if (uri.length <= PLACEHOLDER_MAX_CHARS) return uri;
	}
	throw imageUnreadable("file");
}
