/**
 * sales.inventory: a shop's stock (Clerk+ of the shop) and its public menu
 * (cached; cleaned on shop, stock or catalog changes). docs/spec.md section 2, "Shop Operations".
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { OutboxMixin, type OutboxThis } from "../../mixins/outbox.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { CacheCleaner, type CacheCleanerThis } from "../../mixins/cache-cleaner.mixin";
import { validationErrors, type FieldIssue } from "../../lib/errors";
import { RETRY_READS } from "../../lib/actions";
import type { Ctx } from "../../lib/types";
import { defineSalesModels, type SalesModels } from "./sales.model";
import { findShop } from "./access";
import { getFlavors } from "./catalog";
import { applyChanges, lockStock, planChange } from "./stock";
import { lotsOf, markedDown, receiveLots, sellableOf, takeLots, writeOffReason } from "./lots";
import { SettingsMixin } from "../../mixins/settings.mixin";
import { settingsOf } from "../../lib/settings";
import * as P from "./sales.params";
import { defineService, type ServiceDefinition } from "../../lib/service";
import type { Params, Result } from "../../lib/contracts";

interface Methods {
	inventoryOf(ctx: Ctx<unknown>, shopId: string): Promise<Result<"sales.inventory.get">>;
}
type This = Service & DbThis<SalesModels> & OutboxThis & CacheCleanerThis & Methods;

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "sales.inventory",
	mixins: [
		DbMixin({ schema: "sales", models: defineSalesModels }),
		OutboxMixin,
		AuditMixin,
		CacheCleaner(["sales", "inventory"]),
		SettingsMixin,
	],
	settings: { rest: "/sales" },

	actions: {
		menu: {
			rest: "GET /shops/:shopId/menu",
			auth: "public",
			cache: { keys: ["shopId", "excludeAllergens", "category", "includeUnavailable"] },
			retryPolicy: RETRY_READS,
			summary:
				"What a patron can buy now: flavors with sellable stock, price (and the expiry markdown price when the next lot is in its window), allergens, category; filter ?excludeAllergens=nuts,milk&category=SORBET",
			params: P.menuParams,
			async handler(ctx: Ctx<P.MenuParams>) {
				const shop = await findShop(this.db, ctx.params.shopId, null);
				const stock = await this.db.query<{ flavorId: string; quantity: number }>(
					`SELECT flavor_id AS "flavorId", quantity FROM sales.shop_inventory WHERE shop_id = :shopId`,
					{ replacements: { shopId: shop.id }, type: QueryTypes.SELECT },
				);
				const [flavors, sellable] = await Promise.all([
					getFlavors(
						ctx,
						stock.map((s) => s.flavorId),
					),
					sellableOf(this.db, shop.id),
				]);
				const excluded = new Set((ctx.params.excludeAllergens ?? "").split(",").filter(Boolean));
				const category = ctx.params.category?.toLowerCase();
				const items = stock
					.map((s) => ({ s, f: flavors.get(s.flavorId) }))
					.map(({ s, f }) => ({ s, f, lots: sellable.get(s.flavorId) }))
					.filter(({ f, lots }) => f && !f.archived && (ctx.params.includeUnavailable || (lots?.sellable ?? 0) > 0))
					.filter(({ f }) => !f!.allergens.some((a) => excluded.has(a)))
					.filter(({ f }) => !category || f!.category.toLowerCase() === category)
					.map(({ f, lots }) => ({
						flavorId: f!.id,
						name: f!.name,
						description: f!.description ?? null,
						category: f!.category,
						price: f!.price,
						allergens: f!.allergens,
						images: f!.images ?? [],
						available: (lots?.sellable ?? 0) > 0,
						// The lot the next scoop comes from (FEFO) is in its expiry markdown window: the POS charges this price.
						markdown: lots?.percentOff
							? { percentOff: lots.percentOff, price: markedDown(f!.price, lots.percentOff), quantity: lots.markdownQuantity }
							: null,
					}))
					.sort((a, b) => a.name.localeCompare(b.name));
				return { shopId: shop.id, shopName: shop.name, status: shop.status, items };
			},
		},

		get: {
			rest: "GET /shops/:shopId/inventory",
			roles: ["CLERK", "EXECUTIVE", "ADMIN"],
			access: { shop: "shopId" },
			retryPolicy: RETRY_READS,
			summary:
				"The shop's stock levels and reorder thresholds, with each flavor's lots (batch, expiry, quantity, status) (Clerk+ of the shop)",
			params: P.shopIdParams,
			async handler(ctx: Ctx<Params<"sales.inventory.get">>): Promise<Result<"sales.inventory.get">> {
				return this.inventoryOf(ctx, ctx.params.shopId);
			},
		},

		set: {
			rest: "PUT /shops/:shopId/inventory",
			roles: ["CLERK", "EXECUTIVE", "ADMIN"],
			access: { shop: "shopId" },
			audit: true,
			summary:
				"Set stock levels (count, waste, correction, restock); each change is a stock movement; an increase goes to the UNTRACKED lot, a decrease is written off earliest-expiring lot first (STOCK_WRITTEN_OFF)",
			params: P.setInventoryParams,
			async handler(ctx: Ctx<P.SetInventoryParams>) {
				const { shopId, items, reason, note } = ctx.params;
				const issues: FieldIssue[] = [];
				const seen = new Set<string>();
				items.forEach((item, i) => {
					if (seen.has(item.flavorId))
						issues.push({ field: `items[${i}].flavorId`, message: "Flavor listed twice", type: "duplicate" });
					seen.add(item.flavorId);
				});
				const flavors = await getFlavors(
					ctx,
					items.map((i) => i.flavorId),
				);
				items.forEach((item, i) => {
					const f = flavors.get(item.flavorId);
					if (!f)
						issues.push({ field: `items[${i}].flavorId`, message: `Unknown flavor ${item.flavorId}`, type: "unknownFlavor" });
					else if (f.archived && item.quantity > 0)
						issues.push({
							field: `items[${i}].flavorId`,
							message: `Flavor ${f.name} is archived; only 0 may be stocked`,
							type: "archivedFlavor",
						});
				});
				if (issues.length) throw validationErrors(issues);
				const sorted = [...items].sort((a, b) => a.flavorId.localeCompare(b.flavorId));
				const { lowStockThreshold } = settingsOf(this.broker).settings;
				await this.transaction(async (t) => {
					const rows = await lockStock(
						this.db,
						t,
						shopId,
						sorted.map((i) => i.flavorId),
					);
					const changes = sorted.map((i) =>
						planChange(i.flavorId, rows.get(i.flavorId), i.quantity, i.reorderThreshold, lowStockThreshold),
					);
					const actorId = ctx.meta.user?.id ?? null;
					await applyChanges(this.db, t, shopId, changes, { reason, referenceId: null, actorId, note });
					// Lots follow the count: an increase goes to the UNTRACKED lot, a decrease is written off lot by lot.
					const up = changes.filter((c) => c.after > c.before);
					await receiveLots(
						this.db,
						t,
						shopId,
						up.map((c) => ({
							flavorId: c.flavorId,
							stockItemId: null,
							batchLabel: null,
							factoryId: null,
							expiryDate: null,
							unitCost: 0,
							quantity: c.after - c.before,
						})),
						{ reason, referenceId: null, actorId },
					);
					for (const c of changes.filter((c) => c.after < c.before)) {
						for (const lot of await takeLots(this.db, t, shopId, c.flavorId, c.before - c.after, {
							reason,
							referenceId: null,
							actorId,
						})) {
							const at = new Date().toISOString();
							await this.publish(
								t,
								ctx,
								"STOCK_WRITTEN_OFF",
								{
									batchId: lot.stockItemId,
									shopId,
									factoryId: null,
									flavorId: c.flavorId,
									quantity: lot.quantity,
									reason: writeOffReason(lot, reason),
									costCents: lot.quantity * lot.unitCost,
									at,
								},
								shopId,
							);
						}
					}
					for (const c of changes.filter((c) => c.crossedLow)) {
						await this.publish(
							t,
							ctx,
							"INVENTORY_LOW",
							{ shopId, flavorId: c.flavorId, quantity: c.after, reorderThreshold: c.reorderThreshold },
							shopId,
						);
					}
				});
				await this.cleanCache("sales");
				return this.inventoryOf(ctx, shopId);
			},
		},
	},

	methods: {
		async inventoryOf(ctx: Ctx<unknown>, shopId: string) {
			const rows = await this.db.query<{ flavorId: string; quantity: number; reorderThreshold: number; updatedAt: Date }>(
				`SELECT flavor_id AS "flavorId", quantity, reorder_threshold AS "reorderThreshold", updated_at AS "updatedAt"
				   FROM sales.shop_inventory WHERE shop_id = :shopId ORDER BY flavor_id`,
				{ replacements: { shopId }, type: QueryTypes.SELECT },
			);
			const [flavors, lots] = await Promise.all([
				getFlavors(
					ctx,
					rows.map((r) => r.flavorId),
				),
				lotsOf(this.db, shopId),
			]);
			const items = rows.map((r) => {
				const f = flavors.get(r.flavorId);
				return {
					...r,
					name: f?.name ?? null,
					category: f?.category ?? null,
					price: f?.price ?? null,
					archived: f?.archived ?? null,
					low: r.quantity < r.reorderThreshold,
					lots: lots.get(r.flavorId) ?? [],
				};
			});
			return { shopId, items };
		},
	},
};

export default defineService(schema);
