/**
 * inventory.stock: a factory's stock batches (docs/spec.md section 3, "Stock Management").
 * Only the factory's MANUFACTURER or an EXECUTIVE registers, reads and changes them.
 * Every quantity change is a movement with a reason; removal is soft; a write-off counts as waste.
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { Op, type Transaction, type WhereOptions } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { OutboxMixin, type OutboxThis } from "../../mixins/outbox.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { conflict, notFound, validationError } from "../../lib/errors";
import { findOptions, toPage } from "../../lib/pagination";
import { RETRY_READS, respondCreated, respondNoContent } from "../../lib/actions";
import { config } from "../../lib/config";
import type { Role, Ctx } from "../../lib/types";
import { defineInventoryModels, type InventoryModels, type StockItem } from "./inventory.model";
import { assertActsOn, loadActingFactory } from "./access";
import { today } from "./dates";
import { moveStock, movementView, stockView } from "./stock";
import * as P from "./stock.params";
import { defineService, type ServiceDefinition } from "../../lib/service";

interface Methods {
	loadItem(ctx: Ctx<unknown>, itemId: string, t?: Transaction): Promise<StockItem>;
	view(item: StockItem): ReturnType<typeof stockView>;
}
type This = Service & DbThis<InventoryModels> & OutboxThis & Methods;

const ACTORS: Role[] = ["MANUFACTURER", "EXECUTIVE"];

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "inventory.stock",
	mixins: [DbMixin({ schema: "inventory", models: defineInventoryModels }), OutboxMixin, AuditMixin],
	settings: { rest: "/inventory" },

	actions: {
		register: {
			rest: "POST /factories/:factoryId/stock-items",
			roles: ACTORS,
			audit: true,
			summary: "Register a produced batch: { flavorId, batchId, quantity, cost (cents per unit), productionDate, expiryDate }",
			params: P.registerParams,
			async handler(ctx: Ctx<P.RegisterParams>) {
				const { factoryId, flavorId, batchId, quantity, cost, productionDate, expiryDate } = ctx.params;
				if (expiryDate <= productionDate)
					throw validationError("expiryDate", "The expiry date must be after the production date.", "dateOrder");
				const item = await this.transaction(async (t) => {
					await loadActingFactory(this.models, factoryId, ctx.meta.user, { transaction: t });
					const flavor = await this.models.Flavor.findByPk(flavorId, { transaction: t });
					if (!flavor) throw validationError("flavorId", "No flavor with this id", "reference");
					if (flavor.archivedAt) throw validationError("flavorId", "This flavor is archived", "archived");
					if (await this.models.StockItem.findOne({ where: { factoryId, batchId }, paranoid: false, transaction: t })) {
						throw conflict("This factory already has a batch with this batchId", "DUPLICATE_BATCH", { field: "batchId" });
					}
					const created = await this.models.StockItem.create(
						{
							factoryId,
							flavorId,
							batchId,
							initialQuantity: quantity,
							quantity: 0,
							cost,
							productionDate,
							expiryDate,
							warningDays: null,
							writtenOffAt: null,
							createdBy: ctx.meta.user?.id ?? null,
						},
						{ transaction: t },
					);
					await moveStock(this.models, t, created, {
						kind: "PRODUCTION",
						delta: quantity,
						reason: "Batch registered",
						actorId: ctx.meta.user?.id ?? null,
					});
					await this.publish(
						t,
						ctx,
						"STOCK_REGISTERED",
						{ stockItemId: created.id, factoryId, flavorId, batchId, quantity, cost, productionDate, expiryDate },
						factoryId,
					);
					return created;
				});
				respondCreated(ctx, `/api/v1/inventory/stock-items/${item.id}`);
				return this.view(item);
			},
		},

		list: {
			rest: "GET /factories/:factoryId/stock-items",
			roles: ACTORS,
			access: { factory: "factoryId" },
			retryPolicy: RETRY_READS,
			summary: "The factory's batches; filter by flavorId, batchId, expiringBefore (YYYY-MM-DD), inStock",
			params: P.listParams,
			async handler(ctx: Ctx<P.ListParams>) {
				const { factoryId, flavorId, batchId, expiringBefore, inStock } = ctx.params;
				const where: WhereOptions = { factoryId };
				if (flavorId) Object.assign(where, { flavorId });
				if (batchId) Object.assign(where, { batchId });
				if (expiringBefore) Object.assign(where, { expiryDate: { [Op.lt]: expiringBefore } });
				if (inStock !== undefined) Object.assign(where, { quantity: inStock ? { [Op.gt]: 0 } : 0 });
				const { rows, count } = await this.models.StockItem.findAndCountAll({ where, ...findOptions(ctx.params, "expiryDate") });
				return toPage(
					rows.map((r) => this.view(r)),
					count,
					ctx.params,
				);
			},
		},

		get: {
			rest: "GET /stock-items/:itemId",
			roles: ACTORS,
			retryPolicy: RETRY_READS,
			summary: "One batch with its movements (newest first)",
			params: P.itemIdParams,
			async handler(ctx: Ctx<P.ItemIdParams>) {
				const item = await this.loadItem(ctx, ctx.params.itemId);
				const movements = await this.models.StockMovement.findAll({
					where: { stockItemId: item.id },
					order: [["createdAt", "DESC"]],
					limit: 100,
				});
				return { ...this.view(item), movements: movements.map(movementView) };
			},
		},

		update: {
			rest: "PUT /stock-items/:itemId",
			roles: ACTORS,
			audit: true,
			summary: "Change a batch's quantity (recorded as a movement; `reason` required), cost or expiryDate",
			params: P.updateParams,
			async handler(ctx: Ctx<P.UpdateParams>) {
				const { itemId, quantity, cost, expiryDate, reason } = ctx.params;
				const item = await this.transaction(async (t) => {
					const found = await this.loadItem(ctx, itemId, t);
					if (expiryDate !== undefined && expiryDate <= found.productionDate)
						throw validationError("expiryDate", "The expiry date must be after the production date.", "dateOrder");
					if (quantity !== undefined && quantity !== found.quantity) {
						if (!reason) throw validationError("reason", "A reason is required when the quantity changes.", "required");
						await moveStock(this.models, t, found, {
							kind: "ADJUSTMENT",
							delta: quantity - found.quantity,
							reason,
							actorId: ctx.meta.user?.id ?? null,
						});
					}
					const changes = { ...(cost !== undefined && { cost }), ...(expiryDate !== undefined && { expiryDate }) };
					if (Object.keys(changes).length) await found.update(changes, { transaction: t });
					return found;
				});
				return this.view(item);
			},
		},

		remove: {
			rest: "DELETE /stock-items/:itemId",
			roles: ACTORS,
			audit: true,
			summary: "Remove a batch from the inventory (soft; its remaining units are recorded as removed). 204",
			params: P.removeParams,
			async handler(ctx: Ctx<P.RemoveParams>) {
				await this.transaction(async (t) => {
					const item = await this.loadItem(ctx, ctx.params.itemId, t);
					await moveStock(this.models, t, item, {
						kind: "REMOVAL",
						delta: -item.quantity,
						reason: ctx.params.reason ?? "Removed from inventory",
						actorId: ctx.meta.user?.id ?? null,
					});
					await item.destroy({ transaction: t });
				});
				return respondNoContent(ctx);
			},
		},

		expiry: {
			rest: "POST /stock-items/:itemId/expiry",
			status: 200,
			roles: ACTORS,
			audit: true,
			summary:
				"Set the batch's expiry warning window ({ warningDays }) and/or write units off ({ writeOff: true, reason, quantity?, cause? }: counts as waste, STOCK_WRITTEN_OFF at cost)",
			params: P.expiryParams,
			async handler(ctx: Ctx<P.ExpiryParams>) {
				const { itemId, warningDays, writeOff, quantity, reason, cause } = ctx.params;
				if (warningDays === undefined && !writeOff)
					throw validationError("writeOff", "Give warningDays and/or writeOff: true.", "required");
				if (writeOff && !reason) throw validationError("reason", "A reason is required to write off stock.", "required");
				const item = await this.transaction(async (t) => {
					const found = await this.loadItem(ctx, itemId, t);
					if (warningDays !== undefined) await found.update({ warningDays }, { transaction: t });
					if (writeOff) {
						if (found.quantity === 0)
							throw conflict("This batch has no units left to write off", "NOTHING_TO_WRITE_OFF", { itemId });
						const units = quantity ?? found.quantity;
						if (units > found.quantity)
							throw validationError("quantity", `Only ${found.quantity} units are left in this batch.`, "max");
						const writtenOffAt = units === found.quantity ? new Date() : found.writtenOffAt;
						await moveStock(this.models, t, found, {
							kind: "WRITE_OFF",
							delta: -units,
							reason: reason!,
							actorId: ctx.meta.user?.id ?? null,
							extra: { writtenOffAt },
						});
						// Waste as analytics counts it: the units at the batch's cost, from inventory's outbox (source "inventory").
						await this.publish(
							t,
							ctx,
							"STOCK_WRITTEN_OFF",
							{
								batchId: found.id,
								shopId: null,
								factoryId: found.factoryId,
								flavorId: found.flavorId,
								quantity: units,
								reason: cause ?? (found.expiryDate <= today() ? "EXPIRY" : "DAMAGE"),
								costCents: units * Number(found.cost),
								at: new Date().toISOString(),
							},
							found.id,
						);
					}
					return found;
				});
				return this.view(item);
			},
		},
	},

	methods: {
		/** The batch (404 when unknown or removed), after checking the caller may act on its factory (403). */
		async loadItem(ctx: Ctx<unknown>, itemId: string, t?: Transaction) {
			const item = await this.models.StockItem.findByPk(itemId, { transaction: t, lock: t ? t.LOCK.UPDATE : undefined });
			if (!item) throw notFound("Stock item", itemId);
			const factory = await this.models.Factory.findByPk(item.factoryId, { transaction: t });
			if (!factory) throw notFound("Stock item", itemId);
			assertActsOn(ctx.meta.user, factory);
			return item;
		},
		view(item: StockItem) {
			return stockView(item, today(), config().expiryWarningDays);
		},
	},
};

export default defineService(schema);
