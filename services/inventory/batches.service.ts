/**
 * inventory.batches: a factory batch (inventory.stock_items) followed from the factory to the cone
 * (issue #15, docs/traceability.md).
 * - recall: marks the batch recalled (invoicing never allocates it again), writes its factory
 *   remainder off (STOCK_WRITTEN_OFF, source inventory) and publishes BATCH_RECALLED through the
 *   outbox; sales consumes it to stop selling the shops' lots and notify clerks and patrons.
 * - trace: the genealogy in two queries, one per owning service (this schema's batch, invoices and
 *   factory write-offs; sales' lots, sales and write-offs per shop via sales.lots.trace).
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { OutboxMixin, type OutboxThis } from "../../mixins/outbox.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { conflict, notFound } from "../../lib/errors";
import { RETRY_READS } from "../../lib/actions";
import { STRICT, trimmed, uuid, type Infer } from "../../lib/params";
import type { Ctx } from "../../lib/types";
import { defineInventoryModels, type InventoryModels } from "./inventory.model";
import { assertActsOn } from "./access";
import { defineService, type ServiceDefinition } from "../../lib/service";
import { call } from "../../lib/contracts";

type This = Service & DbThis<InventoryModels> & OutboxThis;

const batchIdParams = { ...STRICT, batchId: uuid } as const;
const recallParams = { ...STRICT, batchId: uuid, reason: trimmed(1, 500) } as const;
type BatchIdParams = Infer<typeof batchIdParams>;
type RecallParams = Infer<typeof recallParams>;

interface BatchRow {
	id: string;
	batchLabel: string;
	factoryId: string;
	factoryName: string;
	managerId: string | null;
	flavorId: string;
	flavorName: string;
	productionDate: string;
	expiryDate: string;
	initialQuantity: number;
	quantity: number;
	unitCost: number;
	recalledAt: Date | null;
	recallReason: string | null;
	factoryWrittenOff: number;
	invoices: { invoiceId: string; shopId: string; orderId: string | null; status: string; quantity: number }[];
}

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "inventory.batches",
	mixins: [DbMixin({ schema: "inventory", models: defineInventoryModels }), OutboxMixin, AuditMixin],
	settings: { rest: "/inventory" },

	actions: {
		recall: {
			rest: "POST /batches/:batchId/recall",
			roles: ["MANUFACTURER", "EXECUTIVE", "ADMIN"],
			status: 202,
			audit: true,
			summary:
				"Recall a batch everywhere ({ reason }; the producing factory's MANUFACTURER, EXECUTIVE, ADMIN): never invoiced again, factory remainder written off, shops' lots stop selling and clerks and buyers are notified (BATCH_RECALLED); 409 ALREADY_RECALLED",
			params: recallParams,
			async handler(ctx: Ctx<RecallParams>) {
				const { batchId, reason } = ctx.params;
				const by = ctx.meta.user?.id ?? null;
				return this.transaction(async (t) => {
					const item = await this.models.StockItem.findByPk(batchId, { transaction: t, lock: t.LOCK.UPDATE, paranoid: false });
					if (!item) throw notFound("Batch", batchId);
					const factory = await this.models.Factory.findByPk(item.factoryId, { transaction: t });
					assertActsOn(ctx.meta.user, factory ?? { managerId: null }, true);
					const [row] = await this.db.query<{ recalledAt: Date }>(
						`UPDATE inventory.stock_items SET recalled_at = now(), recall_reason = :reason, recalled_by = :by::uuid, quantity = 0,
						       written_off_at = CASE WHEN quantity > 0 THEN now() ELSE written_off_at END, updated_at = now()
						  WHERE id = :batchId AND recalled_at IS NULL RETURNING recalled_at AS "recalledAt"`,
						{ replacements: { batchId, reason, by }, type: QueryTypes.SELECT, transaction: t },
					);
					if (!row) throw conflict("This batch is already recalled", "ALREADY_RECALLED", { batchId });
					const at = row.recalledAt.toISOString();
					// What is still at the factory will never leave it: written off now.
					if (item.quantity > 0) {
						await this.models.StockMovement.create(
							{
								stockItemId: item.id,
								factoryId: item.factoryId,
								kind: "WRITE_OFF",
								delta: -item.quantity,
								quantityAfter: 0,
								reason: `Recall: ${reason}`.slice(0, 500),
								invoiceId: null,
								actorId: by,
							},
							{ transaction: t },
						);
						await this.publish(
							t,
							ctx,
							"STOCK_WRITTEN_OFF",
							{
								batchId,
								shopId: null,
								factoryId: item.factoryId,
								flavorId: item.flavorId,
								quantity: item.quantity,
								reason: "RECALL",
								costCents: item.quantity * Number(item.cost),
								at,
							},
							batchId,
						);
					}
					await this.publish(
						t,
						ctx,
						"BATCH_RECALLED",
						{
							batchId,
							batchLabel: item.batchId,
							factoryId: item.factoryId,
							flavorId: item.flavorId,
							reason,
							recalledBy: by,
							at,
						},
						batchId,
					);
					return {
						batchId,
						batchLabel: item.batchId,
						factoryId: item.factoryId,
						flavorId: item.flavorId,
						reason,
						recalledAt: at,
						factoryWrittenOff: item.quantity,
					};
				});
			},
		},

		trace: {
			rest: "GET /batches/:batchId/trace",
			roles: ["MANUFACTURER", "EXECUTIVE", "ADMIN"],
			retryPolicy: RETRY_READS,
			summary:
				"A batch's genealogy: factory, production and expiry dates, invoices per shop, and per shop received, on hand, sold (with transaction ids) and written off (the producing factory's MANUFACTURER, EXECUTIVE, ADMIN)",
			params: batchIdParams,
			async handler(ctx: Ctx<BatchIdParams>) {
				const { batchId } = ctx.params;
				// One query for everything inventory owns about the batch.
				const [b] = await this.db.query<BatchRow>(
					`SELECT si.id, si.batch_id AS "batchLabel", si.factory_id AS "factoryId", f.name AS "factoryName", f.manager_id AS "managerId",
					        si.flavor_id AS "flavorId", fl.name AS "flavorName", to_char(si.production_date, 'YYYY-MM-DD') AS "productionDate",
					        to_char(si.expiry_date, 'YYYY-MM-DD') AS "expiryDate", si.initial_quantity AS "initialQuantity", si.quantity, si.cost::bigint AS "unitCost",
					        si.recalled_at AS "recalledAt", si.recall_reason AS "recallReason",
					        (SELECT COALESCE(-sum(m.delta), 0)::int FROM inventory.stock_movements m WHERE m.stock_item_id = si.id AND m.kind = 'WRITE_OFF') AS "factoryWrittenOff",
					        (SELECT COALESCE(json_agg(json_build_object('invoiceId', x.id, 'shopId', x.shop_id, 'orderId', x.order_id, 'status', x.status, 'quantity', x.quantity) ORDER BY x.created_at, x.id), '[]')
					           FROM (SELECT i.id, i.shop_id, i.order_id, i.status, i.created_at, sum(a.quantity)::int AS quantity
					                   FROM inventory.invoice_allocations a JOIN inventory.invoice_lines l ON l.id = a.invoice_line_id JOIN inventory.invoices i ON i.id = l.invoice_id
					                  WHERE a.stock_item_id = si.id AND a.released_at IS NULL GROUP BY i.id) x) AS invoices
					   FROM inventory.stock_items si JOIN inventory.factories f ON f.id = si.factory_id JOIN inventory.flavors fl ON fl.id = si.flavor_id
					  WHERE si.id = :batchId`,
					{ replacements: { batchId }, type: QueryTypes.SELECT },
				);
				if (!b) throw notFound("Batch", batchId);
				assertActsOn(ctx.meta.user, { managerId: b.managerId }, true);
				// One query in sales for every shop's lots, sales and write-offs of the batch.
				const shops = await call(ctx, "sales.lots.trace", { batchId });
				const sum = (k: "received" | "onHand" | "sold" | "writtenOff") => shops.reduce((n, s) => n + s[k], 0);
				const invoiced = b.invoices.reduce((n, i) => n + i.quantity, 0);
				return {
					batchId: b.id,
					batchLabel: b.batchLabel,
					flavor: { id: b.flavorId, name: b.flavorName },
					factory: {
						id: b.factoryId,
						name: b.factoryName,
						produced: b.initialQuantity,
						onHand: b.quantity,
						writtenOff: b.factoryWrittenOff,
					},
					productionDate: b.productionDate,
					expiryDate: b.expiryDate,
					unitCost: Number(b.unitCost),
					status: b.recalledAt ? "RECALLED" : "ACTIVE",
					recall: b.recalledAt ? { at: new Date(b.recalledAt).toISOString(), reason: b.recallReason } : null,
					invoices: b.invoices,
					shops,
					totals: {
						invoiced,
						received: sum("received"),
						onHand: sum("onHand"),
						sold: sum("sold"),
						writtenOff: sum("writtenOff"),
					},
				};
			},
		},
	},
};

export default defineService(schema);
