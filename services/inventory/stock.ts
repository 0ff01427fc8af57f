/** Stock batches: the public view and the one way their quantity changes (with a movement row). */
import type { Transaction } from "sequelize";
import type { InventoryModels, MovementKind, StockItem, StockMovement } from "./inventory.model";

export type StockStatus = "IN_STOCK" | "DEPLETED" | "EXPIRED" | "WRITTEN_OFF" | "REMOVED";

export function stockStatus(item: StockItem, asOf: string): StockStatus {
	if (item.deletedAt) return "REMOVED";
	if (item.writtenOffAt && item.quantity === 0) return "WRITTEN_OFF";
	if (item.quantity === 0) return "DEPLETED";
	return item.expiryDate <= asOf ? "EXPIRED" : "IN_STOCK";
}

export function stockView(item: StockItem, asOf: string, defaultWarningDays: number) {
	return {
		id: item.id,
		factoryId: item.factoryId,
		flavorId: item.flavorId,
		batchId: item.batchId,
		initialQuantity: item.initialQuantity,
		quantity: item.quantity,
		cost: item.cost,
		value: item.quantity * item.cost,
		productionDate: item.productionDate,
		expiryDate: item.expiryDate,
		warningDays: item.warningDays ?? defaultWarningDays,
		status: stockStatus(item, asOf),
		writtenOffAt: item.writtenOffAt ? item.writtenOffAt.toISOString() : null,
		createdAt: item.createdAt.toISOString(),
		updatedAt: item.updatedAt.toISOString(),
	};
}

export function movementView(m: StockMovement) {
	return {
		id: m.id,
		kind: m.kind,
		delta: m.delta,
		quantityAfter: m.quantityAfter,
		reason: m.reason,
		invoiceId: m.invoiceId,
		actorId: m.actorId,
		createdAt: m.createdAt.toISOString(),
	};
}

/** Changes a batch's quantity by `delta` and records why, in the caller's transaction. */
export async function moveStock(
	models: Pick<InventoryModels, "StockMovement">,
	t: Transaction,
	item: StockItem,
	move: {
		kind: MovementKind;
		delta: number;
		reason: string;
		actorId: string | null;
		invoiceId?: string | null;
		extra?: Partial<StockItem>;
	},
): Promise<void> {
	const quantity = item.quantity + move.delta;
	await item.update({ quantity, ...move.extra }, { transaction: t });
	await models.StockMovement.create(
		{
			stockItemId: item.id,
			factoryId: item.factoryId,
			kind: move.kind,
			delta: move.delta,
			quantityAfter: quantity,
			reason: move.reason,
			invoiceId: move.invoiceId ?? null,
			actorId: move.actorId,
		},
		{ transaction: t },
	);
}
