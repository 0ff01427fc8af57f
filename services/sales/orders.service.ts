/**
 * sales.orders: purchase orders from a shop to a factory and their status
 * (PENDING → CONFIRMED → SHIPPED → DELIVERED, or CANCELLED). DELIVERED adds the
 * quantities to the shop's stock in the same transaction, as lots: the batches the factory's
 * invoice allocated (asked of inventory.invoices.allocationsForOrder), the rest UNTRACKED. Links invoices from INVOICE_GENERATED (durable stream).
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import type { Transaction } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { OutboxMixin, type OutboxThis } from "../../mixins/outbox.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { EventStreamMixin, stream } from "../../mixins/event-stream.mixin";
import { CacheCleaner, type CacheCleanerThis } from "../../mixins/cache-cleaner.mixin";
import { conflict, forbidden, notFound, unauthorized, validationError } from "../../lib/errors";
import { findOptions, toPage } from "../../lib/pagination";
import { RETRY_READS, respondCreated } from "../../lib/actions";
import type { Ctx } from "../../lib/types";
import { defineSalesModels, OrderSchema, toOrderJson, type SalesModels } from "./sales.model";
import { r } from "../../lib/response";
import { findShop } from "./access";
import { assertFlavors, getFlavors, resolveFactory } from "./catalog";
import { applyChanges, lockStock, planChange } from "./stock";
import { deliveredLots, receiveLots } from "./lots";
import { SettingsMixin } from "../../mixins/settings.mixin";
import { settingsOf } from "../../lib/settings";
import { isLegal, mayTransition, type OrderParty } from "./orders";
import * as P from "./sales.params";
import { defineService, type ServiceDefinition } from "../../lib/service";
import { call, type Params, type Result } from "../../lib/contracts";

type This = Service & DbThis<SalesModels> & OutboxThis & CacheCleanerThis;

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "sales.orders",
	mixins: [
		DbMixin({ schema: "sales", models: defineSalesModels }),
		OutboxMixin,
		AuditMixin,
		EventStreamMixin,
		CacheCleaner([]),
		SettingsMixin,
	],
	settings: { rest: "/sales" },

	actions: {
		create: {
			rest: "POST /shops/:shopId/purchase-orders",
			response: OrderSchema,
			roles: ["CLERK", "EXECUTIVE"],
			access: { shop: "shopId", wide: ["EXECUTIVE"] },
			audit: true,
			summary: "Order stock from a factory (Clerk of the shop, or Executive); starts PENDING",
			params: P.createOrderParams,
			async handler(ctx: Ctx<P.CreateOrderParams>) {
				const { shopId, factoryId, items } = ctx.params;
				const seen = new Set<string>();
				items.forEach((item, i) => {
					if (seen.has(item.flavorId)) throw validationError(`items[${i}].flavorId`, "Flavor listed twice", "duplicate");
					seen.add(item.flavorId);
				});
				const factory = await resolveFactory(ctx, factoryId);
				if (!factory) throw validationError("factoryId", `Unknown factory ${factoryId}`, "unknownFactory");
				assertFlavors(
					items,
					await getFlavors(
						ctx,
						items.map((i) => i.flavorId),
					),
				);
				// Internal callers (seeding, REPL) pass the acting user in meta like the gateway does.
				const by = ctx.meta.user?.id;
				if (!by) throw unauthorized("A purchase order needs the requesting user");
				const order = await this.transaction(async (t) => {
					const created = await this.models.Order.create(
						{
							shopId,
							factoryId,
							items: items.map(({ flavorId, quantity }) => ({ flavorId, quantity })),
							requestedBy: by,
							history: [{ status: "PENDING", by, at: new Date().toISOString() }],
						},
						{ transaction: t },
					);
					await this.publish(
						t,
						ctx,
						"PURCHASE_ORDER_CREATED",
						{
							orderId: created.id,
							shopId,
							factoryId,
							items: created.items,
							requestedBy: created.requestedBy,
							createdAt: created.createdAt.toISOString(),
						},
						shopId,
					);
					return created;
				});
				respondCreated(ctx, `/api/v1/sales/shops/${shopId}/orders`);
				return toOrderJson(order);
			},
		},

		list: {
			rest: "GET /shops/:shopId/orders",
			response: r.page(OrderSchema),
			roles: ["CLERK", "EXECUTIVE", "ADMIN"],
			access: { shop: "shopId" },
			retryPolicy: RETRY_READS,
			summary: "The shop's purchase orders, paginated; filter by status (Clerk+ of the shop)",
			params: P.listOrdersParams,
			async handler(ctx: Ctx<P.ListOrdersParams>) {
				const where = { shopId: ctx.params.shopId, ...(ctx.params.status && { status: ctx.params.status }) };
				const { rows, count } = await this.models.Order.findAndCountAll({ where, ...findOptions(ctx.params, "-createdAt") });
				return toPage(rows.map(toOrderJson), count, ctx.params);
			},
		},

		setStatus: {
			rest: "PUT /orders/:orderId/status",
			response: OrderSchema,
			roles: ["CLERK", "MANUFACTURER", "EXECUTIVE", "ADMIN"],
			audit: true,
			summary:
				"Move an order along PENDING → CONFIRMED → SHIPPED → DELIVERED (or CANCELLED); illegal moves are 409, and so is shipping an order whose invoice was voided (INVOICE_VOID)",
			params: P.orderStatusParams,
			async handler(ctx: Ctx<P.OrderStatusParams>) {
				const { orderId, status } = ctx.params;
				const user = ctx.meta.user;
				const peek = await this.models.Order.findByPk(orderId);
				if (!peek) throw notFound("Order", orderId);
				// Who is asking: the factory's manager, the shop's staff, or an executive. Anyone else may not see the order.
				let party: OrderParty | null = null;
				if (!user || user.role === "EXECUTIVE" || user.role === "ADMIN") party = "EXECUTIVE";
				else if (user.role === "MANUFACTURER")
					party = (await resolveFactory(ctx, peek.factoryId))?.managerId === user.id ? "FACTORY" : null;
				else if (user.role === "CLERK")
					party = (await findShop(this.db, peek.shopId, user.id).catch(() => null))?.isStaff ? "SHOP" : null;
				if (!party) throw notFound("Order", orderId);

				// What the factory allocated to this order (its invoice's FEFO batches), asked of inventory: the lots the shop receives.
				const allocation = status === "DELIVERED" ? await call(ctx, "inventory.invoices.allocationsForOrder", { orderId }) : [];
				let delivered = false;
				let markedShipped = false;
				const order = await this.transaction(async (t) => {
					const o = await this.models.Order.findByPk(orderId, { lock: t.LOCK.UPDATE, transaction: t });
					if (!o) throw notFound("Order", orderId);
					if (!isLegal(o.status, status))
						throw conflict(`An order cannot go from ${o.status} to ${status}`, "ILLEGAL_TRANSITION", {
							from: o.status,
							to: status,
						});
					if (!mayTransition(party!, o.status, status))
						throw forbidden(`You may not move this order from ${o.status} to ${status}`);
					// The invoice is marked shipped first, under its own row lock (a VOID takes it too): 409 INVOICE_VOID if it
					// was voided (its units went back to the batches); once marked, it can no longer be voided.
					if (status === "SHIPPED") {
						await call(ctx, "inventory.invoices.markShipped", { orderId, shipped: true });
						markedShipped = true;
					}
					if (status === "DELIVERED") {
						const { lowStockThreshold } = settingsOf(this.broker).settings;
						const sorted = [...o.items].sort((a, b) => a.flavorId.localeCompare(b.flavorId));
						const rows = await lockStock(
							this.db,
							t,
							o.shopId,
							sorted.map((i) => i.flavorId),
						);
						const changes = sorted.map((i) =>
							planChange(
								i.flavorId,
								rows.get(i.flavorId),
								(rows.get(i.flavorId)?.quantity ?? 0) + i.quantity,
								undefined,
								lowStockThreshold,
							),
						);
						await applyChanges(this.db, t, o.shopId, changes, {
							reason: "DELIVERY",
							referenceId: o.id,
							actorId: user?.id ?? null,
						});
						await receiveLots(this.db, t, o.shopId, deliveredLots(sorted, allocation), {
							reason: "DELIVERY",
							referenceId: o.id,
							actorId: user?.id ?? null,
						});
						delivered = true;
					}
					await o.update(
						{ status, history: [...o.history, { status, by: user?.id ?? null, at: new Date().toISOString() }] },
						{ transaction: t },
					);
					return o;
				}).catch(async (err: unknown) => {
					// The order stays unshipped: its invoice's mark goes too (best effort; a stale mark only blocks voiding it
					// until the order ships or is cancelled).
					if (markedShipped)
						await call(ctx, "inventory.invoices.markShipped", { orderId, shipped: false }).catch((e: Error) =>
							this.logger.warn(`Order ${orderId}: taking back its invoice's shipped mark failed:`, e.message),
						);
					throw err;
				});
				if (delivered) await this.cleanCache("sales");
				return toOrderJson(order);
			},
		},

		get: {
			visibility: "public",
			params: { orderId: "uuid" },
			async handler(ctx: Ctx<Params<"sales.orders.get">>): Promise<Result<"sales.orders.get">> {
				const order = await this.models.Order.findByPk(ctx.params.orderId);
				return order ? toOrderJson(order) : null;
			},
		},
	},

	streams: [
		stream({
			group: "sales.orders.invoice-link",
			types: ["INVOICE_GENERATED"],
			async handler(this: This, events, t: Transaction) {
				for (const event of events) {
					if (event.data.orderId)
						await this.models.Order.update(
							{ invoiceId: event.data.invoiceId },
							{ where: { id: event.data.orderId }, transaction: t },
						);
				}
			},
		}),
	],
};

export default defineService(schema);
