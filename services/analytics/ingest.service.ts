/**
 * analytics.ingest: the only writer of the aggregate tables. Catalog events arrive
 * through the durable stream (mixins/event-stream.mixin.ts, group "analytics.ingest"):
 * a batch at a time, each envelope once (its id in analytics.processed_events), in
 * one transaction with the aggregate upserts, so a replayed envelope never double
 * counts. Sales of a batch are folded into one upsert per table, rows in key
 * order (no deadlocks). Days are the UTC date of the event's own timestamp.
 * Group "analytics.roles": USER_ROLE_CHANGED drops the user's cached scopes on every node (scope.ts).
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes, type Transaction } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { EventStreamMixin, stream, type EnvelopeOf } from "../../mixins/event-stream.mixin";
import { broadcastStaffChanged, saleDay, type EventName } from "../../lib/events";
import { defineAnalyticsModels, type AnalyticsModels } from "./analytics.model";
import { defineService, type ServiceDefinition } from "../../lib/service";

interface Methods {
	exec(t: Transaction, sql: string, replacements: Record<string, unknown>): Promise<void>;
	upsertRows(t: Transaction, insert: string, conflict: string, rows: Record<string, unknown>[]): Promise<void>;
	ingestSales(t: Transaction, events: EnvelopeOf<"SALE_COMPLETED">[]): Promise<void>;
	ingestOne(t: Transaction, e: EnvelopeOf<Exclude<IngestedEvent, "SALE_COMPLETED">>): Promise<void>;
}
type This = Service & DbThis<AnalyticsModels> & Methods;

const INGESTED = [
	"SALE_COMPLETED",
	"STOCK_REGISTERED",
	"EXPIRY_WARNING",
	"INVENTORY_LOW",
	"REVIEW_SUBMITTED",
	"BUDGET_ALLOCATION_UPDATED",
	"USER_LOGIN",
	"STOCK_WRITTEN_OFF",
] as const satisfies readonly EventName[];
type IngestedEvent = (typeof INGESTED)[number];

/** Folds rows by key, summing the numeric fields listed, and sorts them by key. */
function fold<R extends Record<string, unknown>>(rows: R[], key: (r: R) => string, sum: (keyof R)[]): R[] {
	const folded = new Map<string, R>();
	for (const row of rows) {
		const k = key(row);
		const acc = folded.get(k);
		if (!acc) folded.set(k, { ...row });
		else for (const f of sum) (acc as Record<keyof R, number>)[f] += row[f] as number;
	}
	return [...folded].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
}

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "analytics.ingest",
	mixins: [DbMixin({ schema: "analytics", models: defineAnalyticsModels }), EventStreamMixin],

	streams: [
		stream({
			group: "analytics.ingest",
			types: INGESTED,
			async handler(this: This, events, t: Transaction) {
				const sales = events.filter((e): e is EnvelopeOf<"SALE_COMPLETED"> => e.type === "SALE_COMPLETED");
				if (sales.length) await this.ingestSales(t, sales);
				for (const e of events) if (e.type !== "SALE_COMPLETED") await this.ingestOne(t, e);
			},
		}),
		// A user's role changed: every analytics node drops the shop and factory scopes it cached for them
		// (their rights follow the new role at once, not after the 30 s cache). Durable, so a node that was
		// down still hears of it; the drop itself is the broadcast after commit.
		stream({
			group: "analytics.roles",
			types: ["USER_ROLE_CHANGED"],
			async handler(this: This, events, t: Transaction) {
				const userIds = events.map((e) => e.data.userId);
				t.afterCommit(
					() =>
						void broadcastStaffChanged(this.broker, userIds).catch((err: unknown) =>
							this.logger.warn("Scope cache drop broadcast failed", err),
						),
				);
			},
		}),
	],

	methods: {
		async exec(t: Transaction, sql: string, replacements: Record<string, unknown>) {
			await this.db.query(sql, { replacements, transaction: t });
		},

		/** One multi-row INSERT … ON CONFLICT; `insert` names the columns, rows give them in that order. */
		async upsertRows(t: Transaction, insert: string, conflict: string, rows: Record<string, unknown>[]) {
			if (!rows.length) return;
			const cols = Object.keys(rows[0]);
			const values = rows.map((_, i) => `(${cols.map((c) => `:${c}${i}`).join(", ")})`).join(", ");
			const replacements = Object.fromEntries(rows.flatMap((r, i) => cols.map((c) => [`${c}${i}`, r[c]])));
			await this.db.query(`${insert} VALUES ${values} ${conflict}`, { replacements, transaction: t });
		},

		async ingestSales(t: Transaction, events: EnvelopeOf<"SALE_COMPLETED">[]) {
			const facts = events.map((e) => {
				const d = e.data;
				const at = d.createdAt ?? e.occurredAt;
				return { e, d, at, day: saleDay(e), items: d.items.reduce((n, i) => n + i.quantity, 0) };
			});
			// A transaction counts once even if it arrives again in a new envelope (e.g. re-published by an operator).
			const fresh = new Set(
				(
					await this.db.query<{ transaction_id: string }>(
						`INSERT INTO analytics.sale_facts (transaction_id, shop_id, clerk_id, patron_id, total_amount, item_count, payment_method, occurred_at)
						 SELECT * FROM unnest(ARRAY[:ids]::uuid[], ARRAY[:shops]::uuid[], ARRAY[:clerks]::uuid[], ARRAY[:patrons]::uuid[], ARRAY[:totals]::bigint[], ARRAY[:items]::int[], ARRAY[:methods]::text[], ARRAY[:ats]::timestamptz[])
						 ORDER BY 1 ON CONFLICT (transaction_id) DO NOTHING RETURNING transaction_id`,
						{
							type: QueryTypes.SELECT,
							transaction: t,
							replacements: {
								ids: facts.map((f) => f.d.transactionId),
								shops: facts.map((f) => f.d.shopId),
								clerks: facts.map((f) => f.d.clerkId),
								patrons: facts.map((f) => f.d.patronId),
								totals: facts.map((f) => f.d.totalAmount),
								items: facts.map((f) => f.items),
								methods: facts.map((f) => f.d.paymentMethod),
								ats: facts.map((f) => f.at),
							},
						},
					)
				).map((r) => r.transaction_id),
			);
			// Each new transaction once, even if the batch carries it in two envelopes.
			const counted = facts.filter((f) => fresh.delete(f.d.transactionId));
			if (!counted.length) return;
			await this.upsertRows(
				t,
				"INSERT INTO analytics.daily_sales (shop_id, date, total_sales, transaction_count, items_sold)",
				`ON CONFLICT (shop_id, date) DO UPDATE SET total_sales = daily_sales.total_sales + EXCLUDED.total_sales,
				   transaction_count = daily_sales.transaction_count + EXCLUDED.transaction_count, items_sold = daily_sales.items_sold + EXCLUDED.items_sold, updated_at = now()`,
				fold(
					counted.map((f) => ({ shop: f.d.shopId, day: f.day, total: f.d.totalAmount, n: 1, items: f.items })),
					(r) => `${r.shop}|${r.day}`,
					["total", "n", "items"],
				),
			);
			await this.upsertRows(
				t,
				"INSERT INTO analytics.product_performance (flavor_id, shop_id, date, sales_volume, revenue, markdown_revenue, markdown_discount)",
				`ON CONFLICT (flavor_id, shop_id, date) DO UPDATE SET sales_volume = product_performance.sales_volume + EXCLUDED.sales_volume,
				   revenue = product_performance.revenue + EXCLUDED.revenue, markdown_revenue = product_performance.markdown_revenue + EXCLUDED.markdown_revenue,
				   markdown_discount = product_performance.markdown_discount + EXCLUDED.markdown_discount, updated_at = now()`,
				fold(
					counted.flatMap((f) =>
						f.d.items.map((line) => ({
							flavor: line.flavorId,
							shop: f.d.shopId,
							day: f.day,
							qty: line.quantity,
							revenue: line.lineTotal,
							// Expiry markdowns (optional on the line): revenue recovered from stock near expiry, and the discount given.
							recovered: line.recoveredCents ?? 0,
							discount: line.markdownCents ?? 0,
						})),
					),
					(r) => `${r.flavor}|${r.shop}|${r.day}`,
					["qty", "revenue", "recovered", "discount"],
				),
			);
			for (const f of counted) {
				if (!f.d.patronId) continue;
				await this.exec(
					t,
					`INSERT INTO analytics.user_activity (event_id, user_id, type, metadata, timestamp) VALUES (:eid, :uid, 'PURCHASE', :meta, :at)`,
					{
						eid: f.e.id,
						uid: f.d.patronId,
						meta: JSON.stringify({ shopId: f.d.shopId, transactionId: f.d.transactionId, totalAmount: f.d.totalAmount }),
						at: f.at,
					},
				);
			}
		},

		async ingestOne(t: Transaction, e: EnvelopeOf<Exclude<IngestedEvent, "SALE_COMPLETED">>) {
			switch (e.type) {
				case "STOCK_REGISTERED":
					return this.exec(
						t,
						`INSERT INTO analytics.stock_registrations (stock_item_id, factory_id, flavor_id, batch_id, quantity, cost, production_date, expiry_date, registered_at)
						 VALUES (:stockItemId, :factoryId, :flavorId, :batchId, :quantity, :cost, :productionDate, :expiryDate, :at) ON CONFLICT (stock_item_id) DO NOTHING`,
						{ ...e.data, at: e.occurredAt },
					);
				case "EXPIRY_WARNING":
					// One row per stock item: a later warning updates the quantity still at risk.
					return this.exec(
						t,
						`INSERT INTO analytics.expiry_warnings (stock_item_id, factory_id, flavor_id, batch_id, quantity, expiry_date, manager_id, warned_at)
						 VALUES (:stockItemId, :factoryId, :flavorId, :batchId, :quantity, :expiryDate, :managerId, :at)
						 ON CONFLICT (stock_item_id) DO UPDATE SET quantity = EXCLUDED.quantity, warned_at = EXCLUDED.warned_at, manager_id = EXCLUDED.manager_id`,
						{ ...e.data, at: e.occurredAt },
					);
				case "INVENTORY_LOW":
					return this.exec(
						t,
						`INSERT INTO analytics.low_stock_alerts (event_id, shop_id, flavor_id, quantity, reorder_threshold, occurred_at) VALUES (:id, :shopId, :flavorId, :quantity, :reorderThreshold, :at)`,
						{ ...e.data, id: e.id, at: e.occurredAt },
					);
				case "REVIEW_SUBMITTED":
					await this.exec(
						t,
						`INSERT INTO analytics.review_facts (review_id, shop_id, patron_id, rating, occurred_at) VALUES (:reviewId, :shopId, :patronId, :rating, :at)
						 ON CONFLICT (review_id) DO UPDATE SET rating = EXCLUDED.rating`,
						{ ...e.data, at: e.occurredAt },
					);
					return this.exec(
						t,
						`INSERT INTO analytics.user_activity (event_id, user_id, type, metadata, timestamp) VALUES (:eid, :uid, 'REVIEW', :meta, :at)`,
						{
							eid: e.id,
							uid: e.data.patronId,
							meta: JSON.stringify({ shopId: e.data.shopId, reviewId: e.data.reviewId, rating: e.data.rating }),
							at: e.occurredAt,
						},
					);
				case "BUDGET_ALLOCATION_UPDATED":
					return this.exec(
						t,
						`INSERT INTO analytics.factory_budgets (factory_id, budget_allocated, updated_at) VALUES (:factoryId, :budgetAllocated, :at)
						 ON CONFLICT (factory_id) DO UPDATE SET budget_allocated = CASE WHEN EXCLUDED.updated_at >= factory_budgets.updated_at THEN EXCLUDED.budget_allocated ELSE factory_budgets.budget_allocated END,
						   updated_at = GREATEST(EXCLUDED.updated_at, factory_budgets.updated_at), changes = factory_budgets.changes + 1`,
						{ factoryId: e.data.factoryId, budgetAllocated: e.data.budgetAllocated, at: e.occurredAt },
					);
				case "STOCK_WRITTEN_OFF":
					// Waste as it happened (shop or factory), at cost; one row per envelope.
					return this.exec(
						t,
						`INSERT INTO analytics.write_offs (event_id, batch_id, shop_id, factory_id, flavor_id, quantity, reason, cost_cents, occurred_at)
						 VALUES (:id, :batchId, :shopId, :factoryId, :flavorId, :quantity, :reason, :costCents, :at) ON CONFLICT (event_id) DO NOTHING`,
						{ ...e.data, id: e.id, at: e.data.at ?? e.occurredAt },
					);
				case "USER_LOGIN":
					return this.exec(
						t,
						`INSERT INTO analytics.user_activity (event_id, user_id, type, metadata, timestamp) VALUES (:eid, :uid, 'LOGIN', :meta, :at)`,
						{
							eid: e.id,
							uid: e.data.userId,
							meta: JSON.stringify({ role: e.data.role, method: e.data.method }),
							at: e.occurredAt,
						},
					);
			}
		},
	},
};

export default defineService(schema);
