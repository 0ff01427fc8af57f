/** Sequelize models of the sales schema (tables are created by migrations/sales). */
import { r } from "../../lib/response";
import { DataTypes, Model, type CreationOptional, type InferAttributes, type InferCreationAttributes, type Sequelize } from "sequelize";

export type ShopStatus = "OPEN" | "CLOSED" | "TEMPORARILY_CLOSED";
export type OrderStatus = "PENDING" | "CONFIRMED" | "SHIPPED" | "DELIVERED" | "CANCELLED";
export interface DayHours {
	open: string;
	close: string;
}
export type WeekHours = Partial<Record<"mon" | "tue" | "wed" | "thu" | "fri" | "sat" | "sun", DayHours | null>>;

export class Shop extends Model<InferAttributes<Shop>, InferCreationAttributes<Shop>> {
	declare id: CreationOptional<string>;
	declare name: string;
	declare address: string;
	declare phone: string | null;
	declare managerId: string | null;
	declare hours: CreationOptional<WeekHours>;
	declare capacity: CreationOptional<number>;
	declare status: CreationOptional<ShopStatus>;
	declare latitude: CreationOptional<number | null>;
	declare longitude: CreationOptional<number | null>;
	declare createdAt: CreationOptional<Date>;
	declare updatedAt: CreationOptional<Date>;
	declare deletedAt: CreationOptional<Date | null>;
}

export class ShopStaff extends Model<InferAttributes<ShopStaff>, InferCreationAttributes<ShopStaff>> {
	declare shopId: string;
	declare userId: string;
	declare assignedBy: string | null;
	declare createdAt: CreationOptional<Date>;
}

export interface OrderItem {
	flavorId: string;
	quantity: number;
}
export interface OrderHistoryEntry {
	status: OrderStatus;
	by: string | null;
	at: string;
}

export class Order extends Model<InferAttributes<Order>, InferCreationAttributes<Order>> {
	declare id: CreationOptional<string>;
	declare shopId: string;
	declare factoryId: string;
	declare items: OrderItem[];
	declare status: CreationOptional<OrderStatus>;
	declare requestedBy: string;
	declare invoiceId: CreationOptional<string | null>;
	declare history: CreationOptional<OrderHistoryEntry[]>;
	declare createdAt: CreationOptional<Date>;
	declare updatedAt: CreationOptional<Date>;
}

export class Review extends Model<InferAttributes<Review>, InferCreationAttributes<Review>> {
	declare id: CreationOptional<string>;
	declare shopId: string;
	declare patronId: string;
	declare rating: number;
	declare comment: string | null;
	declare reviewDate: CreationOptional<string>;
	declare createdAt: CreationOptional<Date>;
	declare updatedAt: CreationOptional<Date>;
	declare deletedAt: CreationOptional<Date | null>;
}

const uuidPk = { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 };

