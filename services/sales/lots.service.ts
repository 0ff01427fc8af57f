/**
 * sales.lots: what sales owns of batch traceability (issue #15, docs/traceability.md).
 * - Expiry markdown policies: per shop, with a chain-wide default (EXECUTIVE sets them);
 *   sales.pos_sale prices marked-down lots, the public menu shows the price.
 * - BATCH_RECALLED (durable stream, group "sales.lots.recall"): the shops' lots of the batch
 *   become RECALLED (the POS stops selling them), and the clerks of every shop that received
 *   it and every patron known to have bought from it are notified (notification row, socket, mail).
 * - trace (internal): per shop, one query: received, on hand, sold (with transaction ids), written off.
 * - writeOffExpired (internal, and every EXPIRY_SCAN_INTERVAL_SEC): expired lots leave the stock as write-offs.
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes, type Transaction } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { OutboxMixin, type OutboxThis } from "../../mixins/outbox.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { EventStreamMixin, stream } from "../../mixins/event-stream.mixin";
import { CacheCleaner, type CacheCleanerThis } from "../../mixins/cache-cleaner.mixin";
import { RETRY_READS } from "../../lib/actions";
import { config } from "../../lib/config";
import { validationError } from "../../lib/errors";
import type { EventEnvelope } from "../../lib/events";
import type { Ctx } from "../../lib/types";
import { defineSalesModels, type SalesModels } from "./sales.model";
import { shopForCaller } from "./access";
import { applyChanges, lockStock, planChange } from "./stock";
import { RECALL_LOCK, writeOffReason, type LotTaken } from "./lots";
import * as P from "./sales.params";
import { defineService, type ServiceDefinition } from "../../lib/service";
import { call } from "../../lib/contracts";

interface Methods {
	recall(t: Transaction, event: EventEnvelope<"BATCH_RECALLED">): Promise<void>;
	writeOffExpiredAt(shopId: string, asOf: string): Promise<number>;
}
type This = Service &
	DbThis<SalesModels> &
	OutboxThis &
	CacheCleanerThis &
	Methods & { timer?: NodeJS.Timeout; sweeping?: Promise<unknown> };

interface Tier {
	daysLeft: number;
	percentOff: number;
}

/** Tiers sorted by window, one per window (a repeated daysLeft is a 422). */
function normalize(tiers: Tier[]): Tier[] {
	const seen = new Set<number>();
	tiers.forEach((t, i) => {
		if (seen.has(t.daysLeft)) throw validationError(`tiers[${i}].daysLeft`, "Each daysLeft may appear once", "duplicate");
		seen.add(t.daysLeft);
	});
	return [...tiers].sort((a, b) => b.daysLeft - a.daysLeft).map(({ daysLeft, percentOff }) => ({ daysLeft, percentOff }));
}

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "sales.lots",
	mixins: [DbMixin({ schema: "sales", models: defineSalesModels }), OutboxMixin, AuditMixin, EventStreamMixin, CacheCleaner([])],
	settings: { rest: "/sales" },

	actions: {
		getMarkdownPolicy: {
			rest: "GET /shops/:shopId/markdown-policy",
			roles: ["CLERK", "EXECUTIVE", "ADMIN"],
			retryPolicy: RETRY_READS,
			summary:
				"The shop's expiry markdown tiers [{ daysLeft, percentOff }] and where they come from (SHOP, CHAIN default or NONE) (Clerk+ of the shop)",
			params: P.shopIdParams,
			access: { shop: "shopId" },
			async handler(ctx: Ctx<P.ShopIdParams>) {
				const rows = await this.db.query<{ shopId: string | null; tiers: Tier[] }>(
					`SELECT shop_id AS "shopId", tiers FROM sales.markdown_policies WHERE shop_id = :shopId OR shop_id IS NULL ORDER BY shop_id NULLS LAST LIMIT 1`,
					{ replacements: { shopId: ctx.params.shopId }, type: QueryTypes.SELECT },
				);
				const row = rows[0];
				return { shopId: ctx.params.shopId, source: !row ? "NONE" : row.shopId ? "SHOP" : "CHAIN", tiers: row?.tiers ?? [] };
			},
		},

		setMarkdownPolicy: {
			rest: "PUT /shops/:shopId/markdown-policy",
			roles: ["EXECUTIVE"],
			audit: true,
			summary:
				"Set the shop's expiry markdown tiers ({ tiers: [{ daysLeft, percentOff }] }; [] = no markdowns here, overriding the chain default) (Executive)",
			params: P.shopMarkdownParams,
			async handler(ctx: Ctx<P.ShopMarkdownParams>) {
				// Hand-coded, not `access`: the middleware runs before the validator, so an unknown shop with bad tiers would answer 404 instead of 422.
				await shopForCaller(this.db, ctx, ctx.params.shopId);
				const tiers = normalize(ctx.params.tiers);
				await this.db.query(
					`INSERT INTO sales.markdown_policies (shop_id, tiers, updated_by) VALUES (:shopId, CAST(:tiers AS jsonb), :by)
					 ON CONFLICT ON CONSTRAINT markdown_policies_shop_key DO UPDATE SET tiers = EXCLUDED.tiers, updated_by = EXCLUDED.updated_by, updated_at = now()`,
					{ replacements: { shopId: ctx.params.shopId, tiers: JSON.stringify(tiers), by: ctx.meta.user?.id ?? null } },
				);
				await this.cleanCache("sales");
				return { shopId: ctx.params.shopId, source: "SHOP", tiers };
			},
		},

		clearMarkdownPolicy: {
			rest: "DELETE /shops/:shopId/markdown-policy",
			roles: ["EXECUTIVE"],
			audit: true,
			summary: "Drop the shop's own markdown tiers: the chain default applies again (Executive)",
			params: P.shopIdParams,
			access: { shop: "shopId" },
			async handler(ctx: Ctx<P.ShopIdParams>) {
				await this.db.query(`DELETE FROM sales.markdown_policies WHERE shop_id = :shopId`, {
					replacements: { shopId: ctx.params.shopId },
				});
				await this.cleanCache("sales");
				return this.actions.getMarkdownPolicy({ shopId: ctx.params.shopId }, { parentCtx: ctx });
			},
		},

		getChainMarkdownPolicy: {
			rest: "GET /markdown-policy",
			roles: ["CLERK", "EXECUTIVE", "ADMIN"],
			retryPolicy: RETRY_READS,
			summary: "The chain-wide default expiry markdown tiers (shops without their own policy use them)",
			async handler() {
				const [row] = await this.db.query<{ tiers: Tier[] }>(`SELECT tiers FROM sales.markdown_policies WHERE shop_id IS NULL`, {
					type: QueryTypes.SELECT,
				});
				return { tiers: row?.tiers ?? [] };
			},
		},

		setChainMarkdownPolicy: {
			rest: "PUT /markdown-policy",
			roles: ["EXECUTIVE"],
			audit: true,
			summary: "Set the chain-wide default expiry markdown tiers ({ tiers: [{ daysLeft, percentOff }] }) (Executive)",
			params: P.chainMarkdownParams,
			async handler(ctx: Ctx<P.ChainMarkdownParams>) {
				const tiers = normalize(ctx.params.tiers);
				await this.db.query(
					`INSERT INTO sales.markdown_policies (shop_id, tiers, updated_by) VALUES (NULL, CAST(:tiers AS jsonb), :by)
					 ON CONFLICT ON CONSTRAINT markdown_policies_shop_key DO UPDATE SET tiers = EXCLUDED.tiers, updated_by = EXCLUDED.updated_by, updated_at = now()`,
					{ replacements: { tiers: JSON.stringify(tiers), by: ctx.meta.user?.id ?? null } },
				);
				await this.cleanCache("sales");
				return { tiers };
			},
		},

		// ---- internal (no REST route; trusted callers) ----

		/**
		 * Writes off every lot that expired before `asOf` (default today, UTC) at every shop: one transaction per shop,
		 * STOCK_WRITTEN_OFF per lot (reason EXPIRY, or RECALL/QUARANTINE for a lot held for those). Runs every
		 * EXPIRY_SCAN_INTERVAL_SEC; safe to run on several nodes at once (the stock rows are locked and re-read).
		 */
		writeOffExpired: {
			visibility: "public",
			params: P.asOfParams,
			async handler(ctx: Ctx<P.AsOfParams>) {
				const asOf = ctx.params.asOf ?? new Date().toISOString().slice(0, 10);
				const shops = await this.db.query<{ shopId: string }>(
					`SELECT DISTINCT shop_id AS "shopId" FROM sales.stock_lots WHERE quantity > 0 AND expiry_date < CAST(:asOf AS date) ORDER BY 1`,
					{ replacements: { asOf }, type: QueryTypes.SELECT },
				);
				let units = 0;
				for (const { shopId } of shops) units += await this.writeOffExpiredAt(shopId, asOf);
				if (units) await this.cleanCache("sales");
				return { asOf, shops: shops.length, units };
			},
		},

		/** Per shop that received the batch: received, on hand (by status), sold with transaction ids, written off. One query. */
		trace: {
			visibility: "public",
			params: P.batchIdParams,
			async handler(ctx: Ctx<P.BatchIdParams>) {
				return this.db.query(
					`WITH lots AS (SELECT id, shop_id, quantity, status FROM sales.stock_lots WHERE stock_item_id = :batchId),
					 ledger AS (
					   SELECT shop_id, COALESCE(sum(quantity) FILTER (WHERE kind = 'RECEIVED'), 0)::int AS received, COALESCE(sum(quantity) FILTER (WHERE kind = 'WRITTEN_OFF'), 0)::int AS written_off
					     FROM sales.lot_ledger WHERE stock_item_id = :batchId GROUP BY shop_id),
					 sold AS (
					   SELECT shop_id, sum(quantity)::int AS sold, array_agg(DISTINCT transaction_id) AS ids FROM sales.transaction_lots WHERE stock_item_id = :batchId GROUP BY shop_id),
					 held AS (
					   SELECT shop_id, sum(quantity)::int AS on_hand, jsonb_object_agg(status, quantity) FILTER (WHERE quantity > 0) AS by_status FROM lots GROUP BY shop_id)
					 SELECT h.shop_id AS "shopId", s.name AS "shopName", COALESCE(l.received, 0) AS received, h.on_hand AS "onHand", COALESCE(h.by_status, '{}') AS "onHandByStatus",
					        COALESCE(so.sold, 0) AS sold, COALESCE(so.ids, '{}') AS "transactionIds", COALESCE(l.written_off, 0) AS "writtenOff"
					   FROM held h JOIN sales.shops s ON s.id = h.shop_id LEFT JOIN ledger l ON l.shop_id = h.shop_id LEFT JOIN sold so ON so.shop_id = h.shop_id
					  ORDER BY s.name, h.shop_id`,
					{ replacements: { batchId: ctx.params.batchId }, type: QueryTypes.SELECT },
				);
			},
		},
	},

	streams: [
		stream({
			group: "sales.lots.recall",
			types: ["BATCH_RECALLED"],
			async handler(this: This, events, t: Transaction) {
				for (const event of events) await this.recall(t, event);
				t.afterCommit(
					() => void this.cleanCache("sales").catch((err: unknown) => this.logger.warn("Menu cache clean failed", err)),
				);
			},
		}),
		// Its own group: a notification that fails (communications restarting, a slow mail) is retried here and can
		// neither roll the recall back nor dead-letter it, and no stock row stays locked while communications answers.
		stream({
			group: "sales.lots.recall-notify",
			types: ["BATCH_RECALLED"],
			async handler(this: This, events, t: Transaction) {
				for (const event of events) await this.notifyRecall(t, event);
			},
		}),
	],

	methods: {
		/** One shop's expired lots written off, with the per-flavor totals, movements and events, in one transaction. */
		async writeOffExpiredAt(shopId: string, asOf: string) {
			return this.transaction(async (t) => {
				const flavors = await this.db.query<{ flavorId: string }>(
					`SELECT DISTINCT flavor_id AS "flavorId" FROM sales.stock_lots WHERE shop_id = :shopId AND quantity > 0 AND expiry_date < CAST(:asOf AS date) ORDER BY 1`,
					{ replacements: { shopId, asOf }, type: QueryTypes.SELECT, transaction: t },
				);
				const rows = await lockStock(
					this.db,
					t,
					shopId,
					flavors.map((f) => f.flavorId),
				);
				// Re-read under the locks: a concurrent sweep or count may have taken them already.
				const taken = await this.db.query<LotTaken>(
					`WITH o AS (SELECT id, quantity FROM sales.stock_lots WHERE shop_id = :shopId AND quantity > 0 AND expiry_date < CAST(:asOf AS date)),
					 z AS (UPDATE sales.stock_lots s SET quantity = 0, updated_at = now() FROM o WHERE s.id = o.id
					       RETURNING s.id, s.flavor_id, s.stock_item_id, s.status, s.unit_cost, o.quantity),
					 ledger AS (
					   INSERT INTO sales.lot_ledger (lot_id, shop_id, flavor_id, stock_item_id, kind, quantity, reason, cost_cents)
					   SELECT id, :shopId, flavor_id, stock_item_id, 'WRITTEN_OFF', quantity, 'EXPIRED', quantity * unit_cost FROM z)
					 SELECT id AS "lotId", flavor_id AS "flavorId", stock_item_id AS "stockItemId", status, true AS expired, unit_cost::float8 AS "unitCost", quantity FROM z ORDER BY flavor_id, id`,
					{ replacements: { shopId, asOf }, type: QueryTypes.SELECT, transaction: t },
				);
				if (!taken.length) return 0;
				const gone = new Map<string, number>();
				for (const lot of taken) gone.set(lot.flavorId, (gone.get(lot.flavorId) ?? 0) + lot.quantity);
				const changes = [...gone]
					.sort(([a], [b]) => a.localeCompare(b))
					.map(([flavorId, n]) => planChange(flavorId, rows.get(flavorId), (rows.get(flavorId)?.quantity ?? 0) - n));
				await applyChanges(this.db, t, shopId, changes, {
					reason: "WASTE",
					referenceId: null,
					actorId: null,
					note: `Lots expired before ${asOf}`,
				});
				const at = new Date().toISOString();
				for (const lot of taken) {
					await this.publish(
						t,
						null,
						"STOCK_WRITTEN_OFF",
						{
							batchId: lot.stockItemId,
							shopId,
							factoryId: null,
							flavorId: lot.flavorId,
							quantity: lot.quantity,
							reason: writeOffReason(lot, "WASTE"),
							costCents: lot.quantity * lot.unitCost,
							at,
						},
						shopId,
					);
				}
				for (const c of changes.filter((c) => c.crossedLow)) {
					await this.publish(
						t,
						null,
						"INVENTORY_LOW",
						{ shopId, flavorId: c.flavorId, quantity: c.after, reorderThreshold: c.reorderThreshold },
						shopId,
					);
				}
				return taken.reduce((n, l) => n + l.quantity, 0);
			});
		},

		/** Remembers the batch as recalled and marks its lots at every shop RECALLED. */
		async recall(t: Transaction, event: EventEnvelope<"BATCH_RECALLED">) {
			const { batchId, flavorId, reason } = event.data;
			// The flavor's stock rows at every shop first, in shop order, as stock writers lock them: a sale or a delivery in flight
			// finishes before, and the next one sees the batch recalled (a delivery after this receives it as a RECALLED lot).
			await this.db.query(`SELECT 1 FROM sales.shop_inventory WHERE flavor_id = :flavorId ORDER BY shop_id FOR UPDATE`, {
				replacements: { flavorId },
				transaction: t,
			});
			await this.db.query(`SELECT ${RECALL_LOCK(":batchId::text")}`, { replacements: { batchId }, transaction: t });
			await this.db.query(
				`INSERT INTO sales.recalled_batches (stock_item_id, reason, event_id, recalled_at) VALUES (:batchId, :reason, :eventId, :at) ON CONFLICT DO NOTHING`,
				{ replacements: { batchId, reason, eventId: event.id, at: event.data.at }, transaction: t },
			);
			await this.db.query(`UPDATE sales.stock_lots SET status = 'RECALLED', updated_at = now() WHERE stock_item_id = :batchId`, {
				replacements: { batchId },
				transaction: t,
			});
		},

		/** Tells the staff of every shop that received the batch, and its known buyers, that it is recalled. */
		async notifyRecall(t: Transaction, event: EventEnvelope<"BATCH_RECALLED">) {
			const { batchId, batchLabel, reason } = event.data;
			const [people] = await this.db.query<{
				shops: { id: string; name: string; quantity: number }[] | null;
				staff: { userId: string; shopIds: string[] }[] | null;
				patrons: string[] | null;
			}>(
				`WITH shops AS (SELECT l.shop_id AS id, s.name, s.manager_id, sum(l.quantity)::int AS quantity
				                  FROM sales.stock_lots l JOIN sales.shops s ON s.id = l.shop_id WHERE l.stock_item_id = :batchId GROUP BY l.shop_id, s.name, s.manager_id),
				 members AS (SELECT manager_id AS user_id, id AS shop_id FROM shops WHERE manager_id IS NOT NULL
				             UNION SELECT st.user_id, st.shop_id FROM sales.shop_staff st JOIN shops ON shops.id = st.shop_id)
				 SELECT (SELECT json_agg(json_build_object('id', id, 'name', name, 'quantity', quantity) ORDER BY name) FROM shops) AS shops,
				        (SELECT json_agg(json_build_object('userId', user_id, 'shopIds', ids)) FROM (
				           SELECT user_id, array_agg(shop_id ORDER BY shop_id) AS ids FROM members GROUP BY user_id) m) AS staff,
				        (SELECT array_agg(DISTINCT t.patron_id) FROM sales.transaction_lots tl JOIN sales.transactions t ON t.id = tl.transaction_id
				          WHERE tl.stock_item_id = :batchId AND t.patron_id IS NOT NULL) AS patrons`,
				{ replacements: { batchId }, type: QueryTypes.SELECT, transaction: t },
			);
			const staff = people.staff ?? [];
			const staffIds = new Set(staff.map((m) => m.userId));
			const patrons = (people.patrons ?? []).filter((id) => !staffIds.has(id));
			const shopsById = new Map((people.shops ?? []).map((s) => [s.id, s]));
			// Each member of staff is told about their own shops only (another shop's stock is not theirs to know):
			// one call per distinct set of shops. Idempotent per event and user (communications keys notifications
			// by source event), so a retried batch notifies once.
			const byShops = new Map<string, string[]>();
			for (const m of staff) byShops.set(m.shopIds.join(","), [...(byShops.get(m.shopIds.join(",")) ?? []), m.userId]);
			for (const [key, userIds] of byShops) {
				const shops = key
					.split(",")
					.map((id) => shopsById.get(id)!)
					.sort((a, b) => a.name.localeCompare(b.name));
				const where = shops.map((s) => `${s.name} (${s.quantity} units)`).join(", ");
				await call(this.broker, "communications.notifications.notifyUsers", {
					userIds,
					type: event.type,
					message: `Batch ${batchLabel} is recalled: ${reason}. Stop selling it and set it aside: ${where}.`,
					data: { batchId, batchLabel, reason, shops },
					sourceEventId: event.id,
					mail: true,
				});
			}
			if (patrons.length) {
				await call(this.broker, "communications.notifications.notifyUsers", {
					userIds: patrons,
					type: event.type,
					message: `An ice cream you bought from batch ${batchLabel} has been recalled: ${reason}. Please do not eat it; the shop will refund you.`,
					data: { batchId, batchLabel, reason },
					sourceEventId: event.id,
					mail: true,
				});
			}
		},
	},

	started() {
		this.timer = setInterval(() => {
			if (this.sweeping) return;
			this.sweeping = call(this.broker, "sales.lots.writeOffExpired", {})
				.catch((err: unknown) => this.logger.error("Expired lots write-off failed", err))
				.finally(() => (this.sweeping = undefined));
		}, config().expiryScanIntervalSec * 1000);
		this.timer.unref();
	},

	async stopped() {
		if (this.timer) clearInterval(this.timer);
		await this.sweeping;
	},
};

export default defineService(schema);
