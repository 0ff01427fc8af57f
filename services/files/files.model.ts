/** Sequelize models of the files schema (tables are created by migrations/files). */
import { DataTypes, Model, type CreationOptional, type InferAttributes, type InferCreationAttributes, type Sequelize } from "sequelize";

/**
 * What a variant is: COMPRESSED (`POST /files/compress` on an image), RESPONSIVE (made at upload, 320/640/1280 wide),
 * VIDEO (H.264/AAC MP4 of a transcode job) or POSTER (its JPEG frame). Rows from before 140-media have none: COMPRESSED.
 */
export type VariantKind = "COMPRESSED" | "RESPONSIVE" | "VIDEO" | "POSTER";

/** A derived copy of a file (compressed, resized or transcoded), stored next to the original. */
export interface FileVariant {
	id: string;
	kind?: VariantKind;
	storageKey: string;
	mimeType: string;
	size: number;
	width: number;
	height: number;
	/** Encoder quality of an image (1–100); a video's x264 CRF is `crf`. */
	quality?: number;
	crf?: number;
	createdAt: string;
}

export type JobStatus = "QUEUED" | "RUNNING" | "DONE" | "FAILED";

/** A video transcode job (files.transcode_jobs): a queue row that survives restarts. */
export class TranscodeJob extends Model<InferAttributes<TranscodeJob>, InferCreationAttributes<TranscodeJob>> {
	declare id: CreationOptional<string>;
	declare fileId: string;
	declare ownerId: string;
	declare requestedBy: string;
	declare status: CreationOptional<JobStatus>;
	declare maxWidth: number | null;
	declare crf: number;
	declare progress: CreationOptional<number>;
	declare attempts: CreationOptional<number>;
	declare nodeId: CreationOptional<string | null>;
	declare heartbeatAt: CreationOptional<Date | null>;
	declare error: CreationOptional<string | null>;
	declare result: CreationOptional<{ videoVariantId: string; posterVariantId: string } | null>;
	declare createdAt: CreationOptional<Date>;
	declare updatedAt: CreationOptional<Date>;
	declare startedAt: CreationOptional<Date | null>;
	declare finishedAt: CreationOptional<Date | null>;
}

export class StoredFile extends Model<InferAttributes<StoredFile>, InferCreationAttributes<StoredFile>> {
	declare id: CreationOptional<string>;
	declare ownerId: string;
	declare originalName: string;
	declare mimeType: string;
	declare size: number;
	declare sha256: string;
	declare storageKey: string;
	declare variants: CreationOptional<FileVariant[]>;
	/** A tiny blurred copy of an image as a data URI (< 1 KB), for progressive loading. */
	declare placeholder: CreationOptional<string | null>;
	declare createdAt: CreationOptional<Date>;
	declare updatedAt: CreationOptional<Date>;
	declare deletedAt: CreationOptional<Date | null>;
}

export type FilesModels = { StoredFile: typeof StoredFile; TranscodeJob: typeof TranscodeJob };

const SCHEMA = "files";

export function defineFilesModels(db: Sequelize): FilesModels {
	const FileModel = class extends StoredFile {};
	FileModel.init(
		{
			id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
			ownerId: { type: DataTypes.UUID, allowNull: false },
			originalName: { type: DataTypes.TEXT, allowNull: false },
			mimeType: { type: DataTypes.TEXT, allowNull: false },
			// BIGINT comes back as a string from pg: read it as a number (files stay far below 2^53).
			size: {
				type: DataTypes.BIGINT,
				allowNull: false,
				get(this: StoredFile) {
					return Number(this.getDataValue("size"));
				},
			},
			sha256: { type: DataTypes.CHAR(64), allowNull: false },
			storageKey: { type: DataTypes.TEXT, allowNull: false },
			variants: { type: DataTypes.JSONB, allowNull: false, defaultValue: [] },
			placeholder: { type: DataTypes.TEXT, allowNull: true },
			createdAt: DataTypes.DATE,
			updatedAt: DataTypes.DATE,
			deletedAt: { type: DataTypes.DATE, allowNull: true },
		},
		{ sequelize: db, modelName: "StoredFile", tableName: "files", schema: SCHEMA, paranoid: true },
	);
	const JobModel = class extends TranscodeJob {};
	JobModel.init(
		{
			id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
			fileId: { type: DataTypes.UUID, allowNull: false },
			ownerId: { type: DataTypes.UUID, allowNull: false },
			requestedBy: { type: DataTypes.UUID, allowNull: false },
			status: { type: DataTypes.TEXT, allowNull: false, defaultValue: "QUEUED" },
			maxWidth: { type: DataTypes.INTEGER, allowNull: true },
			crf: { type: DataTypes.INTEGER, allowNull: false },
			progress: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
			attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
			nodeId: { type: DataTypes.TEXT, allowNull: true },
			heartbeatAt: { type: DataTypes.DATE, allowNull: true },
			error: { type: DataTypes.TEXT, allowNull: true },
			result: { type: DataTypes.JSONB, allowNull: true },
			createdAt: DataTypes.DATE,
			updatedAt: DataTypes.DATE,
			startedAt: { type: DataTypes.DATE, allowNull: true },
			finishedAt: { type: DataTypes.DATE, allowNull: true },
		},
		{ sequelize: db, modelName: "TranscodeJob", tableName: "transcode_jobs", schema: SCHEMA },
	);
	return { StoredFile: FileModel, TranscodeJob: JobModel };
}
