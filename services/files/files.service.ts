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
import { forbidden } from "../../lib/errors";
import { findOptions, toPage } from "../../lib/pagination";
import { contentDisposition, multipartRoute, removeStored, storageDir, sweepPartials, type UploadMeta } from "../../lib/uploads";
import { defineFilesModels } from "./files.model";
import * as P from "./files.params";
import { releaseStorage } from "../../lib/quota";
import { AREA, FILES_SCHEMA, STAFF_ROLES, findManageable, findVisible, storeUpload, storedBytes, toFileDetail, toFileView, type FilesThis } from "./files";
import { defineService, type ServiceDefinition } from "../../lib/service";
import type { Ctx } from "../../lib/types";

export default function filesService(): ServiceSchema {
	const { maxBytes, batchMaxFiles } = config().upload;

	const schema: ServiceDefinition<ServiceSettingSchema, FilesThis> = {
		name: "files",
		mixins: [DbMixin({ schema: FILES_SCHEMA, models: defineFilesModels, primary: "StoredFile" }), AuditMixin],
		settings: { rest: "/files" },

		actions: {
			upload: {
				rest: multipartRoute("/upload", { maxBytes }),
				audit: true,
				summary: `Upload one file (multipart/form-data, one file part). JPEG, PNG, WebP, GIF, PDF, MP4 or WebM by content; 413 above ${maxBytes} bytes or past the storage quota (QUOTA_EXCEEDED), 415 other types, 422 for an image that is unreadable or above IMAGE_MAX_PIXELS`,
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
				summary: `Upload up to ${batchMaxFiles} files in one multipart body. Per-file results in upload order: { name, status: 201, file } or { name, status: 413|415|422, error }; 200 when all were stored, 207 when some were not; more files than allowed: 413 TOO_MANY_FILES`,
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
				params: P.userFilesParams,
				cache: false,
				retryPolicy: RETRY_READS,
				summary: "A user's files (the caller's own; any user's for EXECUTIVE and ADMIN), paginated; sort by createdAt, size, originalName",
				async handler(ctx: Ctx<P.UserFilesParams>) {
					const user = ctx.meta.user!;
					if (ctx.params.userId !== user.id && !STAFF_ROLES.includes(user.role)) throw forbidden("You may only list your own files");
					const { rows, count } = await this.models.StoredFile.findAndCountAll({ where: { ownerId: ctx.params.userId }, ...findOptions(ctx.params, "-createdAt") });
					return toPage(rows.map(toFileDetail), count, ctx.params);
				},
			},

			get: {
				rest: "GET /files/:fileId",
				params: P.fileIdParams,
				retryPolicy: RETRY_READS,
				summary: "File info with its sha256 and compressed variants (owner, EXECUTIVE or ADMIN; 404 otherwise)",
				async handler(ctx: Ctx<P.FileIdParams>) {
					return toFileDetail(await findVisible(this, ctx, ctx.params.fileId));
				},
			},

			content: {
				rest: "GET /files/:fileId/content",
				params: P.contentParams,
				summary:
					"Download the bytes (addition to the spec; `?variant=<id>` for a compressed variant). Content-Type from the sniffed type, X-Content-Type-Options: nosniff, inline for images and attachment otherwise",
				async handler(ctx: Ctx<P.ContentParams>) {
					const row = await findVisible(this, ctx, ctx.params.fileId);
					const variant = ctx.params.variant ? row.variants.find((v) => v.id === ctx.params.variant) : undefined;
					if (ctx.params.variant && !variant) throw new Errors.MoleculerClientError("Variant not found", 404, "NOT_FOUND", { entity: "Variant", id: ctx.params.variant });
					const mimeType = variant?.mimeType ?? row.mimeType;
					const stream = fs.createReadStream(path.join(storageDir(AREA), variant?.storageKey ?? row.storageKey));
					ctx.meta.$responseType = mimeType;
					ctx.meta.$responseHeaders = {
						"Content-Disposition": contentDisposition(mimeType.startsWith("image/") ? "inline" : "attachment", row.originalName),
						"Content-Length": String(variant?.size ?? row.size),
						"X-Content-Type-Options": "nosniff",
						"Cache-Control": "private, max-age=3600",
					};
					return stream;
				},
			},

			remove: {
				rest: "DELETE /files/:fileId",
				params: P.fileIdParams,
				audit: true,
				status: 204,
				summary: "Delete a file and its variants (owner or ADMIN; 403 for EXECUTIVE on others' files, 404 if not visible): soft-deletes the row, removes the bytes",
				async handler(ctx: Ctx<P.FileIdParams>) {
					const row = await findManageable(this, ctx, ctx.params.fileId);
					await this.transaction(async (transaction) => {
						// Paranoid: only the delete that actually marks the row gives its bytes back (no double release).
						if ((await this.models.StoredFile.destroy({ where: { id: row.id }, transaction })) === 1) {
							await releaseStorage(this.db, FILES_SCHEMA, row.ownerId, storedBytes(row), transaction);
						}
					});
					await Promise.all([row.storageKey, ...row.variants.map((v) => v.storageKey)].map((key) => removeStored(AREA, key)));
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
