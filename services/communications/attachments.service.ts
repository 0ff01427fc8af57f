/**
 * communications.attachments: chat files. `POST /upload/chat-attachments` takes one
 * multipart file (moleculer-web busboy) for a conversation the caller takes part
 * in (`conversationId` as query parameter or a form field before the file); the
 * type is decided by the content's magic bytes (415 otherwise), the size is
 * capped (413). Files are stored under FILES_DIR/chat with generated names and
 * served only to the conversation's participants.
 */
import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import type { ServiceSchema, ServiceSettingSchema } from "moleculer";
import { Errors } from "moleculer";
import { DbMixin } from "../../mixins/db.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { respondCreated } from "../../lib/actions";
import { config } from "../../lib/config";
import { notFound, unauthorized, validationError } from "../../lib/errors";
import { defineCommunicationsModels } from "./communications.model";
import * as P from "./communications.params";
import { COMMS_SCHEMA, toAttachmentView, type CommsThis, type Ctx } from "./shared";

export const MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024;

/** Accepted content, recognised by its first bytes (never by the client's name or Content-Type). */
const SIGNATURES: { mime: string; ext: string; kind: "IMAGE" | "FILE"; test: (b: Buffer) => boolean }[] = [
	{ mime: "image/png", ext: "png", kind: "IMAGE", test: (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) },
	{ mime: "image/jpeg", ext: "jpg", kind: "IMAGE", test: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
	{ mime: "image/gif", ext: "gif", kind: "IMAGE", test: (b) => /^GIF8[79]a/.test(b.subarray(0, 6).toString("latin1")) },
	{ mime: "image/webp", ext: "webp", kind: "IMAGE", test: (b) => b.subarray(0, 4).toString("latin1") === "RIFF" && b.subarray(8, 12).toString("latin1") === "WEBP" },
	{ mime: "application/pdf", ext: "pdf", kind: "FILE", test: (b) => b.subarray(0, 5).toString("latin1") === "%PDF-" },
];

export function sniff(head: Buffer) {
	return SIGNATURES.find((s) => s.test(head));
}

const tooLarge = () => new Errors.MoleculerClientError(`Attachment larger than ${MAX_ATTACHMENT_BYTES} bytes`, 413, "PAYLOAD_TOO_LARGE", { maxBytes: MAX_ATTACHMENT_BYTES });
const unsupported = () =>
	new Errors.MoleculerClientError("Unsupported attachment type (PNG, JPEG, GIF, WEBP or PDF)", 415, "UNSUPPORTED_MEDIA_TYPE", { accepted: SIGNATURES.map((s) => s.mime) });

/** Reads the upload into memory, at most MAX_ATTACHMENT_BYTES; busboy's own limit ends the stream with 413 too. */
async function readCapped(stream: Readable): Promise<Buffer> {
	const chunks: Buffer[] = [];
	let size = 0;
	for await (const chunk of stream) {
		size += (chunk as Buffer).length;
		if (size > MAX_ATTACHMENT_BYTES) {
			stream.resume();
			throw tooLarge();
		}
		chunks.push(chunk as Buffer);
	}
	return Buffer.concat(chunks);
}

const chatDir = () => path.resolve(config().filesDir, "chat");
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

interface MultipartAlias {
	multipartHandler(req: IncomingMessage & { $ctx?: { meta: { user?: unknown } } }, res: ServerResponse): void;
}

/** moleculer-web alias options: busboy parses the multipart body and streams the file to the action. */
const UPLOAD_ROUTE = {
	method: "POST" as const,
	path: "/upload/chat-attachments",
	type: "multipart",
	busboyConfig: { limits: { files: 1, fileSize: MAX_ATTACHMENT_BYTES + 1, fields: 5 } },
	/**
	 * moleculer-web copies these options onto its Alias. Busboy throws on a body that is not
	 * multipart (a 500), before the action's own 401 could apply: answer 401/415 first.
	 */
	multipartHandler(this: MultipartAlias, req: IncomingMessage & { $ctx?: { meta: { user?: unknown } } }, res: ServerResponse) {
		if (!req.$ctx?.meta.user) throw unauthorized();
		if (!/^multipart\/form-data\s*;/i.test(String(req.headers["content-type"] ?? ""))) {
			throw new Errors.MoleculerClientError("Send the file as multipart/form-data", 415, "UNSUPPORTED_MEDIA_TYPE");
		}
		return (Object.getPrototypeOf(this) as MultipartAlias).multipartHandler.call(this, req, res);
	},
};

interface UploadMeta {
	filename?: string;
	$params?: Record<string, unknown>;
	$multipart?: Record<string, unknown>;
}

const schema: ServiceSchema<ServiceSettingSchema, CommsThis> = {
	name: "communications.attachments",
	mixins: [DbMixin({ schema: COMMS_SCHEMA, models: defineCommunicationsModels, primary: "Attachment" }), AuditMixin],
	settings: { rest: "/communications" },

	actions: {
		upload: {
			rest: UPLOAD_ROUTE,
			audit: true,
			summary: "Upload one chat file (multipart, field `file`; `conversationId` as query parameter); 413 too large, 415 wrong type",
			async handler(this: CommsThis, ctx: Ctx<Readable>) {
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
				const content = await readCapped(ctx.params);
				if (content.length === 0) throw validationError("file", "The file is empty.", "required");
				const type = sniff(content);
				if (!type) throw unsupported();
				const storageName = `${randomUUID()}.${type.ext}`;
				await fs.promises.mkdir(chatDir(), { recursive: true });
				await fs.promises.writeFile(path.join(chatDir(), storageName), content, { flag: "wx", mode: 0o640 });
				const originalName = path.basename(String(meta.filename ?? "file")).replace(/[^\w.\- ]/g, "_").slice(0, 200) || "file";
				const row = await this.models.Attachment.create({ conversationId, uploaderId: me, storageName, originalName, mimeType: type.mime, size: content.length }).catch(async (err: unknown) => {
					await fs.promises.unlink(path.join(chatDir(), storageName)).catch(() => undefined);
					throw err;
				});
				respondCreated(ctx, `/api/v1/communications/chat/attachments/${row.id}`);
				return { ...toAttachmentView(row), conversationId, messageType: type.kind };
			},
		},

		download: {
			rest: "GET /chat/attachments/:id",
			summary: "Download a chat attachment (participants of its conversation only)",
			params: P.attachmentIdParams,
			async handler(this: CommsThis, ctx: Ctx<P.AttachmentIdParams>) {
				const row = await this.models.Attachment.findByPk(ctx.params.id);
				const allowed = row && (await this.models.Participant.count({ where: { conversationId: row.conversationId, userId: ctx.meta.user!.id } })) > 0;
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
};

export default schema as ServiceSchema;
