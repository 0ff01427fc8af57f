/**
 * inventory.invoices: invoices for purchase orders (docs/spec.md section 3, "Invoice Management").
 * Created automatically from PURCHASE_ORDER_CREATED (durable stream; once per event id and per order id)
 * or manually (a manual one may name only an order of that shop to that factory); FEFO allocation lives in ./invoicing.ts. Status: ISSUED -> PAID | OVERDUE | VOID,
 * OVERDUE -> PAID | VOID; PAID and VOID are final (409 otherwise). Voiding gives the units back.
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { Op, QueryTypes, type Transaction, type WhereOptions } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { OutboxMixin, type OutboxThis } from "../../mixins/outbox.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { EventStreamMixin, stream } from "../../mixins/event-stream.mixin";
import { conflict, forbidden, notFound, validationError } from "../../lib/errors";
import { findOptions, toPage } from "../../lib/pagination";
import { RETRY_READS, respondCreated } from "../../lib/actions";
import { config } from "../../lib/config";
import type { Role, Ctx } from "../../lib/types";
import { defineInventoryModels, type Invoice, type InventoryModels } from "./inventory.model";
import { assertActsOn, managedFactoryIds } from "./access";
import { addDays, today } from "./dates";
import { TRANSITIONS, createInvoice, invoiceDetails, invoiceSummary, releaseAllocations } from "./invoicing";
import * as P from "./invoices.params";
import { defineService, type ServiceDefinition } from "../../lib/service";
import { call } from "../../lib/contracts";

interface Methods {
	loadInvoice(ctx: Ctx<unknown>, invoiceId: string): Promise<Invoice>;
	assertNotShipped(ctx: Ctx<unknown>, inv: Invoice): Promise<void>;
	assertOrderOf(ctx: Ctx<unknown>, orderId: string, shopId: string, factoryId: string): Promise<void>;
}
type This = Service & DbThis<InventoryModels> & OutboxThis & Methods;

const READERS: Role[] = ["MANUFACTURER", "EXECUTIVE", "ADMIN"];

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "inventory.invoices",
	mixins: [DbMixin({ schema: "inventory", models: defineInventoryModels }), OutboxMixin, EventStreamMixin, AuditMixin],
	settings: { rest: "/inventory" },

	actions: {
		create: {
			rest: "POST /invoices",
			roles: ["MANUFACTURER", "EXECUTIVE"],
			audit: true,
			summary:
				"Invoice a purchase order by hand: { factoryId, shopId, orderId?, items: [{ flavorId, quantity }], dueDate?, notes? }; stock allocated FEFO",
			params: P.createInvoiceParams,
			async handler(ctx: Ctx<P.CreateInvoiceParams>) {
				const { factoryId, shopId, orderId, items, notes } = ctx.params;
				const seen = new Set<string>();
				items.forEach((item, i) => {
					if (seen.has(item.flavorId))
						throw validationError(
							`items[${i}].flavorId`,
							"This flavor is listed twice; give it once with the total quantity.",
							"duplicate",
						);
					seen.add(item.flavorId);
				});
				const asOf = today();
				const dueDate = ctx.params.dueDate ?? addDays(asOf, config().invoiceDueDays);
				if (dueDate < asOf) throw validationError("dueDate", "The due date cannot be in the past.", "date");
				const invoice = await this.transaction(async (t) => {
					const factory = await this.models.Factory.findByPk(factoryId, { transaction: t });
					if (!factory) throw validationError("factoryId", "No factory with this id", "reference");
					assertActsOn(ctx.meta.user, factory);
					const flavors = await this.models.Flavor.findAll({ where: { id: items.map((i) => i.flavorId) }, transaction: t });
					items.forEach((item, i) => {
						const flavor = flavors.find((f) => f.id === item.flavorId);
						if (!flavor) throw validationError(`items[${i}].flavorId`, "No flavor with this id", "reference");
						if (flavor.archivedAt) throw validationError(`items[${i}].flavorId`, "This flavor is archived", "archived");
					});
					if (orderId) {
						await this.assertOrderOf(ctx, orderId, shopId, factoryId);
						const existing = await this.models.Invoice.findOne({ where: { orderId }, transaction: t });
						// The existing invoice's id only when it is this factory's (an older invoice may name someone else's order).
						if (existing)
							throw conflict("This order already has an invoice", "ORDER_ALREADY_INVOICED", {
								field: "orderId",
								...(existing.factoryId === factoryId && { invoiceId: existing.id }),
							});
					}
					return createInvoice(this, t, ctx, {
						factoryId,
						shopId,
						orderId: orderId ?? null,
						sourceEventId: null,
						items,
						dueDate,
						notes: notes ?? null,
						createdBy: ctx.meta.user?.id ?? null,
						asOf,
					});
				});
				respondCreated(ctx, `/api/v1/inventory/invoices/${invoice.id}`);
				return invoiceDetails(this, invoice);
			},
		},

		get: {
			rest: "GET /invoices/:invoiceId",
			roles: READERS,
			retryPolicy: RETRY_READS,
			summary: "Invoice details: lines (backordered flagged) and the batches each line was allocated from",
			params: P.invoiceIdParams,
			async handler(ctx: Ctx<P.InvoiceIdParams>) {
				return invoiceDetails(this, await this.loadInvoice(ctx, ctx.params.invoiceId));
			},
		},

		list: {
			rest: "GET /invoices",
			roles: READERS,
			retryPolicy: RETRY_READS,
			summary:
				"Invoices; filter by factoryId, shopId, status, dueBefore (YYYY-MM-DD). A MANUFACTURER sees their factories' invoices only",
			params: P.listInvoicesParams,
			async handler(ctx: Ctx<P.ListInvoicesParams>) {
				const { factoryId, shopId, status, dueBefore } = ctx.params;
				const and: WhereOptions[] = [];
				const user = ctx.meta.user;
				if (user?.role === "MANUFACTURER") {
					const own = await managedFactoryIds(this.models, user.id);
					if (factoryId && !own.includes(factoryId))
						throw forbidden("Only this factory's manager or an executive may see its invoices");
					and.push({ factoryId: own });
				}
				if (factoryId) and.push({ factoryId });
				if (shopId) and.push({ shopId });
				if (status) and.push({ status });
				if (dueBefore) and.push({ dueDate: { [Op.lt]: dueBefore } });
				const { rows, count } = await this.models.Invoice.findAndCountAll({
					where: { [Op.and]: and },
					...findOptions(ctx.params, "-createdAt"),
				});
				return toPage(rows.map(invoiceSummary), count, ctx.params);
			},
		},

		setStatus: {
			rest: "PUT /invoices/:invoiceId/status",
			roles: READERS,
			audit: true,
			summary:
				"Move an invoice: ISSUED -> PAID | OVERDUE | VOID, OVERDUE -> PAID | VOID; others 409. VOID returns the units to their batches (409 ORDER_SHIPPED once the order is shipped)",
			params: P.statusParams,
			async handler(ctx: Ctx<P.StatusParams>) {
				const { invoiceId, status } = ctx.params;
				await this.loadInvoice(ctx, invoiceId);
				const invoice = await this.transaction(async (t) => {
					const inv = (await this.models.Invoice.findByPk(invoiceId, { transaction: t, lock: t.LOCK.UPDATE }))!;
					if (status === "VOID" && inv.orderId) await this.assertNotShipped(ctx, inv);
					if (!TRANSITIONS[inv.status].includes(status)) {
						throw conflict(`An invoice cannot go from ${inv.status} to ${status}`, "ILLEGAL_TRANSITION", {
							from: inv.status,
							to: status,
							allowed: TRANSITIONS[inv.status],
						});
					}
					await inv.update(
						{ status, ...(status === "PAID" && { paidAt: new Date() }), ...(status === "VOID" && { voidedAt: new Date() }) },
						{ transaction: t },
					);
					if (status === "VOID") await releaseAllocations(this, t, inv, ctx.meta.user?.id ?? null);
					return inv;
				});
				return invoiceDetails(this, invoice);
			},
		},

		// ---- internal (no REST route; trusted callers) ----

		/**
		 * sales records an order SHIPPED only after this marked its invoice (`shipped: true`), under the invoice's row
		 * lock, which a VOID takes as well: a VOID first makes the shipment 409 INVOICE_VOID, a shipment first makes the
		 * VOID 409 ORDER_SHIPPED. `shipped: false` takes the mark back when the order's own write then failed.
		 * An order with no invoice yet has nothing to mark (its invoice, made later, sees the order's status).
		 */
		markShipped: {
			visibility: "public",
			params: P.markShippedParams,
			async handler(this: This, ctx: Ctx<P.MarkShippedParams>) {
				const { orderId, shipped } = ctx.params;
				return this.transaction(async (t) => {
					const inv = await this.models.Invoice.findOne({ where: { orderId }, transaction: t, lock: t.LOCK.UPDATE });
					if (!inv) return { invoiceId: null };
					if (shipped && inv.status === "VOID")
						throw conflict("The order's invoice was voided: it cannot be shipped", "INVOICE_VOID", { invoiceId: inv.id });
					if (shipped !== (inv.shippedAt !== null))
						await inv.update({ shippedAt: shipped ? new Date() : null }, { transaction: t });
					return { invoiceId: inv.id };
				});
			},
		},

		forOrder: {
			visibility: "public",
			params: P.forOrderParams,
			async handler(ctx: Ctx<P.ForOrderParams>) {
				const inv = await this.models.Invoice.findOne({ where: { orderId: ctx.params.orderId } });
				return inv ? invoiceSummary(inv) : null;
			},
		},

		/** The batches the order's (non-void) invoice was allocated, one row per flavor and batch: the lots a delivery brings. */
		allocationsForOrder: {
			visibility: "public",
			params: P.forOrderParams,
			async handler(this: This, ctx: Ctx<P.ForOrderParams>) {
				return this.db.query(
					`SELECT l.flavor_id AS "flavorId", si.id AS "stockItemId", si.batch_id AS "batchLabel", si.factory_id AS "factoryId",
					        to_char(si.expiry_date, 'YYYY-MM-DD') AS "expiryDate", si.cost::float8 AS "unitCost", sum(a.quantity)::int AS quantity
					   FROM inventory.invoices i JOIN inventory.invoice_lines l ON l.invoice_id = i.id
					   JOIN inventory.invoice_allocations a ON a.invoice_line_id = l.id AND a.released_at IS NULL
					   JOIN inventory.stock_items si ON si.id = a.stock_item_id
					  WHERE i.order_id = :orderId AND i.status <> 'VOID'
					  GROUP BY l.flavor_id, si.id ORDER BY l.flavor_id, si.expiry_date, si.production_date, si.created_at, si.id`,
					{ replacements: { orderId: ctx.params.orderId }, type: QueryTypes.SELECT },
				);
			},
		},
	},

	streams: [
		stream({
			group: "inventory.invoices",
			types: ["PURCHASE_ORDER_CREATED"],
			async handler(this: This, events, t: Transaction) {
				for (const event of events) {
					const order = event.data;
					if (await this.models.Invoice.findOne({ where: { orderId: order.orderId }, transaction: t })) continue;
					if (!(await this.models.Factory.findByPk(order.factoryId, { transaction: t }))) {
						this.logger.warn(`Purchase order ${order.orderId} names unknown factory ${order.factoryId}; no invoice`);
						continue;
					}
					const asOf = today();
					await createInvoice(this, t, null, {
						factoryId: order.factoryId,
						shopId: order.shopId,
						orderId: order.orderId,
						sourceEventId: event.id,
						items: order.items,
						dueDate: addDays(asOf, config().invoiceDueDays),
						notes: null,
						createdBy: order.requestedBy ?? null,
						asOf,
					});
				}
			},
		}),
	],

	methods: {
		/**
		 * VOID returns the units to their batches: not once they left the factory, or the shop's lots and the batch would
		 * both hold them (a return is a stock movement of its own). Asked under the invoice's row lock, which markShipped
		 * takes too, so a shipment being recorded (marked, the order not yet SHIPPED) is refused as well; a mark whose
		 * order was then cancelled is stale. 409 ORDER_SHIPPED.
		 */
		async assertNotShipped(this: This, ctx: Ctx<unknown>, inv: Invoice) {
			const order = await call(ctx, "sales.orders.get", { orderId: inv.orderId! });
			if (!order) return;
			const shipped = order.status === "SHIPPED" || order.status === "DELIVERED";
			if (!shipped && (inv.shippedAt === null || order.status === "CANCELLED")) return;
			throw conflict(
				shipped
					? `The order was ${order.status.toLowerCase()}: its invoice cannot be voided`
					: "The order is being shipped: its invoice cannot be voided",
				"ORDER_SHIPPED",
				{ orderStatus: order.status },
			);
		},

		/**
		 * A manual invoice may name only a purchase order of that shop placed with that factory (asked of sales).
		 * Unknown and someone else's orders answer alike, so the check reveals nothing about other factories' orders.
		 */
		async assertOrderOf(ctx: Ctx<unknown>, orderId: string, shopId: string, factoryId: string) {
			const order = await call(ctx, "sales.orders.get", { orderId });
			if (!order || order.shopId !== shopId || order.factoryId !== factoryId)
				throw validationError("orderId", "No purchase order with this id from this shop to this factory", "reference");
		},

		/** The invoice (404 when unknown); a MANUFACTURER of another factory gets 403. */
		async loadInvoice(ctx: Ctx<unknown>, invoiceId: string) {
			const inv = await this.models.Invoice.findByPk(invoiceId);
			if (!inv) throw notFound("Invoice", invoiceId);
			const factory = await this.models.Factory.findByPk(inv.factoryId);
			assertActsOn(ctx.meta.user, factory ?? { managerId: null }, true);
			return inv;
		},
	},
};

export default defineService(schema);
