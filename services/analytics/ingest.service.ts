/**
 * analytics.ingest: the only writer of the aggregate tables. Each catalog event is
 * consumed once (ConsumerMixin: envelope id in analytics.processed_events) and its
 * aggregate upserts run in that same transaction, so a replayed envelope never
 * double counts. Days are the UTC date of the event's own timestamp.
 */
import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { QueryTypes, type Transaction } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { ConsumerMixin, type ConsumerThis } from "../../mixins/consumer.mixin";
import type { EventEnvelope, EventName } from "../../lib/events";
import { defineAnalyticsModels, type AnalyticsModels } from "./analytics.model";

type This = Service & DbThis<AnalyticsModels> & ConsumerThis & { exec(t: Transaction, sql: string, replacements: Record<string, unknown>): Promise<void> };

const CONSUMER = "analytics.ingest";

const schema: ServiceSchema<ServiceSettingSchema, This> = {
	name: "analytics.ingest",
	mixins: [DbMixin({ schema: "analytics", models: defineAnalyticsModels, primary: "Report" }), ConsumerMixin],

	events: {
		["SALE_COMPLETED" satisfies EventName]: {
			async handler(this: This, ctx: Context<EventEnvelope<"SALE_COMPLETED">>) {
				const e = ctx.params;
				const d = e.data;
				await this.consumeOnce(CONSUMER, e, async (t) => {
					const at = d.createdAt ?? e.occurredAt;
					const items = d.items.reduce((n, i) => n + i.quantity, 0);
					// A transaction counts once even if it arrives again in a new envelope (e.g. re-published by an operator).
					const fresh = await this.db.query(
						`INSERT INTO analytics.sale_facts (transaction_id, shop_id, clerk_id, patron_id, total_amount, item_count, payment_method, occurred_at)
						 VALUES (:id, :shopId, :clerkId, :patronId, :total, :items, :method, :at) ON CONFLICT (transaction_id) DO NOTHING RETURNING transaction_id`,
						{ replacements: { id: d.transactionId, shopId: d.shopId, clerkId: d.clerkId, patronId: d.patronId, total: d.totalAmount, items, method: d.paymentMethod, at }, transaction: t, type: QueryTypes.SELECT },
					);
					if (fresh.length === 0) return;
					await this.exec(
						t,
						`INSERT INTO analytics.daily_sales (shop_id, date, total_sales, transaction_count, items_sold)
						 VALUES (:shopId, (:at::timestamptz AT TIME ZONE 'UTC')::date, :total, 1, :items)
						 ON CONFLICT (shop_id, date) DO UPDATE SET total_sales = daily_sales.total_sales + EXCLUDED.total_sales,
						   transaction_count = daily_sales.transaction_count + 1, items_sold = daily_sales.items_sold + EXCLUDED.items_sold, updated_at = now()`,
						{ shopId: d.shopId, at, total: d.totalAmount, items },
					);
					for (const line of d.items) {
						await this.exec(
							t,
							`INSERT INTO analytics.product_performance (flavor_id, shop_id, date, sales_volume, revenue)
							 VALUES (:flavorId, :shopId, (:at::timestamptz AT TIME ZONE 'UTC')::date, :qty, :revenue)
							 ON CONFLICT (flavor_id, shop_id, date) DO UPDATE SET sales_volume = product_performance.sales_volume + EXCLUDED.sales_volume,
							   revenue = product_performance.revenue + EXCLUDED.revenue, updated_at = now()`,
							{ flavorId: line.flavorId, shopId: d.shopId, at, qty: line.quantity, revenue: line.lineTotal },
						);
					}
					if (d.patronId) {
						await this.exec(t, `INSERT INTO analytics.user_activity (event_id, user_id, type, metadata, timestamp) VALUES (:eid, :uid, 'PURCHASE', :meta, :at)`, {
							eid: e.id,
							uid: d.patronId,
							meta: JSON.stringify({ shopId: d.shopId, transactionId: d.transactionId, totalAmount: d.totalAmount }),
							at,
						});
					}
				});
			},
		},
		["STOCK_REGISTERED" satisfies EventName]: {
			async handler(this: This, ctx: Context<EventEnvelope<"STOCK_REGISTERED">>) {
				const e = ctx.params;
				const d = e.data;
				await this.consumeOnce(CONSUMER, e, (t) =>
					this.exec(
						t,
						`INSERT INTO analytics.stock_registrations (stock_item_id, factory_id, flavor_id, batch_id, quantity, cost, production_date, expiry_date, registered_at)
						 VALUES (:stockItemId, :factoryId, :flavorId, :batchId, :quantity, :cost, :productionDate, :expiryDate, :at) ON CONFLICT (stock_item_id) DO NOTHING`,
						{ ...d, at: e.occurredAt },
					),
				);
			},
		},
		["EXPIRY_WARNING" satisfies EventName]: {
			async handler(this: This, ctx: Context<EventEnvelope<"EXPIRY_WARNING">>) {
				const e = ctx.params;
				const d = e.data;
				// One row per stock item: a later warning updates the quantity still at risk.
				await this.consumeOnce(CONSUMER, e, (t) =>
					this.exec(
						t,
						`INSERT INTO analytics.expiry_warnings (stock_item_id, factory_id, flavor_id, batch_id, quantity, expiry_date, manager_id, warned_at)
						 VALUES (:stockItemId, :factoryId, :flavorId, :batchId, :quantity, :expiryDate, :managerId, :at)
						 ON CONFLICT (stock_item_id) DO UPDATE SET quantity = EXCLUDED.quantity, warned_at = EXCLUDED.warned_at, manager_id = EXCLUDED.manager_id`,
						{ ...d, at: e.occurredAt },
					),
				);
			},
		},
		["INVENTORY_LOW" satisfies EventName]: {
			async handler(this: This, ctx: Context<EventEnvelope<"INVENTORY_LOW">>) {
				const e = ctx.params;
				await this.consumeOnce(CONSUMER, e, (t) =>
					this.exec(
						t,
						`INSERT INTO analytics.low_stock_alerts (event_id, shop_id, flavor_id, quantity, reorder_threshold, occurred_at) VALUES (:id, :shopId, :flavorId, :quantity, :reorderThreshold, :at)`,
						{ ...e.data, id: e.id, at: e.occurredAt },
					),
				);
			},
		},
		["REVIEW_SUBMITTED" satisfies EventName]: {
			async handler(this: This, ctx: Context<EventEnvelope<"REVIEW_SUBMITTED">>) {
				const e = ctx.params;
				const d = e.data;
				await this.consumeOnce(CONSUMER, e, async (t) => {
					await this.exec(
						t,
						`INSERT INTO analytics.review_facts (review_id, shop_id, patron_id, rating, occurred_at) VALUES (:reviewId, :shopId, :patronId, :rating, :at)
						 ON CONFLICT (review_id) DO UPDATE SET rating = EXCLUDED.rating`,
						{ ...d, at: e.occurredAt },
					);
					await this.exec(t, `INSERT INTO analytics.user_activity (event_id, user_id, type, metadata, timestamp) VALUES (:eid, :uid, 'REVIEW', :meta, :at)`, {
						eid: e.id,
						uid: d.patronId,
						meta: JSON.stringify({ shopId: d.shopId, reviewId: d.reviewId, rating: d.rating }),
						at: e.occurredAt,
					});
				});
			},
		},
		["BUDGET_ALLOCATION_UPDATED" satisfies EventName]: {
			async handler(this: This, ctx: Context<EventEnvelope<"BUDGET_ALLOCATION_UPDATED">>) {
				const e = ctx.params;
				await this.consumeOnce(CONSUMER, e, (t) =>
					this.exec(
						t,
						`INSERT INTO analytics.factory_budgets (factory_id, budget_allocated, updated_at) VALUES (:factoryId, :budgetAllocated, :at)
						 ON CONFLICT (factory_id) DO UPDATE SET budget_allocated = CASE WHEN EXCLUDED.updated_at >= factory_budgets.updated_at THEN EXCLUDED.budget_allocated ELSE factory_budgets.budget_allocated END,
						   updated_at = GREATEST(EXCLUDED.updated_at, factory_budgets.updated_at), changes = factory_budgets.changes + 1`,
						{ factoryId: e.data.factoryId, budgetAllocated: e.data.budgetAllocated, at: e.occurredAt },
					),
				);
			},
		},
		["USER_LOGIN" satisfies EventName]: {
			async handler(this: This, ctx: Context<EventEnvelope<"USER_LOGIN">>) {
				const e = ctx.params;
				await this.consumeOnce(CONSUMER, e, (t) =>
					this.exec(t, `INSERT INTO analytics.user_activity (event_id, user_id, type, metadata, timestamp) VALUES (:eid, :uid, 'LOGIN', :meta, :at)`, {
						eid: e.id,
						uid: e.data.userId,
						meta: JSON.stringify({ role: e.data.role, method: e.data.method }),
						at: e.occurredAt,
					}),
				);
			},
		},
	},

	methods: {
		async exec(this: This, t: Transaction, sql: string, replacements: Record<string, unknown>) {
			await this.db.query(sql, { replacements, transaction: t });
		},
	},
};

export default schema as ServiceSchema;
