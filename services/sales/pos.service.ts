/**
 * sales.pos: POS sales (never oversold, Idempotency-Key replays), the offline
 * terminal sync, and the transaction history. docs/spec.md section 2, "Transaction Processing".
 */
import type { Context, Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { OutboxMixin, type OutboxThis } from "../../mixins/outbox.mixin";
import { AuditMixin, auditActor, markAudited } from "../../mixins/audit.mixin";
import { CacheCleaner, type CacheCleanerThis } from "../../mixins/cache-cleaner.mixin";
import { toPage } from "../../lib/pagination";
import { INTERNAL_EVENTS } from "../../lib/events";
import { notFound, validationError } from "../../lib/errors";
import { RETRY_READS, respondCreated } from "../../lib/actions";
import type { Ctx } from "../../lib/types";
import { defineSalesModels, type SalesModels } from "./sales.model";
import { shopAccess, shopForCaller } from "./access";
import { FlavorCache } from "./catalog";
import { recordSale, toSaleJson, type SaleOutcome } from "./pos";
import * as P from "./sales.params";
import { defineService, type ServiceDefinition } from "../../lib/service";
import { call } from "../../lib/contracts";

type This = Service & DbThis<SalesModels> & OutboxThis & CacheCleanerThis & { flavors: FlavorCache };

/** An offline sale may not claim to be from the future (terminal clocks drift a little). */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

interface SyncResult {
	clientId: string;
	status: "accepted" | "duplicate" | "rejected";
	transactionId?: string;
	reason?: string;
	details?: unknown;
}

/** Which of these user ids exist (auth.getUsers is cached). */
async function knownUsers(ctx: Context, ids: string[]): Promise<Set<string>> {
	if (ids.length === 0) return new Set();
	const users = await call(ctx, "auth.getUsers", { ids: [...new Set(ids)] });
	return new Set(users.map((u) => u.id));
}

const SORT_SQL: Record<string, string> = { occurredAt: "t.occurred_at", totalAmount: "t.total_amount" };

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "sales.pos",
	mixins: [DbMixin({ schema: "sales", models: defineSalesModels }), OutboxMixin, AuditMixin, CacheCleaner([])],
	settings: { rest: "/sales" },

	actions: {
		sale: {
			rest: "POST /shops/:shopId/pos-transactions",
			roles: ["CLERK"],
			audit: true,
			summary:
				"Ring up a sale (Clerk of the shop): catalog prices less expiry markdowns, each line drawn from the shop's lots first-expiry-first-out atomically; 409 INSUFFICIENT_STOCK, or RECALLED_STOCK when only recalled stock is left; Idempotency-Key replays",
			params: P.saleParams,
			async handler(ctx: Ctx<P.SaleParams>) {
				const { shopId, items, paymentMethod, patronId } = ctx.params;
				if (patronId && !(await knownUsers(ctx, [patronId])).has(patronId)) {
					await shopForCaller(this.db, ctx, shopId, []); // an unknown or foreign shop answers 404/403 first
					throw validationError("patronId", `Unknown user ${patronId}`, "unknownUser");
				}
				const flavors = await this.flavors.get(
					ctx,
					items.map((i) => i.flavorId),
				);
				// Staff check, sale and audit row in one statement and one commit (pos.ts).
				const outcome: SaleOutcome = await recordSale(
					this,
					ctx,
					{
						shopId,
						clerkId: ctx.meta.user!.id,
						items,
						paymentMethod,
						patronId: patronId ?? null,
						idempotencyKey: ctx.meta.idempotencyKey,
					},
					flavors,
					shopAccess(ctx.meta.user, []),
					auditActor(ctx),
				);
				markAudited(ctx);
				if (outcome.soldOut) await this.cleanCache("sales");
				if (outcome.replayed) ctx.meta.$responseHeaders = { "Idempotent-Replayed": "true" };
				respondCreated(ctx, `/api/v1/sales/shops/${shopId}/transactions`);
				return outcome.sale;
			},
		},

		sync: {
			rest: "POST /shops/:shopId/pos-transactions/sync",
			status: 200,
			roles: ["CLERK"],
			audit: true,
			summary:
				"Apply sales a terminal recorded offline, in order; per item accepted / duplicate / rejected (replaying a batch changes nothing)",
			params: P.syncParams,
			async handler(ctx: Ctx<P.SyncParams>) {
				const { shopId, transactions } = ctx.params;
				await shopForCaller(this.db, ctx, shopId, []);
				const flavors = await this.flavors.get(
					ctx,
					transactions.flatMap((tx) => tx.items.map((i) => i.flavorId)),
				);
				const patrons = await knownUsers(
					ctx,
					transactions.flatMap((tx) => (tx.patronId ? [tx.patronId] : [])),
				);
				const results: SyncResult[] = [];
				let soldOut = false;
				for (const tx of transactions) {
					if (Date.parse(tx.occurredAt) > Date.now() + MAX_CLOCK_SKEW_MS) {
						results.push({ clientId: tx.clientId, status: "rejected", reason: "OCCURRED_IN_FUTURE" });
						continue;
					}
					if (tx.patronId && !patrons.has(tx.patronId)) {
						results.push({ clientId: tx.clientId, status: "rejected", reason: "UNKNOWN_PATRON" });
						continue;
					}
					try {
						const outcome = await recordSale(
							this,
							ctx,
							{
								shopId,
								clerkId: ctx.meta.user!.id,
								items: tx.items,
								paymentMethod: tx.paymentMethod,
								patronId: tx.patronId ?? null,
								clientId: tx.clientId,
								occurredAt: tx.occurredAt,
							},
							flavors,
							"ALL", // checked above, for the whole batch
							null, // one audit row for the batch (the audit mixin's)
						);
						soldOut ||= outcome.soldOut;
						results.push({
							clientId: tx.clientId,
							status: outcome.replayed ? "duplicate" : "accepted",
							transactionId: outcome.sale.id,
						});
					} catch (err) {
						const e = err as { code?: number; type?: string; message?: string; data?: unknown };
						if (typeof e.code !== "number" || e.code >= 500) throw err;
						results.push({
							clientId: tx.clientId,
							status: "rejected",
							reason: e.type === "VALIDATION_ERROR" ? "INVALID_ITEM" : (e.type ?? "REJECTED"),
							details: e.data,
						});
					}
				}
				if (soldOut) await this.cleanCache("sales");
				return { results };
			},
		},

		history: {
			rest: "GET /shops/:shopId/transactions",
			roles: ["CLERK", "EXECUTIVE", "ADMIN"],
			retryPolicy: RETRY_READS,
			summary: "The shop's sales, paginated; filter by date range (from/to, UTC days), payment method, clerk (Clerk+ of the shop)",
			params: P.listTransactionsParams,
			async handler(ctx: Ctx<P.ListTransactionsParams>) {
				const { shopId, page, pageSize, from, to, paymentMethod, clerkId } = ctx.params;
				await shopForCaller(this.db, ctx, shopId);
				const sort = ctx.params.sort ?? "-occurredAt";
				const desc = sort.startsWith("-");
				const where = [
					"t.shop_id = :shopId",
					from ? "t.occurred_at >= (:from::date AT TIME ZONE 'UTC')" : null,
					to ? "t.occurred_at < ((:to::date + 1) AT TIME ZONE 'UTC')" : null,
					paymentMethod ? "t.payment_method = :paymentMethod" : null,
					clerkId ? "t.clerk_id = :clerkId" : null,
				]
					.filter(Boolean)
					.join(" AND ");
				const replacements = {
					shopId,
					from: from ?? null,
					to: to ?? null,
					paymentMethod: paymentMethod ?? null,
					clerkId: clerkId ?? null,
					limit: pageSize,
					offset: (page - 1) * pageSize,
				};
				const [{ n }] = await this.db.query<{ n: string }>(`SELECT count(*) AS n FROM sales.transactions t WHERE ${where}`, {
					replacements,
					type: QueryTypes.SELECT,
				});
				const rows = await this.db.query<Parameters<typeof toSaleJson>[0]>(
					`SELECT t.id, t.shop_id AS "shopId", t.total_amount AS "totalAmount", t.payment_method AS "paymentMethod", t.clerk_id AS "clerkId",
					        t.patron_id AS "patronId", t.occurred_at AS "occurredAt", t.created_at AS "createdAt",
					        (SELECT json_agg(json_build_object('flavorId', i.flavor_id, 'name', i.flavor_name, 'quantity', i.quantity, 'unitPrice', i.unit_price, 'lineTotal', i.line_total) ORDER BY i.line_no)
					           FROM sales.transaction_items i WHERE i.transaction_id = t.id) AS items
					   FROM sales.transactions t WHERE ${where}
					  ORDER BY ${SORT_SQL[desc ? sort.slice(1) : sort]} ${desc ? "DESC" : "ASC"}, t.id LIMIT :limit OFFSET :offset`,
					{ replacements, type: QueryTypes.SELECT },
				);
				return toPage(rows.map(toSaleJson), Number(n), ctx.params);
			},
		},

		getTransaction: {
			rest: "GET /shops/:shopId/transactions/:transactionId",
			roles: ["CLERK", "EXECUTIVE", "ADMIN"],
			retryPolicy: RETRY_READS,
			summary:
				"One sale with the lots each line drew (batch, expiry, quantity, unit price charged, markdown percent) (Clerk+ of the shop)",
			params: P.transactionIdParams,
			async handler(this: This, ctx: Ctx<P.TransactionIdParams>) {
				const { shopId, transactionId } = ctx.params;
				await shopForCaller(this.db, ctx, shopId);
				const [row] = await this.db.query<Parameters<typeof toSaleJson>[0]>(
					`SELECT t.id, t.shop_id AS "shopId", t.total_amount AS "totalAmount", t.payment_method AS "paymentMethod", t.clerk_id AS "clerkId",
					        t.patron_id AS "patronId", t.occurred_at AS "occurredAt", t.created_at AS "createdAt", sales.sale_lines(t.id) AS items
					   FROM sales.transactions t WHERE t.id = :transactionId AND t.shop_id = :shopId`,
					{ replacements: { shopId, transactionId }, type: QueryTypes.SELECT },
				);
				if (!row) throw notFound("Transaction", transactionId);
				return toSaleJson(row);
			},
		},
	},

	events: {
		// The catalog changed: prices and names are read afresh.
		[INTERNAL_EVENTS.cacheClean("inventory")]() {
			this.flavors.clear();
		},
	},

	created() {
		this.flavors = new FlavorCache();
	},
};

export default defineService(schema);
