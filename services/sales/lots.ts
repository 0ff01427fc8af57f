/**
 * Lots at shops (issue #15; table sales.stock_lots, migrations/sales/110-112).
 * A shop's stock of a flavor is split by the factory batch it came from; the
 * per-flavor total in shop_inventory stays the sum of the lots (a deferred
 * constraint trigger refuses a commit where it is not). Callers hold the
 * shop_inventory rows' locks (stock.ts#lockStock) before they touch lots, as the
 * POS does: every lot writer of a (shop, flavor) is serialized by that row.
 */
import { QueryTypes, type Sequelize, type Transaction } from "sequelize";
import type { WriteOffReason } from "../../lib/events";
import type { OrderAllocation } from "../../lib/contracts";

/** Units arriving at a shop: a factory batch, or `stockItemId: null` for the UNTRACKED lot. */
export interface LotIn {
	flavorId: string;
	stockItemId: string | null;
	batchLabel: string | null;
	factoryId: string | null;
	expiryDate: string | null;
	unitCost: number;
	quantity: number;
}

/** Units taken out of one lot by a count decrease. */
export interface LotTaken {
	lotId: string;
	flavorId: string;
	stockItemId: string | null;
	status: "SELLABLE" | "RECALLED" | "QUARANTINED";
	expired: boolean;
	unitCost: number;
	quantity: number;
}

export interface LotMovement {
	reason: string;
	referenceId: string | null;
	actorId: string | null;
}

/** SQL taking the transaction-scoped lock that orders a batch's recall against its deliveries (`expr` is the batch id as text). */
export const RECALL_LOCK = (expr: string) => `pg_advisory_xact_lock(hashtext('sales.recall:' || ${expr}))`;

/** Adds units to lots (one per batch, created on first receipt; RECALLED when sales knows the batch is recalled) and records the receipts. */
export async function receiveLots(db: Sequelize, t: Transaction, shopId: string, lots: LotIn[], movement: LotMovement): Promise<void> {
	const rows = lots.filter((l) => l.quantity > 0);
	if (!rows.length) return;
	// Serialized with the recall consumer per batch (recallLock): either it has committed and the lot arrives RECALLED,
	// or it waits for this delivery and then marks the lot. A statement of its own, so the insert below sees its commit.
	const batches = [...new Set(rows.map((r) => r.stockItemId).filter((id): id is string => !!id))].sort();
	if (batches.length)
		await db.query(`SELECT ${RECALL_LOCK("b")} FROM unnest(ARRAY[:batches]::text[]) AS b ORDER BY b`, {
			replacements: { batches },
			transaction: t,
		});
	await db.query(
		`WITH v AS (SELECT * FROM json_to_recordset(CAST(:lots AS json)) AS v("flavorId" uuid, "stockItemId" uuid, "batchLabel" text, "factoryId" uuid, "expiryDate" date, "unitCost" bigint, quantity int)),
		 lot AS (
		   INSERT INTO sales.stock_lots (shop_id, flavor_id, stock_item_id, batch_label, factory_id, expiry_date, unit_cost, quantity, status)
		   SELECT :shopId::uuid, v."flavorId", v."stockItemId", v."batchLabel", v."factoryId", v."expiryDate", v."unitCost", v.quantity,
		          CASE WHEN EXISTS (SELECT 1 FROM sales.recalled_batches r WHERE r.stock_item_id = v."stockItemId") THEN 'RECALLED' ELSE 'SELLABLE' END FROM v
		   ON CONFLICT (shop_id, flavor_id, stock_item_id) DO UPDATE SET quantity = sales.stock_lots.quantity + EXCLUDED.quantity, updated_at = now()
		   RETURNING id, flavor_id, stock_item_id, unit_cost)
		 INSERT INTO sales.lot_ledger (lot_id, shop_id, flavor_id, stock_item_id, kind, quantity, reason, reference_id, cost_cents, actor_id)
		 SELECT lot.id, :shopId::uuid, lot.flavor_id, lot.stock_item_id, 'RECEIVED', v.quantity, :reason, :referenceId::uuid, v.quantity * lot.unit_cost, :actorId::uuid
		   FROM lot JOIN v ON v."flavorId" = lot.flavor_id AND v."stockItemId" IS NOT DISTINCT FROM lot.stock_item_id`,
		{ replacements: { shopId, lots: JSON.stringify(rows), ...movement }, transaction: t },
	);
}

