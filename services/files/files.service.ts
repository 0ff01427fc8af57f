/**
 * files: uploads of any signed-in user (one file or a batch, multipart via moleculer-web
 * busboy), typed by magic bytes (JPEG, PNG, WebP, GIF, PDF, MP4, WebM; 415 otherwise),
 * streamed to disk, capped at UPLOAD_MAX_BYTES (413) and the owner's UPLOAD_QUOTA_BYTES
 * (413 QUOTA_EXCEEDED), images within IMAGE_MAX_PIXELS (422), stored under FILES_DIR/files
 * with generated names and their sha256. Owners and staff (EXECUTIVE, ADMIN) see a file; owners and ADMIN delete it.
 * A file the caller may not see answers 404; one they may see but not change answers 403.
 */
import fs from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import type { ServiceSchema, ServiceSettingSchema } from "moleculer";
import { Errors } from "moleculer";
import { DbMixin } from "../../mixins/db.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { RETRY_READS, respondCreated, respondNoContent } from "../../lib/actions";
import { config } from "../../lib/config";
import { forbidden, notFound, unauthorized, validationError } from "../../lib/errors";
import { findOptions, toPage } from "../../lib/pagination";
import { contentDisposition, multipartRoute, removeStored, storageDir, sweepPartials, type UploadMeta } from "../../lib/uploads";
import { defineFilesModels, type StoredFile } from "./files.model";
import { byteRange, etagMatches } from "./download";
import { signedExpiry, signUrl, verifySigned } from "./signed";
import * as P from "./files.params";
import { releaseStorage } from "../../lib/quota";
import {
	AREA,
	FILES_SCHEMA,
	FileDetailSchema,
	STAFF_ROLES,
	contentUrl,
	findManageable,
	findVisible,
	storeUpload,
	storedBytes,
	toFileDetail,
	toFileView,
	toVariantView,
	variantUrl,
	type FilesThis,
} from "./files";
import { defineService, type ServiceDefinition } from "../../lib/service";
import { r } from "../../lib/response";
import type { Ctx } from "../../lib/types";

