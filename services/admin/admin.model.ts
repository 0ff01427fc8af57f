/** Sequelize models of the admin schema (tables are created by migrations/admin). */
import { DataTypes, Model, type CreationOptional, type InferAttributes, type InferCreationAttributes, type Sequelize } from "sequelize";

export type BroadcastStatus = "DRAFT" | "SENT" | "ARCHIVED";

export class Broadcast extends Model<InferAttributes<Broadcast>, InferCreationAttributes<Broadcast>> {
	declare id: CreationOptional<string>;
	declare title: string;
	declare message: string;
	declare status: CreationOptional<BroadcastStatus>;
	declare createdBy: string | null;
	declare sentAt: Date | null;
	declare archivedAt: Date | null;
	declare createdAt: CreationOptional<Date>;
	declare updatedAt: CreationOptional<Date>;
	declare deletedAt: CreationOptional<Date | null>;
}

/** Fresh model classes per Sequelize instance, so several brokers in one process never share a connection. */
export function defineAdminModels(db: Sequelize) {
	const BroadcastModel = class extends Broadcast {};
	BroadcastModel.init(
		{
			id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
			title: { type: DataTypes.TEXT, allowNull: false },
			message: { type: DataTypes.TEXT, allowNull: false },
			status: { type: DataTypes.TEXT, allowNull: false, defaultValue: "DRAFT" },
			createdBy: { type: DataTypes.UUID, allowNull: true },
			sentAt: { type: DataTypes.DATE, allowNull: true },
			archivedAt: { type: DataTypes.DATE, allowNull: true },
			createdAt: DataTypes.DATE,
			updatedAt: DataTypes.DATE,
			deletedAt: { type: DataTypes.DATE, allowNull: true },
		},
		{ sequelize: db, modelName: "Broadcast", tableName: "broadcasts", schema: "admin", paranoid: true },
	);
	return { Broadcast: BroadcastModel };
}

export type AdminModels = ReturnType<typeof defineAdminModels>;
