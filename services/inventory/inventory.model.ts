/** Sequelize models of the inventory schema (tables are created by migrations/inventory). */
import { DataTypes, Model, type CreationOptional, type InferAttributes, type InferCreationAttributes, type Sequelize } from "sequelize";

export class Flavor extends Model<InferAttributes<Flavor>, InferCreationAttributes<Flavor>> {
	declare id: CreationOptional<string>;
	declare name: string;
	declare description: CreationOptional<string>;
	declare category: string;
	declare price: number;
	declare ingredients: CreationOptional<string[]>;
	declare allergens: CreationOptional<string[]>;
	declare images: CreationOptional<string[]>;
	declare createdBy: string | null;
	declare archivedAt: Date | null;
	declare createdAt: CreationOptional<Date>;
	declare updatedAt: CreationOptional<Date>;
}

export class Factory extends Model<InferAttributes<Factory>, InferCreationAttributes<Factory>> {
	declare id: CreationOptional<string>;
	declare name: string;
	declare location: CreationOptional<string>;
	declare managerId: string | null;
	declare budgetAllocated: CreationOptional<number>;
	declare status: CreationOptional<"ACTIVE" | "INACTIVE">;
	declare createdAt: CreationOptional<Date>;
	declare updatedAt: CreationOptional<Date>;
	declare deletedAt: CreationOptional<Date | null>;
}

export class BudgetChange extends Model<InferAttributes<BudgetChange>, InferCreationAttributes<BudgetChange>> {
	declare id: CreationOptional<string>;
	declare factoryId: string;
	declare previousAmount: number;
	declare budgetAllocated: number;
	declare reason: string;
	declare changedBy: string | null;
	declare createdAt: CreationOptional<Date>;
}

const uuidPk = { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 };
/** BIGINT columns come back from pg as strings; cents always fit a JS number. */
const bigCents = (field: string) => ({
	type: DataTypes.BIGINT,
	allowNull: false,
	defaultValue: 0,
	get(this: Model) {
		const raw = this.getDataValue(field) as unknown;
		return raw === null || raw === undefined ? raw : Number(raw);
	},
});
/** A fresh definition per attribute: Sequelize writes `field` into the object it is given. */
const textArray = () => ({ type: DataTypes.ARRAY(DataTypes.TEXT), allowNull: false, defaultValue: [] });

/** Fresh model classes per Sequelize instance, so several brokers in one process never share a connection. */
export function defineInventoryModels(db: Sequelize) {
	const common = { sequelize: db, schema: "inventory", underscored: true } as const;
	const FlavorModel = class extends Flavor {};
	FlavorModel.init(
		{
			id: uuidPk,
			name: { type: DataTypes.TEXT, allowNull: false },
			description: { type: DataTypes.TEXT, allowNull: false, defaultValue: "" },
			category: { type: DataTypes.TEXT, allowNull: false },
			price: { type: DataTypes.INTEGER, allowNull: false },
			ingredients: textArray(),
			allergens: textArray(),
			images: textArray(),
			createdBy: { type: DataTypes.UUID, allowNull: true },
			archivedAt: { type: DataTypes.DATE, allowNull: true },
			createdAt: DataTypes.DATE,
			updatedAt: DataTypes.DATE,
		},
		{ ...common, modelName: "Flavor", tableName: "flavors" },
	);

	const FactoryModel = class extends Factory {};
	FactoryModel.init(
		{
			id: uuidPk,
			name: { type: DataTypes.TEXT, allowNull: false },
			location: { type: DataTypes.TEXT, allowNull: false, defaultValue: "" },
			managerId: { type: DataTypes.UUID, allowNull: true },
			budgetAllocated: bigCents("budgetAllocated"),
			status: { type: DataTypes.TEXT, allowNull: false, defaultValue: "ACTIVE" },
			createdAt: DataTypes.DATE,
			updatedAt: DataTypes.DATE,
			deletedAt: { type: DataTypes.DATE, allowNull: true },
		},
		{ ...common, modelName: "Factory", tableName: "factories", paranoid: true },
	);

	const BudgetChangeModel = class extends BudgetChange {};
	BudgetChangeModel.init(
		{
			id: uuidPk,
			factoryId: { type: DataTypes.UUID, allowNull: false },
			previousAmount: bigCents("previousAmount"),
			budgetAllocated: bigCents("budgetAllocated"),
			reason: { type: DataTypes.TEXT, allowNull: false },
			changedBy: { type: DataTypes.UUID, allowNull: true },
			createdAt: DataTypes.DATE,
		},
		{ ...common, modelName: "BudgetChange", tableName: "factory_budget_changes", updatedAt: false },
	);

	return { Flavor: FlavorModel, Factory: FactoryModel, BudgetChange: BudgetChangeModel };
}

export type InventoryModels = ReturnType<typeof defineInventoryModels>;

export interface PublicFlavor {
	id: string;
	name: string;
	description: string;
	category: string;
	price: number;
	ingredients: string[];
	allergens: string[];
	images: string[];
	archived: boolean;
	archivedAt: string | null;
	createdAt: string;
	updatedAt: string;
}

export function toPublicFlavor(f: Flavor): PublicFlavor {
	return {
		id: f.id,
		name: f.name,
		description: f.description,
		category: f.category,
		price: f.price,
		ingredients: f.ingredients,
		allergens: f.allergens,
		images: f.images,
		archived: f.archivedAt !== null,
		archivedAt: f.archivedAt ? f.archivedAt.toISOString() : null,
		createdAt: f.createdAt.toISOString(),
		updatedAt: f.updatedAt.toISOString(),
	};
}
