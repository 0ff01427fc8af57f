/** Sequelize models of the inventory schema (tables are created by migrations/inventory). */
import { r, type TypeOf } from "../../lib/response";
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
	/** `api`, or `kafka:<source>` for a change from an external finance system. */
	declare source: CreationOptional<string>;
	declare createdAt: CreationOptional<Date>;
}

export class StockItem extends Model<InferAttributes<StockItem>, InferCreationAttributes<StockItem>> {
	declare id: CreationOptional<string>;
	declare factoryId: string;
	declare flavorId: string;
	declare batchId: string;
	declare initialQuantity: number;
	declare quantity: number;
	declare cost: number;
	declare productionDate: string;
	declare expiryDate: string;
	declare warningDays: number | null;
	declare writtenOffAt: Date | null;
	declare createdBy: string | null;
	declare createdAt: CreationOptional<Date>;
	declare updatedAt: CreationOptional<Date>;
	declare deletedAt: CreationOptional<Date | null>;
}

export type MovementKind = "PRODUCTION" | "ADJUSTMENT" | "ALLOCATION" | "RELEASE" | "WRITE_OFF" | "REMOVAL";

export class StockMovement extends Model<InferAttributes<StockMovement>, InferCreationAttributes<StockMovement>> {
	declare id: CreationOptional<string>;
	declare stockItemId: string;
	declare factoryId: string;
	declare kind: MovementKind;
	declare delta: number;
	declare quantityAfter: number;
	declare reason: string;
	declare invoiceId: string | null;
	declare actorId: string | null;
	declare createdAt: CreationOptional<Date>;
}

export class Supplier extends Model<InferAttributes<Supplier>, InferCreationAttributes<Supplier>> {
	declare id: CreationOptional<string>;
	declare name: string;
	declare contactEmail: string;
	declare contactPhone: string;
	declare contactAddress: string | null;
	declare specialties: CreationOptional<string[]>;
	declare rating: CreationOptional<number>;
	declare createdBy: string | null;
	declare createdAt: CreationOptional<Date>;
	declare updatedAt: CreationOptional<Date>;
	declare deletedAt: CreationOptional<Date | null>;
}

export type InvoiceStatus = "ISSUED" | "PAID" | "OVERDUE" | "VOID";

export class Invoice extends Model<InferAttributes<Invoice>, InferCreationAttributes<Invoice>> {
	declare id: CreationOptional<string>;
	declare factoryId: string;
	declare shopId: string;
	declare orderId: string | null;
	declare sourceEventId: string | null;
	declare totalAmount: number;
	declare status: InvoiceStatus;
	declare dueDate: string;
	declare hasBackorders: boolean;
	declare notes: string | null;
	declare createdBy: string | null;
	declare paidAt: Date | null;
	declare voidedAt: Date | null;
	/** Set when its order was shipped (markShipped): from then on it cannot be voided. */
	declare shippedAt: Date | null;
	declare createdAt: CreationOptional<Date>;
	declare updatedAt: CreationOptional<Date>;
}

