/** Sequelize models of the files schema (tables are created by migrations/files). */
import { DataTypes, Model, type CreationOptional, type InferAttributes, type InferCreationAttributes, type Sequelize } from "sequelize";

/** A compressed copy of an image, stored next to the original. */
export interface FileVariant {
	id: string;
	storageKey: string;
	mimeType: string;
	size: number;
	width: number;
	height: number;
	quality: number;
	createdAt: string;
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
	declare createdAt: CreationOptional<Date>;
	declare updatedAt: CreationOptional<Date>;
	declare deletedAt: CreationOptional<Date | null>;
}

export type FilesModels = { StoredFile: typeof StoredFile };

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
			size: { type: DataTypes.BIGINT, allowNull: false, get(this: StoredFile) { return Number(this.getDataValue("size")); } },
			sha256: { type: DataTypes.CHAR(64), allowNull: false },
			storageKey: { type: DataTypes.TEXT, allowNull: false },
			variants: { type: DataTypes.JSONB, allowNull: false, defaultValue: [] },
			createdAt: DataTypes.DATE,
			updatedAt: DataTypes.DATE,
			deletedAt: { type: DataTypes.DATE, allowNull: true },
		},
		{ sequelize: db, modelName: "StoredFile", tableName: "files", schema: SCHEMA, paranoid: true },
	);
	return { StoredFile: FileModel };
}
