/** The files domain's plain logic: access rules, views, storing an upload. */
import { r } from "../../lib/response";
import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import type { Service } from "moleculer";
import type { DbThis } from "../../mixins/db.mixin";
import type { Ctx, Role } from "../../lib/types";
import { config } from "../../lib/config";
import { forbidden, notFound } from "../../lib/errors";
import { checkImageHeader, decodeSlot, placeholder, responsiveVariants } from "../../lib/images";
import { quotaExceeded, reserveStorage, storageUsed } from "../../lib/quota";
import { receiveFile, removeStored, safeOriginalName, storeFile, tooLarge, SIGNATURES } from "../../lib/uploads";
import type { FileVariant, FilesModels, StoredFile } from "./files.model";

export type FilesThis = Service & DbThis<FilesModels>;

export const FILES_SCHEMA = "files";
/** Bytes live under FILES_DIR/<AREA>. */
export const AREA = "files";
/** Roles that may see (read) every user's files. */
export const STAFF_ROLES: readonly Role[] = ["EXECUTIVE", "ADMIN"];
/** Roles that may delete or compress any user's file. */
export const MANAGE_ROLES: readonly Role[] = ["ADMIN"];
export const ACCEPTED = SIGNATURES.map((s) => s.mime);

export const contentUrl = (id: string) => `/api/v1/files/files/${id}/content`;

export interface FileView {
	id: string;
	name: string;
	mimeType: string;
	size: number;
	url: string;
	createdAt: Date;
}

export const toFileView = (f: StoredFile): FileView => ({
	id: f.id,
	name: f.originalName,
	mimeType: f.mimeType,
	size: f.size,
	url: contentUrl(f.id),
	createdAt: f.createdAt,
});

export const variantUrl = (fileId: string, variantId: string) => `${contentUrl(fileId)}?variant=${variantId}`;

export const toVariantView = (fileId: string, v: FileVariant) => ({
	id: v.id,
	kind: v.kind ?? "COMPRESSED",
	mimeType: v.mimeType,
	size: v.size,
	width: v.width,
	height: v.height,
	...(v.quality !== undefined && { quality: v.quality }),
	...(v.crf !== undefined && { crf: v.crf }),
	url: variantUrl(fileId, v.id),
	createdAt: v.createdAt,
});

const VariantSchema = r.objectWith(
	{
		id: r.uuid(),
		kind: r.string(),
		mimeType: r.string(),
		size: r.integer(),
		width: r.integer(),
		height: r.integer(),
		url: r.string(),
		createdAt: r.dateTime(),
	},
	{ quality: r.integer(), crf: r.integer() },
);
/** A file's details as the API shows them (response schema of the file info routes). */
export const FileDetailSchema = r.object({
	id: r.uuid(),
	name: r.string(),
	mimeType: r.string(),
	size: r.integer(),
	url: r.string(),
	createdAt: r.dateTime(),
	ownerId: r.uuid(),
	sha256: r.string(),
	placeholder: r.nullable(r.string()),
	variants: r.array(VariantSchema),
});

export const toFileDetail = (f: StoredFile) => ({
	...toFileView(f),
	ownerId: f.ownerId,
	sha256: f.sha256,
	placeholder: f.placeholder ?? null,
	variants: f.variants.map((v) => toVariantView(f.id, v)),
});

/** The file if the caller may see it (owner or staff); 404 otherwise, also for deleted files. */
export async function findVisible(svc: FilesThis, ctx: Ctx<unknown>, fileId: string): Promise<StoredFile> {
	const user = ctx.meta.user!;
	const row = await svc.models.StoredFile.findByPk(fileId);
	if (!row || (row.ownerId !== user.id && !STAFF_ROLES.includes(user.role))) throw notFound("File", fileId);
	return row;
}

/** The file if the caller may change it (owner or ADMIN): 404 if they may not see it, 403 if they only may see it. */
export async function findManageable(svc: FilesThis, ctx: Ctx<unknown>, fileId: string): Promise<StoredFile> {
	const row = await findVisible(svc, ctx, fileId);
	const user = ctx.meta.user!;
	if (row.ownerId !== user.id && !MANAGE_ROLES.includes(user.role)) throw forbidden("Only the owner or an ADMIN may change this file");
	return row;
}