/**
 * Takes `quantity` units of a flavor out of the shop's lots and records them as written off:
 * unsellable lots (recalled, quarantined) first, then earliest expiry first (UNTRACKED last).
 */
export async function takeLots(
	db: Sequelize,
	t: Transaction,
	shopId: string,
	flavorId: string,
	quantity: number,
	movement: LotMovement,
): Promise<LotTaken[]> {
	if (quantity <= 0) return [];
	return db.query<LotTaken>(
		`WITH c AS (
		   SELECT id, stock_item_id, status, expiry_date, unit_cost, quantity,
		          sum(quantity) OVER (ORDER BY status <> 'SELLABLE' DESC, expiry_date NULLS LAST, received_at, id) AS cum
		     FROM sales.stock_lots WHERE shop_id = :shopId AND flavor_id = :flavorId AND quantity > 0),
		 take AS (SELECT c.*, LEAST(c.quantity, :quantity - (c.cum - c.quantity))::int AS t FROM c WHERE c.cum - c.quantity < :quantity),
		 drawn AS (UPDATE sales.stock_lots s SET quantity = s.quantity - take.t, updated_at = now() FROM take WHERE s.id = take.id),
		 ledger AS (
		   INSERT INTO sales.lot_ledger (lot_id, shop_id, flavor_id, stock_item_id, kind, quantity, reason, reference_id, cost_cents, actor_id)
		   SELECT id, :shopId, :flavorId, stock_item_id, 'WRITTEN_OFF', t, :reason, :referenceId::uuid, t * unit_cost, :actorId::uuid FROM take)
		 SELECT id AS "lotId", :flavorId AS "flavorId", stock_item_id AS "stockItemId", status, COALESCE(expiry_date < (now() AT TIME ZONE 'UTC')::date, false) AS expired,
		        unit_cost::float8 AS "unitCost", t AS quantity
		   FROM take ORDER BY cum`,
		{ replacements: { shopId, flavorId, quantity, ...movement }, type: QueryTypes.SELECT, transaction: t },
	);
}

/** Records lots' units as written off in `lot_ledger` (for writers that zero lots themselves, e.g. the quarantine write-off). */
export async function recordWriteOffs(
	db: Sequelize,
	t: Transaction,
	shopId: string,
	lots: { lotId: string; flavorId: string; stockItemId: string | null; quantity: number; unitCost: number }[],
	movement: LotMovement,
): Promise<void> {
	const rows = lots.filter((l) => l.quantity > 0);
	if (!rows.length) return;
	await db.query(
		`INSERT INTO sales.lot_ledger (lot_id, shop_id, flavor_id, stock_item_id, kind, quantity, reason, reference_id, cost_cents, actor_id)
		 SELECT v."lotId", :shopId, v."flavorId", v."stockItemId", 'WRITTEN_OFF', v.quantity, :reason, :referenceId::uuid, v.quantity * v."unitCost", :actorId::uuid
		   FROM json_to_recordset(CAST(:lots AS json)) AS v("lotId" uuid, "flavorId" uuid, "stockItemId" uuid, quantity int, "unitCost" bigint)`,
		{ replacements: { shopId, lots: JSON.stringify(rows), ...movement }, transaction: t },
	);
}

/** Why units left: the lot's state first (recalled, quarantined, expired), then what the count says. */
export function writeOffReason(lot: LotTaken, movementReason: string): WriteOffReason {
	if (lot.status === "RECALLED") return "RECALL";
	if (lot.status === "QUARANTINED") return "QUARANTINE";
	if (lot.expired) return "EXPIRY";
	return movementReason === "WASTE" ? "DAMAGE" : "COUNT";
}

