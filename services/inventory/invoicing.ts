/**
 * Invoicing: builds an invoice for a purchase order inside one transaction.
 * Lines are priced from the catalog; each line is allocated from the factory's
 * batches of that flavor first-expiry-first-out (earliest expiry date first,
 * across batches, never a batch that is expired: only batches whose expiry date
 * is after today; never a recalled one), taking the units from the batches and recording which batch
 * gave how many units to which line. Units that cannot be allocated are
 * backordered; the invoice bills allocated units only.
 */
import { QueryTypes, type Sequelize, type Transaction } from "sequelize";
import type { Context } from "moleculer";
import type { OutboxThis } from "../../mixins/outbox.mixin";
import type { Invoice, InventoryModels, InvoiceStatus } from "./inventory.model";
import { mergeLines } from "../../lib/lines";

export interface OrderInput {
	factoryId: string;
	shopId: string;
	orderId: string | null;
	sourceEventId: string | null;
	items: { flavorId: string; quantity: number }[];
	dueDate: string;
	notes: string | null;
	createdBy: string | null;
	asOf: string;
}

export interface InvoicingDeps extends OutboxThis {
	db: Sequelize;
	dbSchema: string;
	models: InventoryModels;
}

/** Allowed status moves; anything else is 409. A paid invoice is final (cannot be voided). */
export const TRANSITIONS: Record<InvoiceStatus, InvoiceStatus[]> = {
	ISSUED: ["PAID", "OVERDUE", "VOID"],
	OVERDUE: ["PAID", "VOID"],
	PAID: [],
	VOID: [],
};

/** Merges repeated flavors (an order may list one twice), keeping first-seen order. */
export function mergeItems(items: { flavorId: string; quantity: number }[]): { flavorId: string; quantity: number }[] {
	return mergeLines(items).map(({ flavorId, quantity }) => ({ flavorId, quantity }));
}

interface Batch {
	id: string;
	quantity: number;
}

export async function createInvoice(deps: InvoicingDeps, t: Transaction, ctx: Context | null, input: OrderInput): Promise<Invoice> {
	const s = `"${deps.dbSchema}"`;
	const items = mergeItems(input.items);
	const flavors = await deps.models.Flavor.findAll({ where: { id: items.map((i) => i.flavorId) }, transaction: t });
	const byId = new Map(flavors.map((f) => [f.id, f]));
	const invoice = await deps.models.Invoice.create(
		{
			factoryId: input.factoryId,
			shopId: input.shopId,
			orderId: input.orderId,
			sourceEventId: input.sourceEventId,
			status: "ISSUED",
			totalAmount: 0,
			dueDate: input.dueDate,
			hasBackorders: false,
			notes: input.notes,
			createdBy: input.createdBy,
			paidAt: null,
			voidedAt: null,
			shippedAt: null,
		},
		{ transaction: t },
	);
	let total = 0;
	let backorders = false;
	// Lock batches flavor by flavor in a fixed order, so concurrent invoices cannot deadlock.
	const order = items.map((item, index) => ({ item, lineNo: index + 1 })).sort((a, b) => a.item.flavorId.localeCompare(b.item.flavorId));
	for (const { item, lineNo } of order) {
		const flavor = byId.get(item.flavorId);
		const batches = flavor
			? await deps.db.query<Batch>(
					`SELECT id, quantity FROM ${s}.stock_items
					 WHERE factory_id = :factoryId AND flavor_id = :flavorId AND deleted_at IS NULL AND recalled_at IS NULL AND quarantined_at IS NULL AND quantity > 0 AND expiry_date > CAST(:asOf AS DATE)
					 ORDER BY expiry_date, production_date, created_at, id
					 FOR UPDATE`,
					{
						replacements: { factoryId: input.factoryId, flavorId: item.flavorId, asOf: input.asOf },
						type: QueryTypes.SELECT,
						transaction: t,
					},
				)
			: [];
		let remaining = item.quantity;
		const taken: { batch: Batch; quantity: number }[] = [];
		for (const batch of batches) {
			if (remaining === 0) break;
			const quantity = Math.min(batch.quantity, remaining);
			taken.push({ batch, quantity });
			remaining -= quantity;
		}
		const allocated = item.quantity - remaining;
		const unitPrice = flavor?.price ?? 0;
		const lineTotal = allocated * unitPrice;
		total += lineTotal;
		backorders ||= remaining > 0;
		const [line] = await deps.db.query<{ id: string }>(
			`INSERT INTO ${s}.invoice_lines (invoice_id, line_no, flavor_id, flavor_name, quantity_ordered, quantity_allocated, quantity_backordered, unit_price, line_total)
			 VALUES (:invoiceId, :lineNo, :flavorId, :flavorName, :ordered, :allocated, :backordered, :unitPrice, :lineTotal) RETURNING id`,
			{
				replacements: {
					invoiceId: invoice.id,
					lineNo,
					flavorId: item.flavorId,
					flavorName: flavor?.name ?? "(unknown flavor)",
					ordered: item.quantity,
					allocated,
					backordered: remaining,
					unitPrice,
					lineTotal,
				},
				type: QueryTypes.SELECT,
				transaction: t,
			},
		);
		for (const { batch, quantity } of taken) {
			await deps.db.query(
				`WITH moved AS (
					UPDATE ${s}.stock_items SET quantity = quantity - :quantity, updated_at = now() WHERE id = :batchId RETURNING id, factory_id, quantity
				 ), alloc AS (
					INSERT INTO ${s}.invoice_allocations (invoice_line_id, stock_item_id, quantity) VALUES (:lineId, :batchId, :quantity)
				 )
				 INSERT INTO ${s}.stock_movements (stock_item_id, factory_id, kind, delta, quantity_after, reason, invoice_id, actor_id)
				 SELECT id, factory_id, 'ALLOCATION', -CAST(:quantity AS INTEGER), quantity, :reason, :invoiceId, :actorId FROM moved`,
				{
					replacements: {
						quantity,
						batchId: batch.id,
						lineId: line.id,
						invoiceId: invoice.id,
						actorId: input.createdBy,
						reason: `Allocated to invoice line ${lineNo}`,
					},
					transaction: t,
				},
			);
		}
	}
	await invoice.update({ totalAmount: total, hasBackorders: backorders }, { transaction: t });
	await deps.publish(
		t,
		ctx,
		"INVOICE_GENERATED",
		{
			invoiceId: invoice.id,
			orderId: invoice.orderId,
			factoryId: invoice.factoryId,
			shopId: invoice.shopId,
			totalAmount: total,
			status: invoice.status,
			dueDate: invoice.dueDate,
		},
		invoice.id,
	);
	return invoice;
}

