/**
 * communications.attachments: chat files. `POST /upload/chat-attachments` takes one
 * multipart file (moleculer-web busboy) for a conversation the caller takes part
 * in (`conversationId` as query parameter or a form field before the file); the
 * type is decided by the content's magic bytes (415 otherwise), the size is
 * capped (413) and counted against the uploader's UPLOAD_QUOTA_BYTES (413
 * QUOTA_EXCEEDED), images within IMAGE_MAX_PIXELS (422). The file is streamed
 * to disk, never held whole in memory. Files are stored under FILES_DIR/chat with generated names and
 * served only to the conversation's participants.
 */
import fs from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import type { ServiceSettingSchema } from "moleculer";
import { DbMixin } from "../../mixins/db.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { respondCreated } from "../../lib/actions";
import { config } from "../../lib/config";
import { notFound, validationError } from "../../lib/errors";
import { checkImageHeader } from "../../lib/images";
import { quotaExceeded, reserveStorage, storageUsed } from "../../lib/quota";
import {
	multipartRoute,
	receiveFile,
	removeStored,
	safeOriginalName,
	sniff as sniffAny,
	storageDir,
	sweepPartials,
	tooLarge,
	type UploadMeta,
} from "../../lib/uploads";
import { defineCommunicationsModels, type Attachment } from "./communications.model";
import * as P from "./communications.params";
import { COMMS_SCHEMA, toAttachmentView, type CommsThis } from "./shared";
import { defineService, type ServiceDefinition } from "../../lib/service";
import type { Ctx } from "../../lib/types";

export const MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024;

/** Chat accepts images and PDF (lib/uploads recognises them by their first bytes). */
const ACCEPTED = ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"] as const;

export function sniff(head: Buffer) {
	const type = sniffAny(head, ACCEPTED);
	return type && { ...type, kind: type.kind === "IMAGE" ? ("IMAGE" as const) : ("FILE" as const) };
}

const AREA = "chat";
const chatDir = () => storageDir(AREA);
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

const schema: ServiceDefinition<ServiceSettingSchema, CommsThis> = {
	name: "communications.attachments",
	mixins: [DbMixin({ schema: COMMS_SCHEMA, models: defineCommunicationsModels }), AuditMixin],
	settings: { rest: "/communications" },

	actions: {
		upload: {
			rest: multipartRoute("/upload/chat-attachments", { maxBytes: MAX_ATTACHMENT_BYTES }),
			audit: true,
			summary:
				"Upload one chat file (multipart, field `file`; `conversationId` as query parameter); 413 too large or past the storage quota (QUOTA_EXCEEDED), 415 wrong type, 422 unreadable image or one above IMAGE_MAX_PIXELS",
			async handler(ctx: Ctx<Readable>) {
				const meta = ctx.meta as typeof ctx.meta & UploadMeta;
				const conversationId = meta.$params?.conversationId ?? meta.$multipart?.conversationId;
				const me = ctx.meta.user!.id;
				if (typeof conversationId !== "string" || !UUID_RE.test(conversationId)) {
					ctx.params.resume();
					throw validationError("conversationId", "The 'conversationId' field must be a valid UUID.", "uuid");
				}
				if ((await this.models.Participant.count({ where: { conversationId, userId: me } })) === 0) {
					ctx.params.resume();
					throw notFound("Conversation", conversationId);
				}
				const used = await storageUsed(this.db, COMMS_SCHEMA, me);
				const remaining = Math.max(0, config().upload.quotaBytes - used);
				const file = await receiveFile(ctx.params, AREA, {
					maxBytes: Math.min(MAX_ATTACHMENT_BYTES, remaining),
					overLimit: () =>
						remaining < MAX_ATTACHMENT_BYTES
							? quotaExceeded(used, remaining + 1)
							: tooLarge(MAX_ATTACHMENT_BYTES, "Attachment"),
					accepted: ACCEPTED,
					unsupportedMessage: "Unsupported attachment type (PNG, JPEG, GIF, WEBP or PDF)",
				});
				const kind = file.type.kind === "IMAGE" ? ("IMAGE" as const) : ("FILE" as const);
				const originalName = safeOriginalName(meta.filename);
				let row: Attachment;
				try {
					// Participants' clients decode it: no decompression bombs in chat either.
					if (kind === "IMAGE") await checkImageHeader(file.path, "file");
					row = await this.transaction(async (transaction) => {
						await reserveStorage(this.db, COMMS_SCHEMA, me, file.size, transaction);
						return this.models.Attachment.create(
							{
								conversationId,
								uploaderId: me,
								storageName: file.storageKey,
								originalName,
								mimeType: file.type.mime,
								size: file.size,
							},
							{ transaction },
						);
					});
				} catch (err) {
					await removeStored(AREA, file.storageKey);
					throw err;
				}
				respondCreated(ctx, `/api/v1/communications/chat/attachments/${row.id}`);
				return { ...toAttachmentView(row), conversationId, messageType: kind };
			},
		},

		download: {
			rest: "GET /chat/attachments/:id",
			summary: "Download a chat attachment (participants of its conversation only)",
			params: P.attachmentIdParams,
			async handler(ctx: Ctx<P.AttachmentIdParams>) {
				const row = await this.models.Attachment.findByPk(ctx.params.id);
				const allowed =
					row &&
					(await this.models.Participant.count({ where: { conversationId: row.conversationId, userId: ctx.meta.user!.id } })) > 0;
				if (!row || !allowed) throw notFound("Attachment", ctx.params.id);
				ctx.meta.$responseType = row.mimeType;
				ctx.meta.$responseHeaders = {
					"Content-Disposition": `attachment; filename="${row.originalName.replace(/"/g, "")}"`,
					"Content-Length": String(row.size),
					"X-Content-Type-Options": "nosniff",
					"Cache-Control": "private, max-age=3600",
				};
				return fs.createReadStream(path.join(chatDir(), row.storageName));
			},
		},
	},

	/** Uploads cut short by a crash leave `.part` files (an upload in flight is younger than an hour). */
	async started() {
		const removed = await sweepPartials(AREA);
		if (removed) this.logger.info(`Removed ${removed} partial chat upload(s) left by an earlier crash`);
	},
};

export default defineService(schema);