/** Fresh model classes per Sequelize instance, so several brokers in one process never share a connection. */
export function defineSalesModels(db: Sequelize) {
	const ShopModel = class extends Shop {};
	const ShopStaffModel = class extends ShopStaff {};
	const OrderModel = class extends Order {};
	const ReviewModel = class extends Review {};
	ShopModel.init(
		{
			id: uuidPk,
			name: { type: DataTypes.TEXT, allowNull: false },
			address: { type: DataTypes.TEXT, allowNull: false },
			phone: { type: DataTypes.TEXT, allowNull: true },
			managerId: { type: DataTypes.UUID, allowNull: true },
			hours: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
			capacity: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
			status: { type: DataTypes.TEXT, allowNull: false, defaultValue: "OPEN" },
			latitude: { type: DataTypes.DOUBLE, allowNull: true },
			longitude: { type: DataTypes.DOUBLE, allowNull: true },
			createdAt: DataTypes.DATE,
			updatedAt: DataTypes.DATE,
			deletedAt: { type: DataTypes.DATE, allowNull: true },
		},
		{ sequelize: db, modelName: "Shop", tableName: "shops", schema: "sales", paranoid: true },
	);
	ShopStaffModel.init(
		{
			shopId: { type: DataTypes.UUID, primaryKey: true },
			userId: { type: DataTypes.UUID, primaryKey: true },
			assignedBy: { type: DataTypes.UUID, allowNull: true },
			createdAt: DataTypes.DATE,
		},
		{ sequelize: db, modelName: "ShopStaff", tableName: "shop_staff", schema: "sales", updatedAt: false },
	);
	OrderModel.init(
		{
			id: uuidPk,
			shopId: { type: DataTypes.UUID, allowNull: false },
			factoryId: { type: DataTypes.UUID, allowNull: false },
			items: { type: DataTypes.JSONB, allowNull: false },
			status: { type: DataTypes.TEXT, allowNull: false, defaultValue: "PENDING" },
			requestedBy: { type: DataTypes.UUID, allowNull: false },
			invoiceId: { type: DataTypes.UUID, allowNull: true },
			history: { type: DataTypes.JSONB, allowNull: false, defaultValue: [] },
			createdAt: DataTypes.DATE,
			updatedAt: DataTypes.DATE,
		},
		{ sequelize: db, modelName: "Order", tableName: "orders", schema: "sales" },
	);
	ReviewModel.init(
		{
			id: uuidPk,
			shopId: { type: DataTypes.UUID, allowNull: false },
			patronId: { type: DataTypes.UUID, allowNull: false },
			rating: { type: DataTypes.INTEGER, allowNull: false },
			comment: { type: DataTypes.TEXT, allowNull: true },
			reviewDate: { type: DataTypes.DATEONLY, allowNull: false, defaultValue: () => new Date().toISOString().slice(0, 10) },
			createdAt: DataTypes.DATE,
			updatedAt: DataTypes.DATE,
			deletedAt: { type: DataTypes.DATE, allowNull: true },
		},
		{ sequelize: db, modelName: "Review", tableName: "reviews", schema: "sales", paranoid: true },
	);
	return { Shop: ShopModel, ShopStaff: ShopStaffModel, Order: OrderModel, Review: ReviewModel };
}

export type SalesModels = ReturnType<typeof defineSalesModels>;

const dayHours = r.nullable(r.object({ open: r.string(), close: r.string() }));
/** A shop as the API shows it (response schema of the shop routes); the list and a single shop carry its rating. */
export const ShopSchema = r.objectWith(
	{
		id: r.uuid(),
		name: r.string(),
		address: r.string(),
		phone: r.nullable(r.string()),
		managerId: r.nullable(r.uuid()),
		hours: r.record(dayHours),
		capacity: r.integer(),
		status: r.enumOf(["OPEN", "CLOSED", "TEMPORARILY_CLOSED"] as const),
		latitude: r.nullable(r.number()),
		longitude: r.nullable(r.number()),
		createdAt: r.dateTime(),
		updatedAt: r.dateTime(),
	},
	{ averageRating: r.nullable(r.number()), reviewCount: r.integer() },
);

/** A purchase order as the API shows it (response schema of the order routes). */
export const OrderSchema = r.object({
	id: r.uuid(),
	shopId: r.uuid(),
	factoryId: r.uuid(),
	items: r.array(r.object({ flavorId: r.uuid(), quantity: r.integer() })),
	status: r.enumOf(["PENDING", "CONFIRMED", "SHIPPED", "DELIVERED", "CANCELLED"] as const),
	requestedBy: r.uuid(),
	invoiceId: r.nullable(r.uuid()),
	history: r.array(r.object({ status: r.string(), by: r.nullable(r.uuid()), at: r.dateTime() })),
	createdAt: r.dateTime(),
	updatedAt: r.dateTime(),
});

export function toShopJson(shop: Shop, rating?: { averageRating: number | null; reviewCount: number }) {
	return {
		id: shop.id,
		name: shop.name,
		address: shop.address,
		phone: shop.phone,
		managerId: shop.managerId,
		hours: shop.hours,
		capacity: shop.capacity,
		status: shop.status,
		latitude: shop.latitude ?? null,
		longitude: shop.longitude ?? null,
		...(rating ?? {}),
		createdAt: shop.createdAt,
		updatedAt: shop.updatedAt,
	};
}

export function toOrderJson(order: Order) {
	return {
		id: order.id,
		shopId: order.shopId,
		factoryId: order.factoryId,
		items: order.items,
		status: order.status,
		requestedBy: order.requestedBy,
		invoiceId: order.invoiceId,
		history: order.history,
		createdAt: order.createdAt,
		updatedAt: order.updatedAt,
	};
}

export function toReviewJson(review: Review) {
	return {
		id: review.id,
		shopId: review.shopId,
		patronId: review.patronId,
		rating: review.rating,
		comment: review.comment,
		createdAt: review.createdAt,
		updatedAt: review.updatedAt,
	};
}
