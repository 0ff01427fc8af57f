/** Sequelize models of the analytics schema (tables are created by migrations/analytics). Figures are read with SQL. */
import { DataTypes, Model, type InferAttributes, type InferCreationAttributes, type CreationOptional, type Sequelize } from "sequelize";

export type ReportType = "SALES" | "PRODUCTS" | "REVENUE" | "INVENTORY" | "WASTE" | "LOCATIONS";
export const REPORT_TYPES: readonly ReportType[] = ["SALES", "PRODUCTS", "REVENUE", "INVENTORY", "WASTE", "LOCATIONS"];

export class Report extends Model<InferAttributes<Report>, InferCreationAttributes<Report>> {
	declare id: CreationOptional<string>;
	declare type: ReportType;
	declare dateFrom: string;
	declare dateTo: string;
	declare filters: Record<string, unknown>;
	declare result: unknown;
	declare createdBy: string | null;
	declare scheduleId: string | null;
	declare createdAt: CreationOptional<Date>;
}

export class ReportSchedule extends Model<InferAttributes<ReportSchedule>, InferCreationAttributes<ReportSchedule>> {
	declare id: CreationOptional<string>;
	declare type: ReportType;
	declare interval: "DAILY" | "WEEKLY";
	declare filters: Record<string, unknown>;
	declare createdBy: string | null;
	declare nextRunAt: Date;
	declare lastRunAt: Date | null;
	declare createdAt: CreationOptional<Date>;
	declare updatedAt: CreationOptional<Date>;
	declare deletedAt: Date | null;
}

export function defineAnalyticsModels(db: Sequelize) {
	const schema = "analytics";
	const R = class extends Report {};
	R.init(
		{
			id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
			type: { type: DataTypes.TEXT, allowNull: false },
			dateFrom: { type: DataTypes.DATEONLY, allowNull: false },
			dateTo: { type: DataTypes.DATEONLY, allowNull: false },
			filters: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
			result: { type: DataTypes.JSONB, allowNull: false },
			createdBy: { type: DataTypes.UUID },
			scheduleId: { type: DataTypes.UUID },
			createdAt: { type: DataTypes.DATE },
		},
		{ sequelize: db, modelName: "Report", tableName: "reports", schema, underscored: true, updatedAt: false },
	);
	const S = class extends ReportSchedule {};
	S.init(
		{
			id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
			type: { type: DataTypes.TEXT, allowNull: false },
			interval: { type: DataTypes.TEXT, allowNull: false },
			filters: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
			createdBy: { type: DataTypes.UUID },
			nextRunAt: { type: DataTypes.DATE, allowNull: false },
			lastRunAt: { type: DataTypes.DATE },
			createdAt: { type: DataTypes.DATE },
			updatedAt: { type: DataTypes.DATE },
			deletedAt: { type: DataTypes.DATE },
		},
		{ sequelize: db, modelName: "ReportSchedule", tableName: "report_schedules", schema, underscored: true, paranoid: true },
	);
	return { Report: R, ReportSchedule: S };
}
export type AnalyticsModels = ReturnType<typeof defineAnalyticsModels>;