/** A void invoice gives its allocated units back to their batches (removed batches excepted). */
export async function releaseAllocations(deps: InvoicingDeps, t: Transaction, invoice: Invoice, actorId: string | null): Promise<void> {
	const s = `"${deps.dbSchema}"`;
	await deps.db.query(
		`WITH released AS (
			UPDATE ${s}.invoice_allocations a SET released_at = now()
			FROM ${s}.invoice_lines l
			WHERE a.invoice_line_id = l.id AND l.invoice_id = :invoiceId AND a.released_at IS NULL
			RETURNING a.stock_item_id, a.quantity
		 ), per_batch AS (
			SELECT stock_item_id, SUM(quantity)::int AS quantity FROM released GROUP BY stock_item_id
		 ), moved AS (
			UPDATE ${s}.stock_items si SET quantity = si.quantity + p.quantity, updated_at = now()
			FROM per_batch p WHERE si.id = p.stock_item_id AND si.deleted_at IS NULL
			RETURNING si.id, si.factory_id, si.quantity, p.quantity AS delta
		 )
		 INSERT INTO ${s}.stock_movements (stock_item_id, factory_id, kind, delta, quantity_after, reason, invoice_id, actor_id)
		 SELECT id, factory_id, 'RELEASE', delta, quantity, 'Invoice voided', :invoiceId, :actorId FROM moved`,
		{ replacements: { invoiceId: invoice.id, actorId }, transaction: t },
	);
}

interface LineRow {
	id: string;
	line_no: number;
	flavor_id: string;
	flavor_name: string;
	quantity_ordered: number;
	quantity_allocated: number;
	quantity_backordered: number;
	unit_price: string;
	line_total: string;
	allocations: { stockItemId: string; batchId: string; expiryDate: string; quantity: number; released: boolean }[];
}

export function invoiceSummary(inv: Invoice) {
	return {
		id: inv.id,
		factoryId: inv.factoryId,
		shopId: inv.shopId,
		orderId: inv.orderId,
		totalAmount: inv.totalAmount,
		status: inv.status,
		dueDate: inv.dueDate,
		hasBackorders: inv.hasBackorders,
		notes: inv.notes,
		paidAt: inv.paidAt ? inv.paidAt.toISOString() : null,
		voidedAt: inv.voidedAt ? inv.voidedAt.toISOString() : null,
		createdAt: inv.createdAt.toISOString(),
		updatedAt: inv.updatedAt.toISOString(),
	};
}

/** The invoice with its lines and, per line, the batches it was allocated from. */
export async function invoiceDetails(deps: Pick<InvoicingDeps, "db" | "dbSchema">, inv: Invoice, t?: Transaction) {
	const s = `"${deps.dbSchema}"`;
	const lines = await deps.db.query<LineRow>(
		`SELECT l.id, l.line_no, l.flavor_id, l.flavor_name, l.quantity_ordered, l.quantity_allocated, l.quantity_backordered, l.unit_price, l.line_total,
		        COALESCE(json_agg(json_build_object('stockItemId', a.stock_item_id, 'batchId', si.batch_id, 'expiryDate', to_char(si.expiry_date, 'YYYY-MM-DD'),
		                 'quantity', a.quantity, 'released', a.released_at IS NOT NULL) ORDER BY si.expiry_date, si.batch_id) FILTER (WHERE a.id IS NOT NULL), '[]') AS allocations
		 FROM ${s}.invoice_lines l
		 LEFT JOIN ${s}.invoice_allocations a ON a.invoice_line_id = l.id
		 LEFT JOIN ${s}.stock_items si ON si.id = a.stock_item_id
		 WHERE l.invoice_id = :id
		 GROUP BY l.id ORDER BY l.line_no`,
		{ replacements: { id: inv.id }, type: QueryTypes.SELECT, transaction: t },
	);
	return {
		...invoiceSummary(inv),
		items: lines.map((l) => ({
			lineNo: l.line_no,
			flavorId: l.flavor_id,
			flavorName: l.flavor_name,
			quantity: l.quantity_ordered,
			quantityAllocated: l.quantity_allocated,
			quantityBackordered: l.quantity_backordered,
			backordered: l.quantity_backordered > 0,
			unitPrice: Number(l.unit_price),
			lineTotal: Number(l.line_total),
			allocations: l.allocations,
		})),
	};
}
