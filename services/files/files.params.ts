/** fastest-validator schemas of the files services and the param types derived from them. */
import { STRICT, uuid, type Infer } from "../../lib/params";
import { pageParams } from "../../lib/pagination";

export const fileIdParams = { ...STRICT, fileId: uuid } as const;
export type FileIdParams = Infer<typeof fileIdParams>;

export const contentParams = {
	...STRICT,
	fileId: uuid,
	variant: { ...uuid, optional: true },
	/** A signed URL's expiry (unix seconds) and HMAC: the bytes without a bearer token (services/files/signed.ts). */
	exp: { type: "number", integer: true, positive: true, convert: true, optional: true },
	sig: { type: "string", max: 43, pattern: /^[\w-]{43}$/, optional: true },
} as const;
export type ContentParams = Infer<typeof contentParams>;

export const userFilesParams = { ...STRICT, userId: uuid, ...pageParams(["createdAt", "size", "originalName"] as const) } as const;
export type UserFilesParams = Infer<typeof userFilesParams>;

export const compressParams = {
	...STRICT,
	fileId: uuid,
	/** Encoder quality 1–100 (JPEG/WebP quality, PNG palette quality). */
	quality: { type: "number", integer: true, min: 1, max: 100, default: 75 },
	/** Resize down (never up) to at most this width, keeping the aspect ratio. */
	maxWidth: { type: "number", integer: true, min: 16, max: 8192, optional: true },
	/** Videos only: x264 constant rate factor (0 lossless … 51 worst; default 23). */
	crf: { type: "number", integer: true, min: 0, max: 51, optional: true },
} as const;
export type CompressParams = Infer<typeof compressParams>;

export const jobIdParams = { ...STRICT, jobId: uuid } as const;
export type JobIdParams = Infer<typeof jobIdParams>;
