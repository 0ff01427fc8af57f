/** The files domain's plain logic: access rules, views, storing an upload. */
import type { Readable } from "node:stream";
import type { Context, Service } from "moleculer";
import type { DbThis } from "../../mixins/db.mixin";
import type { Meta, Role } from "../../lib/types";
import { forbidden, notFound, validationError } from "../../lib/errors";
import { readCapped, removeStored, safeOriginalName, sha256, sniff, storeFile, unsupported, SIGNATURES } from "../../lib/uploads";
import type { FileVariant, FilesModels, StoredFile } from "./files.model";

export type FilesThis = Service & DbThis<FilesModels>;
export type Ctx<P> = Context<P, Meta>;

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

export const toFileView = (f: StoredFile): FileView => ({ id: f.id, name: f.originalName, mimeType: f.mimeType, size: f.size, url: contentUrl(f.id), createdAt: f.createdAt });

export const toVariantView = (fileId: string, v: FileVariant) => ({
	id: v.id,
	mimeType: v.mimeType,
	size: v.size,
	width: v.width,
	height: v.height,
	quality: v.quality,
	url: `${contentUrl(fileId)}?variant=${v.id}`,
	createdAt: v.createdAt,
});

export const toFileDetail = (f: StoredFile) => ({
	...toFileView(f),
	ownerId: f.ownerId,
	sha256: f.sha256,
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

/** Reads one uploaded stream (capped), checks its type by magic bytes, stores bytes and row. */
export async function storeUpload(svc: FilesThis, stream: Readable, ownerId: string, filename: unknown, maxBytes: number): Promise<StoredFile> {
	const content = await readCapped(stream, maxBytes);
	if (content.length === 0) throw validationError("file", "The file is empty.", "required");
	const type = sniff(content);
	if (!type) throw unsupported(ACCEPTED, "Unsupported file type: JPEG, PNG, WebP, GIF, PDF, MP4 or WebM (recognised by content, not by name)");
	const storageKey = await storeFile(AREA, type.ext, content);
	return svc.models.StoredFile.create({
		ownerId,
		originalName: safeOriginalName(filename),
		mimeType: type.mime,
		size: content.length,
		sha256: sha256(content),
		storageKey,
	}).catch(async (err: unknown) => {
		await removeStored(AREA, storageKey);
		throw err;
	});
}