/**
 * Streams one upload to disk (capped at the smaller of `maxBytes` and the owner's remaining quota), checks its type by
 * magic bytes and an image's declared size, then counts it against the quota and records it in one transaction.
 */
export async function storeUpload(
	svc: FilesThis,
	stream: Readable,
	ownerId: string,
	filename: unknown,
	maxBytes: number,
): Promise<StoredFile> {
	const used = await storageUsed(svc.db, FILES_SCHEMA, ownerId);
	const remaining = Math.max(0, config().upload.quotaBytes - used);
	const file = await receiveFile(stream, AREA, {
		maxBytes: Math.min(maxBytes, remaining),
		overLimit: () => (remaining < maxBytes ? quotaExceeded(used, remaining + 1) : tooLarge(maxBytes)),
		accepted: ACCEPTED,
		unsupportedMessage: "Unsupported file type: JPEG, PNG, WebP, GIF, PDF, MP4 or WebM (recognised by content, not by name)",
	});
	let derived: { variants: FileVariant[]; placeholder: string | null } = { variants: [], placeholder: null };
	try {
		if (file.type.kind === "IMAGE") {
			const release = await decodeSlot(ownerId);
			try {
				derived = await deriveImage(svc, file.path, file.type.mime, await checkImageHeader(file.path, "file"));
			} finally {
				release();
			}
		}
		const record = (variants: FileVariant[]) =>
			svc.transaction(async (transaction) => {
				await reserveStorage(svc.db, FILES_SCHEMA, ownerId, file.size + variants.reduce((sum, v) => sum + v.size, 0), transaction);
				return svc.models.StoredFile.create(
					{
						ownerId,
						originalName: safeOriginalName(filename),
						mimeType: file.type.mime,
						size: file.size,
						sha256: file.sha256,
						storageKey: file.storageKey,
						variants,
						placeholder: derived.placeholder,
					},
					{ transaction },
				);
			});
		try {
			return await record(derived.variants);
		} catch (err) {
			// The original fits but not with its responsive copies: keep the original alone.
			if ((err as { type?: string }).type !== "QUOTA_EXCEEDED" || !derived.variants.length) throw err;
			await removeVariants(derived.variants);
			derived.variants = [];
			return await record([]);
		}
	} catch (err) {
		await removeStored(AREA, file.storageKey);
		await removeVariants(derived.variants);
		throw err;
	}
}

const removeVariants = (variants: FileVariant[]) => Promise.all(variants.map((v) => removeStored(AREA, v.storageKey)));

/**
 * The responsive variants (320/640/1280 wide, never upscaled) and the blurred placeholder of a freshly uploaded image.
 * An image whose header is fine but whose data is not is still stored (as before): without them, and a later compress answers 422.
 */
async function deriveImage(
	svc: FilesThis,
	file: string,
	mimeType: string,
	header: Awaited<ReturnType<typeof checkImageHeader>>,
): Promise<{ variants: FileVariant[]; placeholder: string | null }> {
	const variants: FileVariant[] = [];
	try {
		const blurred = await placeholder(file);
		for (const img of await responsiveVariants(file, mimeType, header)) {
			const storageKey = await storeFile(AREA, img.ext, img.data);
			variants.push({
				id: randomUUID(),
				kind: "RESPONSIVE",
				storageKey,
				mimeType: img.mimeType,
				size: img.data.length,
				width: img.width,
				height: img.height,
				quality: img.quality,
				createdAt: new Date().toISOString(),
			});
		}
		return { variants, placeholder: blurred };
	} catch (err) {
		await removeVariants(variants);
		if (!(err as { type?: string }).type?.startsWith("IMAGE_")) throw err;
		svc.logger.info("Stored an image whose data could not be decoded, without variants");
		return { variants: [], placeholder: null };
	}
}

/** Bytes a stored file takes: the original and its variants. */
export const storedBytes = (f: StoredFile) => f.size + f.variants.reduce((sum, v) => sum + v.size, 0);
