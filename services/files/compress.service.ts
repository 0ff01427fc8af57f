/**
 * files.compress: `POST /files/compress { fileId, quality?, maxWidth?, crf? }`.
 * - An image: a compressed copy with sharp (same format; resized down to maxWidth if given), stored next to the
 *   original and recorded in the file's `variants` (201). Above IMAGE_MAX_PIXELS 422 IMAGE_TOO_LARGE (read from
 *   its header, before decoding), an unreadable one 422 IMAGE_UNREADABLE; the variant counts against the owner's
 *   UPLOAD_QUOTA_BYTES (413 QUOTA_EXCEEDED).
 * - An MP4 or WebM video: a transcode job is queued (202 `{ jobId }`), run by files.jobs with ffmpeg. Bounded before
 *   it is queued: longer than VIDEO_MAX_SECONDS 422 VIDEO_TOO_LONG, frames above VIDEO_MAX_PIXELS 422 VIDEO_TOO_LARGE
 *   (what the container's header says; the transcode also stops at VIDEO_MAX_SECONDS whatever it said), and at most
 *   TRANSCODE_JOBS_PER_USER jobs queued or running per requester (429 TRANSCODE_LIMIT): one user cannot fill the queue.
 * - Anything else (PDF): 415.
 */
import path from "node:path";
import { randomUUID } from "node:crypto";
import { Errors, type ServiceSettingSchema } from "moleculer";
import { DbMixin } from "../../mixins/db.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { respondCreated } from "../../lib/actions";
import { notFound, tooManyRequests, validationError } from "../../lib/errors";
import { config } from "../../lib/config";
import { INTERNAL_EVENTS } from "../../lib/events";
import { checkImageHeader, decodeSlot, imageError, openImage } from "../../lib/images";
import { reserveStorage } from "../../lib/quota";
import { removeStored, storageDir, storeFile, unsupported } from "../../lib/uploads";
import { defineFilesModels, type FileVariant } from "./files.model";
import * as P from "./files.params";
import { AREA, FILES_SCHEMA, findManageable, toVariantView, type FilesThis } from "./files";
import { defineService, type ServiceDefinition } from "../../lib/service";
import type { Ctx } from "../../lib/types";
import { probeVideo } from "./video";

const IMAGE_TYPES = ["image/jpeg", "image/png", "image/webp", "image/gif"];
const VIDEO_TYPES = ["video/mp4", "video/webm"];
/** x264's own default CRF: visually close to the source at a fraction of the size. */
const DEFAULT_CRF = 23;

/** When a job slot is likely free again: a short video's transcode takes about this long. */
const TRANSCODE_RETRY_AFTER_SEC = 30;

/** 422 when the video's header states more than a transcode takes; an unreadable one is queued (its job fails with ffmpeg's reason). */
async function checkVideo(file: string): Promise<void> {
	const { videoMaxSeconds, videoMaxPixels } = config().media;
	const facts = await probeVideo(file);
	if (!facts) return;
	if (facts.durationSec !== null && facts.durationSec > videoMaxSeconds)
		throw new Errors.MoleculerClientError(
			`The video is too long to transcode (${Math.round(facts.durationSec)} s); at most ${videoMaxSeconds} s`,
			422,
			"VIDEO_TOO_LONG",
			{ field: "fileId", durationSec: facts.durationSec, maxSeconds: videoMaxSeconds },
		);
	if (facts.width * facts.height > videoMaxPixels)
		throw new Errors.MoleculerClientError(
			`The video's frames are too large to transcode (${facts.width}x${facts.height}); at most ${videoMaxPixels} pixels`,
			422,
			"VIDEO_TOO_LARGE",
			{ field: "fileId", width: facts.width, height: facts.height, maxPixels: videoMaxPixels },
		);
}

/**
 * Re-encodes the image at `file` in its own format at `quality`, at most `maxWidth` wide. The header's size
 * is checked first (a decompression bomb is refused before decoding) and sharp is bounded by IMAGE_MAX_PIXELS.
 */
async function compressImage(file: string, mimeType: string, quality: number, maxWidth?: number) {
	await checkImageHeader(file, "fileId");
	let img = openImage(file, { animated: mimeType === "image/gif" || mimeType === "image/webp" }).rotate();
	if (maxWidth) img = img.resize({ width: maxWidth, withoutEnlargement: true });
	if (mimeType === "image/jpeg") img = img.jpeg({ quality, mozjpeg: true });
	else if (mimeType === "image/png") img = img.png({ quality, palette: true, compressionLevel: 9, effort: 7 });
	else if (mimeType === "image/webp") img = img.webp({ quality });
	else img = img.gif({ effort: 7 });
	const { data, info } = await img.toBuffer({ resolveWithObject: true }).catch((err: unknown) => {
		throw imageError(err, "fileId");
	});
	return { data, width: info.width, height: info.pageHeight ?? info.height };
}

