/**
 * Images are decoded only within IMAGE_MAX_PIXELS. Every sharp instance of the
 * project is made by `openImage`, which sets sharp's `limitInputPixels` to that
 * value; `checkImageHeader` reads the dimensions from the header (sharp's
 * `metadata()` parses the header, it does not decode pixels) so a
 * decompression bomb (a small PNG declaring 16000×16000) is refused before
 * anything is decoded. Unreadable images are the client's fault: 422, never 500.
 */
import sharp, { type Sharp, type SharpOptions } from "sharp";
import { Errors } from "moleculer";
import { config } from "./config";

export function imageTooLarge(field: string, size?: { width: number; height: number; pixels: number }): Errors.MoleculerClientError {
	const maxPixels = config().imageMaxPixels;
	const what = size ? ` (${size.width}×${size.height}, ${size.pixels} pixels)` : "";
	return new Errors.MoleculerClientError(`The image is too large to process${what}; at most ${maxPixels} pixels`, 422, "IMAGE_TOO_LARGE", { field, ...size, maxPixels });
}

export const imageUnreadable = (field: string) => new Errors.MoleculerClientError("The image could not be read: it is corrupt or truncated", 422, "IMAGE_UNREADABLE", { field });

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