/** One item's lots as GET /shops/:shopId/inventory lists them. */
export interface LotView {
	batchId: string | null;
	batchLabel: string | null;
	expiryDate: string | null;
	quantity: number;
	status: string;
}

/** The shop's non-empty lots per flavor, earliest expiry first. */
export async function lotsOf(db: Sequelize, shopId: string): Promise<Map<string, LotView[]>> {
	const rows = await db.query<LotView & { flavorId: string }>(
		`SELECT flavor_id AS "flavorId", stock_item_id AS "batchId", batch_label AS "batchLabel", to_char(expiry_date, 'YYYY-MM-DD') AS "expiryDate", quantity, status
		   FROM sales.stock_lots WHERE shop_id = :shopId AND quantity > 0 ORDER BY flavor_id, expiry_date NULLS LAST, received_at, id`,
		{ replacements: { shopId }, type: QueryTypes.SELECT },
	);
	const byFlavor = new Map<string, LotView[]>();
	for (const { flavorId, ...lot } of rows) byFlavor.set(flavorId, [...(byFlavor.get(flavorId) ?? []), lot]);
	return byFlavor;
}

/** Per flavor: sellable units now, and the markdown of the lot the next sale draws first (FEFO). */
export interface SellableFlavor {
	sellable: number;
	percentOff: number;
	markdownQuantity: number;
}

export async function sellableOf(db: Sequelize, shopId: string): Promise<Map<string, SellableFlavor>> {
	const rows = await db.query<{ flavorId: string; quantity: number; pct: number }>(
		`SELECT flavor_id AS "flavorId", quantity,
		        COALESCE(sales.markdown_percent(sales.markdown_tiers(:shopId), expiry_date - (now() AT TIME ZONE 'UTC')::date), 0) AS pct
		   FROM sales.stock_lots
		  WHERE shop_id = :shopId AND quantity > 0 AND status = 'SELLABLE' AND (expiry_date IS NULL OR expiry_date >= (now() AT TIME ZONE 'UTC')::date)
		  ORDER BY flavor_id, expiry_date NULLS LAST, received_at, id`,
		{ replacements: { shopId }, type: QueryTypes.SELECT },
	);
	const out = new Map<string, SellableFlavor>();
	for (const r of rows) {
		const f = out.get(r.flavorId) ?? { sellable: 0, percentOff: r.pct, markdownQuantity: 0 };
		f.sellable += r.quantity;
		if (f.percentOff > 0 && r.pct === f.percentOff) f.markdownQuantity += r.quantity;
		out.set(r.flavorId, f);
	}
	return out;
}

/** The unit price after `percentOff` (as sales.marked_down: the discount rounds half up to the cent). */
export function markedDown(price: number, percentOff: number): number {
	return price - Math.floor((price * percentOff + 50) / 100);
}

/** One batch allocated to an order's invoice (inventory.invoices.allocationsForOrder). */
export type { OrderAllocation };

/** The lots a delivery brings: each item's allocated batches (capped at the item), the rest UNTRACKED. */
export function deliveredLots(items: { flavorId: string; quantity: number }[], allocation: OrderAllocation[]): LotIn[] {
	const lots: LotIn[] = [];
	for (const item of items) {
		let left = item.quantity;
		for (const a of allocation.filter((x) => x.flavorId === item.flavorId)) {
			const quantity = Math.min(left, a.quantity);
			if (quantity <= 0) break;
			lots.push({
				flavorId: a.flavorId,
				stockItemId: a.stockItemId,
				batchLabel: a.batchLabel,
				factoryId: a.factoryId,
				expiryDate: a.expiryDate,
				unitCost: a.unitCost,
				quantity,
			});
			left -= quantity;
		}
		if (left > 0)
			lots.push({
				flavorId: item.flavorId,
				stockItemId: null,
				batchLabel: null,
				factoryId: null,
				expiryDate: null,
				unitCost: 0,
				quantity: left,
			});
	}
	return lots;
}
