/**
 * Shop stock changes shared by the POS, inventory counts and order deliveries.
 * Rows are always locked in flavor-id order (no deadlocks between concurrent
 * writers) and INVENTORY_LOW is raised once per crossing below the threshold:
 * `low_alerted` remembers the crossing until stock is back at/above it.
 * The POS sale applies the same rules in SQL, inside `sales.pos_sale`
 * (migrations/sales/030-pos-sale-function.ts): keep the two in step.
 */
import { QueryTypes, type Sequelize, type Transaction } from "sequelize";

export interface StockRow {
	flavorId: string;
	quantity: number;
	reorderThreshold: number;
	lowAlerted: boolean;
}

export interface StockChange {
	flavorId: string;
	before: number;
	after: number;
	reorderThreshold: number;
	lowAlerted: boolean;
	/** True when this change crossed below the threshold: publish INVENTORY_LOW. */
	crossedLow: boolean;
	existed: boolean;
}

/**
 * Locks the shop's rows for these flavors, in flavor-id order. A row that does not exist yet cannot be locked, so
 * the (shop, flavor) pairs are first taken as transaction advisory locks: a second writer of a flavor new to the
 * shop waits for the first one's commit and then reads its row, instead of planning from nothing and overwriting
 * it. (The POS only sells rows that exist: its row locks suffice, and it never waits on these.)
 */
export async function lockStock(db: Sequelize, t: Transaction, shopId: string, flavorIds: string[]): Promise<Map<string, StockRow>> {
	if (flavorIds.length === 0) return new Map();
	await db.query(
		`SELECT pg_advisory_xact_lock(hashtext('sales.stock:' || :shopId || ':' || f)) FROM unnest(ARRAY[:flavorIds]::text[]) AS f`,
		{ replacements: { shopId, flavorIds: [...new Set(flavorIds)].sort() }, transaction: t },
	);
	const rows = await db.query<StockRow>(
		`SELECT flavor_id AS "flavorId", quantity, reorder_threshold AS "reorderThreshold", low_alerted AS "lowAlerted"
		   FROM sales.shop_inventory WHERE shop_id = :shopId AND flavor_id IN (:flavorIds) ORDER BY flavor_id FOR UPDATE`,
		{ replacements: { shopId, flavorIds }, type: QueryTypes.SELECT, transaction: t },
	);
	return new Map(rows.map((r) => [r.flavorId, r]));
}

/**
 * The new state of one row: quantity `after`, threshold `threshold`. A new row without one
 * takes `defaultThreshold` (the admin's `lowStockThreshold` setting), so INVENTORY_LOW works by default.
 */
export function planChange(
	flavorId: string,
	row: StockRow | undefined,
	after: number,
	threshold?: number,
	defaultThreshold = 0,
): StockChange {
	const reorderThreshold = threshold ?? row?.reorderThreshold ?? defaultThreshold;
	const low = after < reorderThreshold;
	const wasAlerted = row?.lowAlerted ?? false;
	return {
		flavorId,
		before: row?.quantity ?? 0,
		after,
		reorderThreshold,
		lowAlerted: low,
		crossedLow: low && !wasAlerted,
		existed: Boolean(row),
	};
}

/** Writes the planned rows (upsert) and one stock movement per change, in one statement each. */
export async function applyChanges(
	db: Sequelize,
	t: Transaction,
	shopId: string,
	changes: StockChange[],
	movement: {
		reason: "SALE" | "COUNT" | "WASTE" | "CORRECTION" | "RESTOCK" | "DELIVERY";
		referenceId: string | null;
		actorId: string | null;
		note?: string | null;
	},
): Promise<void> {
	if (changes.length === 0) return;
	const r: Record<string, unknown> = {
		shopId,
		reason: movement.reason,
		referenceId: movement.referenceId,
		actorId: movement.actorId,
		note: movement.note ?? null,
	};
	const values = changes
		.map((c, i) => {
			Object.assign(r, {
				[`f${i}`]: c.flavorId,
				[`q${i}`]: c.after,
				[`b${i}`]: c.before,
				[`th${i}`]: c.reorderThreshold,
				[`a${i}`]: c.lowAlerted,
			});
			return `(:f${i}::uuid, :q${i}::int, :th${i}::int, :a${i}::boolean, :b${i}::int)`;
		})
		.join(", ");
	// One round trip: the stock rows (already locked by lockStock) and their movements.
	await db.query(
		`WITH v(f, q, th, a, b) AS (VALUES ${values}),
		 stock AS (
		   INSERT INTO sales.shop_inventory (shop_id, flavor_id, quantity, reorder_threshold, low_alerted)
		   SELECT :shopId::uuid, v.f, v.q, v.th, v.a FROM v ORDER BY v.f
		   ON CONFLICT (shop_id, flavor_id) DO UPDATE SET quantity = EXCLUDED.quantity, reorder_threshold = EXCLUDED.reorder_threshold,
		     low_alerted = EXCLUDED.low_alerted, updated_at = now()
		   RETURNING 1)
		 INSERT INTO sales.stock_movements (shop_id, flavor_id, quantity_before, quantity_after, reason, reference_id, actor_id, note)
		 SELECT :shopId::uuid, v.f, v.b, v.q, :reason, :referenceId::uuid, :actorId::uuid, :note FROM v`,
		{ replacements: r, transaction: t },
	);
}