export default function filesService(): ServiceSchema {
	const { maxBytes, batchMaxFiles } = config().upload;

	const schema: ServiceDefinition<ServiceSettingSchema, FilesThis> = {
		name: "files",
		mixins: [DbMixin({ schema: FILES_SCHEMA, models: defineFilesModels }), AuditMixin],
		settings: { rest: "/files" },

		actions: {
			upload: {
				rest: multipartRoute("/upload", { maxBytes }),
				audit: true,
				summary: `Upload one file (multipart/form-data, one file part). JPEG, PNG, WebP, GIF, PDF, MP4 or WebM by content; an image gets responsive variants (320/640/1280 wide, never upscaled) and a blurred placeholder; 413 above ${maxBytes} bytes or past the storage quota (QUOTA_EXCEEDED), 415 other types, 422 for an image that is unreadable or above IMAGE_MAX_PIXELS, 429 IMAGE_BUSY when the caller already has IMAGE_DECODES_PER_USER images processing and UPLOAD_BATCH_MAX_FILES more waiting`,
				status: 201,
				async handler(ctx: Ctx<Readable>) {
					const meta = ctx.meta as typeof ctx.meta & UploadMeta;
					const row = await storeUpload(this, ctx.params, ctx.meta.user!.id, meta.filename, maxBytes);
					respondCreated(ctx, `/api/v1/files/files/${row.id}`);
					return toFileView(row);
				},
			},

			uploadBatch: {
				rest: multipartRoute("/upload/batch", { maxBytes, files: batchMaxFiles }),
				audit: true,
				summary: `Upload up to ${batchMaxFiles} files in one multipart body. Per-file results in upload order: { name, status: 201, file } or { name, status: 413|415|422|429, error } (an image waits for the caller's IMAGE_DECODES_PER_USER decoding slots); 200 when all were stored, 207 when some were not; more files than allowed: 413 TOO_MANY_FILES`,
				// 207 is set by the handler when a file failed; undeclared, the document guessed 201 for this POST.
				status: [200, 207],
				async handler(ctx: Ctx<Readable>) {
					const meta = ctx.meta as typeof ctx.meta & UploadMeta;
					try {
						const row = await storeUpload(this, ctx.params, ctx.meta.user!.id, meta.filename, maxBytes);
						return { name: row.originalName, status: 201, file: toFileView(row) };
					} catch (err) {
						if (!(err instanceof Errors.MoleculerClientError)) throw err;
						ctx.params.resume();
						// Only failures set the status: a success never overwrites another file's 207.
						(ctx.meta as { $statusCode?: number }).$statusCode = 207;
						return { name: String(meta.filename ?? "file"), status: err.code, error: { code: err.type, message: err.message } };
					}
				},
			},

			// Declared before `get` so /files/user/:userId is not taken for a file id.
			listByUser: {
				rest: "GET /files/user/:userId",
				response: r.page(FileDetailSchema),
				params: P.userFilesParams,
				cache: false,
				retryPolicy: RETRY_READS,
				summary:
					"A user's files (the caller's own; any user's for EXECUTIVE and ADMIN), paginated; sort by createdAt, size, originalName",
				async handler(ctx: Ctx<P.UserFilesParams>) {
					const user = ctx.meta.user!;
					if (ctx.params.userId !== user.id && !STAFF_ROLES.includes(user.role))
						throw forbidden("You may only list your own files");
					const { rows, count } = await this.models.StoredFile.findAndCountAll({
						where: { ownerId: ctx.params.userId },
						...findOptions(ctx.params, "-createdAt"),
					});
					return toPage(rows.map(toFileDetail), count, ctx.params);
				},
			},

			get: {
				rest: "GET /files/:fileId",
				response: FileDetailSchema,
				params: P.fileIdParams,
				retryPolicy: RETRY_READS,
				summary:
					"File info with its sha256, variants (compressed, responsive, video, poster) and an image's blurred placeholder data URI (owner, EXECUTIVE or ADMIN; 404 otherwise)",
				async handler(ctx: Ctx<P.FileIdParams>) {
					return toFileDetail(await findVisible(this, ctx, ctx.params.fileId));
				},
			},

			content: {
				rest: "GET /files/:fileId/content",
				params: P.contentParams,
				// Anonymous only with a valid signed link (exp + sig); the handler checks.
				auth: "public",
				summary:
					"Download the bytes (addition to the spec; `?variant=<id>` for a variant). With a bearer token: the owner, EXECUTIVE or ADMIN. Without one: a signed link (`exp`, `sig` from GET /files/:fileId/urls; 403 INVALID_SIGNATURE or URL_EXPIRED) answered with `Cache-Control: public, max-age, immutable` for a CDN. ETag + If-None-Match → 304; Range → 206 (416 beyond the end). X-Content-Type-Options: nosniff, inline for images and attachment otherwise",
				async handler(ctx: Ctx<P.ContentParams>) {
					const { fileId, variant: variantId, exp, sig } = ctx.params;
					let row: StoredFile;
					let cacheControl: string;
					const headers: Record<string, string> = {};
					if (exp !== undefined || sig !== undefined) {
						if (exp === undefined || sig === undefined)
							throw validationError(exp === undefined ? "exp" : "sig", "A signed link needs both exp and sig", "required");
						const left = verifySigned(fileId, variantId, exp, sig);
						const found = await this.models.StoredFile.findByPk(fileId);
						if (!found) throw notFound("File", fileId);
						row = found;
						// The bytes behind a file or variant id never change: a cache may keep them until the link expires.
						cacheControl = `public, max-age=${left}, immutable`;
						// A CDN usually serves from another site: pages may embed what the link opens (the gateway's default is same-site).
						headers["Cross-Origin-Resource-Policy"] = "cross-origin";
					} else {
						if (!ctx.meta.user) throw unauthorized();
						row = await findVisible(this, ctx, fileId);
						cacheControl = "private, max-age=3600";
					}
					const variant = variantId ? row.variants.find((v) => v.id === variantId) : undefined;
					if (variantId && !variant) throw notFound("Variant", variantId);
					const mimeType = variant?.mimeType ?? row.mimeType;
					const size = variant?.size ?? row.size;
					const etag = `"${variant?.id ?? row.sha256}"`;
					const request = ctx.meta.download ?? {};
					Object.assign(headers, { ETag: etag, "Cache-Control": cacheControl });
					if (etagMatches(request.ifNoneMatch, etag)) {
						ctx.meta.$statusCode = 304;
						ctx.meta.$responseHeaders = headers;
						return null;
					}
					const range = byteRange(request.range, request.ifRange, etag, size);
					Object.assign(headers, {
						"Content-Disposition": contentDisposition(
							mimeType.startsWith("image/") ? "inline" : "attachment",
							row.originalName,
						),
						"Content-Length": String(range ? range.end - range.start + 1 : size),
						"Accept-Ranges": "bytes",
						"X-Content-Type-Options": "nosniff",
					});
					if (range) {
						ctx.meta.$statusCode = 206;
						headers["Content-Range"] = `bytes ${range.start}-${range.end}/${size}`;
					}
					ctx.meta.$responseType = mimeType;
					ctx.meta.$responseHeaders = headers;
					return fs.createReadStream(path.join(storageDir(AREA), variant?.storageKey ?? row.storageKey), range);
				},
			},

			urls: {
				rest: "GET /files/:fileId/urls",
				params: P.fileIdParams,
				retryPolicy: RETRY_READS,
				summary:
					"Signed, expiring download links of a file and each of its variants (owner, EXECUTIVE or ADMIN; 404 otherwise): `?exp=&sig=` open the bytes without a bearer token, cacheable by a CDN until `expiresAt` (FILES_URL_TTL_SEC … twice that)",
				async handler(ctx: Ctx<P.FileIdParams>) {
					const row = await findVisible(this, ctx, ctx.params.fileId);
					const exp = signedExpiry();
					return {
						fileId: row.id,
						expiresAt: new Date(exp * 1000).toISOString(),
						placeholder: row.placeholder ?? null,
						original: { mimeType: row.mimeType, size: row.size, url: signUrl(contentUrl(row.id), row.id, undefined, exp) },
						variants: row.variants.map((v) => ({
							...toVariantView(row.id, v),
							url: signUrl(variantUrl(row.id, v.id), row.id, v.id, exp),
						})),
					};
				},
			},

			remove: {
				rest: "DELETE /files/:fileId",
				params: P.fileIdParams,
				audit: true,
				status: 204,
				summary:
					"Delete a file and its variants (owner or ADMIN; 403 for EXECUTIVE on others' files, 404 if not visible): soft-deletes the row, removes the bytes",
				async handler(ctx: Ctx<P.FileIdParams>) {
					const found = await findManageable(this, ctx, ctx.params.fileId);
					const removed = await this.transaction(async (transaction) => {
						// Re-read under the row lock compressions and transcodes take to add a variant: the bytes given back and
						// the files removed are the row's as it is deleted, variants added meanwhile included. Only the delete
						// that actually marks the row gives its bytes back (paranoid; no double release).
						const row = await this.models.StoredFile.findByPk(found.id, { lock: transaction.LOCK.UPDATE, transaction });
						if (!row || (await this.models.StoredFile.destroy({ where: { id: row.id }, transaction })) !== 1) return null;
						await releaseStorage(this.db, FILES_SCHEMA, row.ownerId, storedBytes(row), transaction);
						return row;
					});
					if (removed)
						await Promise.all(
							[removed.storageKey, ...removed.variants.map((v) => v.storageKey)].map((key) => removeStored(AREA, key)),
						);
					return respondNoContent(ctx);
				},
			},
		},

		/** Uploads cut short by a crash leave `.part` files (an upload in flight is younger than an hour). */
		async started() {
			const removed = await sweepPartials(AREA);
			if (removed) this.logger.info(`Removed ${removed} partial upload(s) left by an earlier crash`);
		},
	};
	return defineService(schema);
}