const schema: ServiceDefinition<ServiceSettingSchema, FilesThis> = {
	name: "files.compress",
	mixins: [DbMixin({ schema: FILES_SCHEMA, models: defineFilesModels }), AuditMixin],
	settings: { rest: "/files" },

	actions: {
		compress: {
			rest: "POST /files/compress",
			params: P.compressParams,
			audit: true,
			status: [201, 202],
			summary:
				"Compress (owner or ADMIN). An image: 201, a re-encoded copy in the same format at `quality` (1–100, default 75), resized down to `maxWidth`, recorded in the file's variants; 422 IMAGE_TOO_LARGE above IMAGE_MAX_PIXELS, 422 IMAGE_UNREADABLE for a corrupt image; 429 IMAGE_BUSY when the caller already has IMAGE_DECODES_PER_USER images processing and UPLOAD_BATCH_MAX_FILES more waiting; 413 QUOTA_EXCEEDED when the variant does not fit the owner's quota. An MP4/WebM video: 202 `{ jobId }`, a transcode job to H.264/AAC MP4 at `maxWidth` and `crf` (0–51, default 23) plus a JPEG poster, followed with GET /files/jobs/:jobId and the FILE_JOB_FINISHED socket event; 422 VIDEO_TOO_LONG above VIDEO_MAX_SECONDS, 422 VIDEO_TOO_LARGE above VIDEO_MAX_PIXELS, 429 TRANSCODE_LIMIT with TRANSCODE_JOBS_PER_USER jobs already queued or running. PDFs: 415",
			async handler(ctx: Ctx<P.CompressParams>) {
				const row = await findManageable(this, ctx, ctx.params.fileId);
				if (VIDEO_TYPES.includes(row.mimeType)) {
					await checkVideo(path.join(storageDir(AREA), row.storageKey));
					const requestedBy = ctx.meta.user!.id;
					const perUser = config().media.transcodeJobsPerUser;
					const job = await this.transaction(async (transaction) => {
						// One requester's count and insert at a time (any files node): concurrent requests cannot both take the last slot.
						await this.db.query("SELECT pg_advisory_xact_lock(hashtext('files.transcode:' || :requestedBy))", {
							replacements: { requestedBy },
							transaction,
						});
						const open = await this.models.TranscodeJob.count({
							where: { requestedBy, status: ["QUEUED", "RUNNING"] },
							transaction,
						});
						if (open >= perUser)
							throw tooManyRequests(
								`You have ${open} video jobs queued or running; at most ${perUser} at once`,
								"TRANSCODE_LIMIT",
								TRANSCODE_RETRY_AFTER_SEC,
							);
						return this.models.TranscodeJob.create(
							{
								fileId: row.id,
								ownerId: row.ownerId,
								requestedBy,
								maxWidth: ctx.params.maxWidth ?? null,
								crf: ctx.params.crf ?? DEFAULT_CRF,
							},
							{ transaction },
						);
					});
					await ctx.broadcast(INTERNAL_EVENTS.transcodeQueued, {});
					const url = `/api/v1/files/jobs/${job.id}`;
					ctx.meta.$statusCode = 202;
					ctx.meta.$responseHeaders = { ...ctx.meta.$responseHeaders, Location: url };
					return { jobId: job.id, status: job.status, url };
				}
				const accepted = [...IMAGE_TYPES, ...VIDEO_TYPES];
				if (!IMAGE_TYPES.includes(row.mimeType))
					throw unsupported(
						accepted,
						`Only images (JPEG, PNG, WebP, GIF) and videos (MP4, WebM) can be compressed, not ${row.mimeType}`,
					);
				if (ctx.params.crf !== undefined)
					throw validationError("crf", "crf applies to videos only; images take quality", "forbidden");
				// The requester's slot (an ADMIN compressing someone's file spends their own).
				const release = await decodeSlot(ctx.meta.user!.id);
				const out = await compressImage(
					path.join(storageDir(AREA), row.storageKey),
					row.mimeType,
					ctx.params.quality,
					ctx.params.maxWidth,
				).finally(release);
				const storageKey = await storeFile(AREA, path.extname(row.storageKey).slice(1), out.data);
				const variant: FileVariant = {
					id: randomUUID(),
					storageKey,
					mimeType: row.mimeType,
					size: out.data.length,
					width: out.width,
					height: out.height,
					kind: "COMPRESSED",
					quality: ctx.params.quality,
					createdAt: new Date().toISOString(),
				};
				try {
					await this.transaction(async (transaction) => {
						const fresh = await this.models.StoredFile.findByPk(row.id, { transaction, lock: transaction.LOCK.UPDATE });
						if (!fresh) throw notFound("File", row.id);
						await reserveStorage(this.db, FILES_SCHEMA, fresh.ownerId, variant.size, transaction);
						await fresh.update({ variants: [...fresh.variants, variant] }, { transaction });
					});
				} catch (err) {
					await removeStored(AREA, storageKey);
					throw err;
				}
				const view = toVariantView(row.id, variant);
				respondCreated(ctx, view.url);
				return { fileId: row.id, originalSize: row.size, ...view };
			},
		},
	},
};

export default defineService(schema);