const uuidPk = { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 };
/** BIGINT columns come back from pg as strings; cents (at most MAX_CENTS) always fit a JS number exactly. */
const bigCents = (field: string, defaultValue?: number) => ({
	type: DataTypes.BIGINT,
	allowNull: false,
	defaultValue,
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
			price: bigCents("price"),
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
			budgetAllocated: bigCents("budgetAllocated", 0),
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
			previousAmount: bigCents("previousAmount", 0),
			budgetAllocated: bigCents("budgetAllocated", 0),
			reason: { type: DataTypes.TEXT, allowNull: false },
			changedBy: { type: DataTypes.UUID, allowNull: true },
			source: { type: DataTypes.TEXT, allowNull: false, defaultValue: "api" },
			createdAt: DataTypes.DATE,
		},
		{ ...common, modelName: "BudgetChange", tableName: "factory_budget_changes", updatedAt: false },
	);

	const StockItemModel = class extends StockItem {};
	StockItemModel.init(
		{
			id: uuidPk,
			factoryId: { type: DataTypes.UUID, allowNull: false },
			flavorId: { type: DataTypes.UUID, allowNull: false },
			batchId: { type: DataTypes.TEXT, allowNull: false },
			initialQuantity: { type: DataTypes.INTEGER, allowNull: false },
			quantity: { type: DataTypes.INTEGER, allowNull: false },
			cost: bigCents("cost"),
			productionDate: { type: DataTypes.DATEONLY, allowNull: false },
			expiryDate: { type: DataTypes.DATEONLY, allowNull: false },
			warningDays: { type: DataTypes.INTEGER, allowNull: true },
			writtenOffAt: { type: DataTypes.DATE, allowNull: true },
			createdBy: { type: DataTypes.UUID, allowNull: true },
			createdAt: DataTypes.DATE,
			updatedAt: DataTypes.DATE,
			deletedAt: { type: DataTypes.DATE, allowNull: true },
		},
		{ ...common, modelName: "StockItem", tableName: "stock_items", paranoid: true },
	);

	const StockMovementModel = class extends StockMovement {};
	StockMovementModel.init(
		{
			id: uuidPk,
			stockItemId: { type: DataTypes.UUID, allowNull: false },
			factoryId: { type: DataTypes.UUID, allowNull: false },
			kind: { type: DataTypes.TEXT, allowNull: false },
			delta: { type: DataTypes.INTEGER, allowNull: false },
			quantityAfter: { type: DataTypes.INTEGER, allowNull: false },
			reason: { type: DataTypes.TEXT, allowNull: false },
			invoiceId: { type: DataTypes.UUID, allowNull: true },
			actorId: { type: DataTypes.UUID, allowNull: true },
			createdAt: DataTypes.DATE,
		},
		{ ...common, modelName: "StockMovement", tableName: "stock_movements", updatedAt: false },
	);

	const SupplierModel = class extends Supplier {};
	SupplierModel.init(
		{
			id: uuidPk,
			name: { type: DataTypes.TEXT, allowNull: false },
			contactEmail: { type: DataTypes.TEXT, allowNull: false },
			contactPhone: { type: DataTypes.TEXT, allowNull: false },
			contactAddress: { type: DataTypes.TEXT, allowNull: true },
			specialties: textArray(),
			rating: {
				type: DataTypes.DECIMAL(2, 1),
				allowNull: false,
				defaultValue: 0,
				get(this: Model) {
					return Number(this.getDataValue("rating"));
				},
			},
			createdBy: { type: DataTypes.UUID, allowNull: true },
			createdAt: DataTypes.DATE,
			updatedAt: DataTypes.DATE,
			deletedAt: { type: DataTypes.DATE, allowNull: true },
		},
		{ ...common, modelName: "Supplier", tableName: "suppliers", paranoid: true },
	);

	const InvoiceModel = class extends Invoice {};
	InvoiceModel.init(
		{
			id: uuidPk,
			factoryId: { type: DataTypes.UUID, allowNull: false },
			shopId: { type: DataTypes.UUID, allowNull: false },
			orderId: { type: DataTypes.UUID, allowNull: true },
			sourceEventId: { type: DataTypes.UUID, allowNull: true },
			totalAmount: bigCents("totalAmount"),
			status: { type: DataTypes.TEXT, allowNull: false, defaultValue: "ISSUED" },
			dueDate: { type: DataTypes.DATEONLY, allowNull: false },
			hasBackorders: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
			notes: { type: DataTypes.TEXT, allowNull: true },
			createdBy: { type: DataTypes.UUID, allowNull: true },
			paidAt: { type: DataTypes.DATE, allowNull: true },
			voidedAt: { type: DataTypes.DATE, allowNull: true },
			shippedAt: { type: DataTypes.DATE, allowNull: true },
			createdAt: DataTypes.DATE,
			updatedAt: DataTypes.DATE,
		},
		{ ...common, modelName: "Invoice", tableName: "invoices" },
	);

	return {
		Flavor: FlavorModel,
		Factory: FactoryModel,
		BudgetChange: BudgetChangeModel,
		StockItem: StockItemModel,
		StockMovement: StockMovementModel,
		Supplier: SupplierModel,
		Invoice: InvoiceModel,
	};
}

export type InventoryModels = ReturnType<typeof defineInventoryModels>;

/** A flavor as the API shows it (the response schema of the flavor routes; the type derives from it). */
export const FlavorSchema = r.object({
	id: r.uuid(),
	name: r.string(),
	description: r.string(),
	category: r.string(),
	price: r.integer(),
	ingredients: r.array(r.string()),
	allergens: r.array(r.string()),
	images: r.array(r.string()),
	archived: r.boolean(),
	archivedAt: r.nullable(r.dateTime()),
	createdAt: r.dateTime(),
	updatedAt: r.dateTime(),
});
export type PublicFlavor = TypeOf<typeof FlavorSchema>;
