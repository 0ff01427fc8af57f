/**
 * sales.quarantine: cold-chain holds on a shop's lots (issue #15, docs/sales.md "Cold chain").
 * Consumes COLD_CHAIN_EXCURSION durably (group "sales.cold-chain"): the excursion freezer's
 * shop gets QUARANTINED on its sellable lots in that freezer and on its lots assigned to no
 * freezer (a lot without a freezer is presumed to be in every freezer of its shop). The POS
 * sells only SELLABLE lots. The shop's manager or an EXECUTIVE then releases lots after
 * inspection or writes them off (STOCK_WRITTEN_OFF through the outbox, totals kept).
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes, type Transaction } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { OutboxMixin, type OutboxThis } from "../../mixins/outbox.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { CacheCleaner, type CacheCleanerThis } from "../../mixins/cache-cleaner.mixin";
import { EventStreamMixin, stream } from "../../mixins/event-stream.mixin";
import { conflict, forbidden, notFound, validationError } from "../../lib/errors";
import { RETRY_READS } from "../../lib/actions";
import type { Ctx } from "../../lib/types";
import { defineSalesModels, type SalesModels } from "./sales.model";
import { shopForCaller, type ShopRow } from "./access";
import { applyChanges, lockStock, planChange, type StockRow } from "./stock";
import * as P from "./cold-chain.params";
import { recordWriteOffs } from "./lots";
import { defineService, type ServiceDefinition } from "../../lib/service";
import { call } from "../../lib/contracts";

export interface LotRow {
	id: string;
	flavorId: string;
	batchId: string | null;
	batchLabel: string | null;
	expiryDate: string | null;
	unitCost: number;
	quantity: number;
	status: (typeof P.LOT_STATUSES)[number];
	freezerId: string | null;
	receivedAt: Date;
}

interface Methods {
	managedShop(ctx: Ctx<unknown>, shopId: string): Promise<ShopRow>;
	lockLots(t: Transaction, shopId: string, lotIds: string[]): Promise<{ stock: Map<string, StockRow>; lots: LotRow[] }>;
}
type This = Service & DbThis<SalesModels> & OutboxThis & CacheCleanerThis & Methods;

export const LOT_COLUMNS = `id, flavor_id AS "flavorId", stock_item_id AS "batchId", batch_label AS "batchLabel", to_char(expiry_date, 'YYYY-MM-DD') AS "expiryDate",
	unit_cost::float8 AS "unitCost", quantity, status, freezer_id AS "freezerId", received_at AS "receivedAt"`;

const lotView = (l: LotRow) => ({ ...l, receivedAt: l.receivedAt.toISOString() });

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "sales.quarantine",
	mixins: [DbMixin({ schema: "sales", models: defineSalesModels }), OutboxMixin, AuditMixin, CacheCleaner(["sales"]), EventStreamMixin],
	settings: { rest: "/sales" },

	actions: {
		listLots: {
			rest: "GET /shops/:shopId/lots",
			roles: ["CLERK", "EXECUTIVE", "ADMIN"],
			retryPolicy: RETRY_READS,
			summary: "The shop's lots (batch, expiry, quantity, status, freezer), earliest expiry first; ?status= (Clerk+ of the shop)",
			params: P.listLotsParams,
			async handler(ctx: Ctx<P.ListLotsParams>) {
				const shop = await shopForCaller(this.db, ctx, ctx.params.shopId);
				const rows = await this.db.query<LotRow>(
					`SELECT ${LOT_COLUMNS} FROM sales.stock_lots WHERE shop_id = :shopId AND (:status::text IS NULL OR status = :status)
					 ORDER BY flavor_id, expiry_date NULLS LAST, received_at, id`,
					{ replacements: { shopId: shop.id, status: ctx.params.status ?? null }, type: QueryTypes.SELECT },
				);
				return { shopId: shop.id, lots: rows.map(lotView) };
			},
		},

		placeLot: {
			rest: "PUT /shops/:shopId/lots/:lotId/freezer",
			roles: ["CLERK", "EXECUTIVE"],
			audit: true,
			summary:
				"Put a lot in one of the shop's freezers ({ freezerId }; null: not assigned, presumed in every freezer of the shop) (manager or EXECUTIVE)",
			params: P.placeLotParams,
			async handler(ctx: Ctx<P.PlaceLotParams>) {
				const shop = await this.managedShop(ctx, ctx.params.shopId);
				const freezerId = ctx.params.freezerId ?? null;
				if (freezerId) {
					const freezer = await call(ctx, "inventory.freezers.resolve", { freezerId });
					if (freezer?.shopId !== shop.id) throw validationError("freezerId", "Not a freezer of this shop", "reference");
				}
				const [lot] = await this.db.query<LotRow>(
					`UPDATE sales.stock_lots SET freezer_id = :freezerId, updated_at = now() WHERE id = :lotId AND shop_id = :shopId RETURNING ${LOT_COLUMNS}`,
					{
						replacements: { lotId: ctx.params.lotId, shopId: shop.id, freezerId },
						type: QueryTypes.SELECT,
					},
				);
				if (!lot) throw notFound("Lot", ctx.params.lotId);
				return lotView(lot);
			},
		},

		release: {
			rest: "POST /shops/:shopId/lots/release",
			roles: ["CLERK", "EXECUTIVE"],
			status: 200,
			audit: true,
			summary:
				"Release quarantined lots after inspection: they are SELLABLE again (the shop's manager or an EXECUTIVE); a lot not QUARANTINED is 409",
			params: P.releaseLotsParams,
			async handler(ctx: Ctx<P.ReleaseLotsParams>) {
				const shop = await this.managedShop(ctx, ctx.params.shopId);
				const lots = await this.transaction(async (t) => {
					const { lots: locked } = await this.lockLots(t, shop.id, ctx.params.lotIds);
					const held = locked.filter((l) => l.status !== "QUARANTINED");
					if (held.length)
						throw conflict("Only quarantined lots can be released", "LOT_NOT_QUARANTINED", {
							lots: held.map((l) => ({ lotId: l.id, status: l.status })),
						});
					return this.db.query<LotRow>(
						`UPDATE sales.stock_lots SET status = 'SELLABLE', updated_at = now() WHERE id IN (:ids) RETURNING ${LOT_COLUMNS}`,
						{
							replacements: { ids: ctx.params.lotIds },
							type: QueryTypes.SELECT,
							transaction: t,
						},
					);
				});
				await this.cleanCache("sales");
				return { shopId: shop.id, lots: lots.map(lotView) };
			},
		},

		writeOff: {
			rest: "POST /shops/:shopId/lots/write-off",
			roles: ["CLERK", "EXECUTIVE"],
			status: 200,
			audit: true,
			summary:
				"Write lots off ({ lotIds, reason: QUARANTINE|DAMAGE }): their whole quantity leaves the shop's stock; STOCK_WRITTEN_OFF per lot (manager or EXECUTIVE)",
			params: P.writeOffLotsParams,
			async handler(ctx: Ctx<P.WriteOffLotsParams>) {
				const shop = await this.managedShop(ctx, ctx.params.shopId);
				const { reason } = ctx.params;
				const written = await this.transaction(async (t) => {
					const { stock, lots: locked } = await this.lockLots(t, shop.id, ctx.params.lotIds);
					const lots = locked.filter((l) => l.quantity > 0);
					const byFlavor = new Map<string, number>();
					for (const l of lots) byFlavor.set(l.flavorId, (byFlavor.get(l.flavorId) ?? 0) + l.quantity);
					const changes = [...byFlavor.entries()]
						.sort(([a], [b]) => a.localeCompare(b))
						.map(([flavorId, gone]) =>
							planChange(flavorId, stock.get(flavorId), Math.max(0, (stock.get(flavorId)?.quantity ?? 0) - gone)),
						);
					if (lots.length)
						await this.db.query(`UPDATE sales.stock_lots SET quantity = 0, updated_at = now() WHERE id IN (:ids)`, {
							replacements: { ids: lots.map((l) => l.id) },
							transaction: t,
						});
					// The batch trace counts these units as written off (sales.lots.trace reads lot_ledger).
					await recordWriteOffs(
						this.db,
						t,
						shop.id,
						lots.map((l) => ({
							lotId: l.id,
							flavorId: l.flavorId,
							stockItemId: l.batchId,
							quantity: l.quantity,
							unitCost: l.unitCost,
						})),
						{ reason, referenceId: null, actorId: ctx.meta.user?.id ?? null },
					);
					await applyChanges(this.db, t, shop.id, changes, {
						reason: "WASTE",
						referenceId: null,
						actorId: ctx.meta.user?.id ?? null,
						note: `Lots written off: ${reason}`,
					});
					const at = new Date().toISOString();
					for (const l of lots) {
						await this.publish(
							t,
							ctx,
							"STOCK_WRITTEN_OFF",
							{
								batchId: l.batchId,
								shopId: shop.id,
								factoryId: null,
								flavorId: l.flavorId,
								quantity: l.quantity,
								reason,
								costCents: l.quantity * l.unitCost,
								at,
							},
							shop.id,
						);
					}
					for (const c of changes.filter((c) => c.crossedLow)) {
						await this.publish(
							t,
							ctx,
							"INVENTORY_LOW",
							{ shopId: shop.id, flavorId: c.flavorId, quantity: c.after, reorderThreshold: c.reorderThreshold },
							shop.id,
						);
					}
					return lots;
				});
				await this.cleanCache("sales");
				return {
					shopId: shop.id,
					reason,
					lots: written.map((l) => ({
						lotId: l.id,
						flavorId: l.flavorId,
						batchId: l.batchId,
						quantity: l.quantity,
						costCents: l.quantity * l.unitCost,
					})),
				};
			},
		},
	},

	streams: [
		stream({
			group: "sales.cold-chain",
			types: ["COLD_CHAIN_EXCURSION"],
			async handler(this: This, events, t: Transaction) {
				let changed = 0;
				for (const { data } of events) {
					if (!data.shopId) continue;
					// The flavors' stock rows first, as every stock writer does (the POS included), then the lots in id order: no deadlocks.
					await this.db.query(
						`SELECT 1 FROM sales.shop_inventory WHERE shop_id = :shopId AND flavor_id IN (
						   SELECT flavor_id FROM sales.stock_lots WHERE shop_id = :shopId AND (freezer_id = :freezerId OR freezer_id IS NULL) AND status = 'SELLABLE' AND quantity > 0)
						 ORDER BY flavor_id FOR UPDATE`,
						{ replacements: { shopId: data.shopId, freezerId: data.freezerId }, type: QueryTypes.SELECT, transaction: t },
					);
					const [, count] = await this.db.query(
						`UPDATE sales.stock_lots SET status = 'QUARANTINED', updated_at = now()
						  WHERE id IN (SELECT id FROM sales.stock_lots WHERE shop_id = :shopId AND (freezer_id = :freezerId OR freezer_id IS NULL)
						                 AND status = 'SELLABLE' AND quantity > 0 ORDER BY id FOR UPDATE)`,
						{ replacements: { shopId: data.shopId, freezerId: data.freezerId }, type: QueryTypes.UPDATE, transaction: t },
					);
					changed += count;
				}
				if (changed) t.afterCommit(() => void this.cleanCache("sales"));
			},
		}),
	],

	methods: {
		/** The shop, for its manager (a CLERK who manages it) or an EXECUTIVE; other staff 403. */
		async managedShop(ctx: Ctx<unknown>, shopId: string) {
			const shop = await shopForCaller(this.db, ctx, shopId, ["EXECUTIVE"]);
			const user = ctx.meta.user;
			if (user && user.role !== "EXECUTIVE" && shop.managerId !== user.id)
				throw forbidden("Only the shop's manager or an executive may do this");
			return shop;
		},

		/**
		 * The shop's lots with these ids (an id that is not the shop's is 404), locked as every stock writer
		 * locks (the POS included): their flavors' stock rows first, in flavor order, then the lots in id order.
		 */
		async lockLots(t: Transaction, shopId: string, lotIds: string[]) {
			const flavors = await this.db.query<{ flavorId: string }>(
				`SELECT DISTINCT flavor_id AS "flavorId" FROM sales.stock_lots WHERE shop_id = :shopId AND id IN (:ids)`,
				{
					replacements: { shopId, ids: lotIds },
					type: QueryTypes.SELECT,
					transaction: t,
				},
			);
			const stock = await lockStock(this.db, t, shopId, flavors.map((f) => f.flavorId).sort());
			const rows = await this.db.query<LotRow>(
				`SELECT ${LOT_COLUMNS} FROM sales.stock_lots WHERE shop_id = :shopId AND id IN (:ids) ORDER BY id FOR UPDATE`,
				{
					replacements: { shopId, ids: lotIds },
					type: QueryTypes.SELECT,
					transaction: t,
				},
			);
			const missing = lotIds.find((id) => !rows.some((r) => r.id === id));
			if (missing) throw notFound("Lot", missing);
			return { stock, lots: rows };
		},
	},
};

export default defineService(schema);
