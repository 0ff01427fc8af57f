/**
 * inventory.overdue: the daily overdue-invoice job. Invoices still ISSUED after
 * their due date become OVERDUE, each with one INVOICE_OVERDUE event (outbox,
 * same transaction). Runs at start and every day at 00:05 UTC on every inventory
 * node (mixins/daily-job.mixin.ts); one node does the work (advisory lock, lib/jobs.ts), and the status
 * change itself is the dedupe: an invoice turns OVERDUE once, however often the job runs.
 * A separate event rather than INVOICE_GENERATED with status OVERDUE: consumers of
 * INVOICE_GENERATED (sales links the invoice to its order) must not take it for a new invoice.
 */
import type { Context, Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { OutboxMixin, type OutboxThis } from "../../mixins/outbox.mixin";
import { CacheCleaner, type CacheCleanerThis } from "../../mixins/cache-cleaner.mixin";
import { runExclusive } from "../../lib/jobs";
import { DailyJobMixin } from "../../mixins/daily-job.mixin";
import { STRICT, isoDate, type Infer } from "../../lib/params";
import type { Meta } from "../../lib/types";
import { defineInventoryModels, type InventoryModels } from "./inventory.model";
import { today } from "./dates";
import { defineService, type ServiceDefinition } from "../../lib/service";

const markParams = { ...STRICT, asOf: { ...isoDate, optional: true } } as const;
type MarkParams = Infer<typeof markParams>;

interface Due {
	id: string;
	orderId: string | null;
	factoryId: string;
	shopId: string;
	totalAmount: string | number;
	dueDate: string;
}

interface Methods {
	/** `wait`: queue behind a run on another node instead of skipping this turn. */
	markOverdue(asOf: string, ctx: Context | null, wait?: boolean): Promise<{ asOf: string; overdue: number; skipped?: true }>;
	dailyJob(): Promise<unknown>;
}
type This = Service & DbThis<InventoryModels> & OutboxThis & CacheCleanerThis & Methods;

const JOB = "inventory.overdue-invoices";

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "inventory.overdue",
	mixins: [
		// Every day at 00:05 UTC (a due date passes at midnight), and at start.
		DailyJobMixin({ hour: 0, minute: 5 }),
		DbMixin({ schema: "inventory", models: defineInventoryModels }),
		OutboxMixin,
		CacheCleaner(["inventory"]),
	],

	actions: {
		/** Internal (operators, tests): run the job now. `asOf` (YYYY-MM-DD) replaces today: invoices due before it turn OVERDUE. */
		markOverdue: {
			visibility: "public",
			params: markParams,
			handler(ctx: Context<MarkParams, Meta>) {
				return this.markOverdue(ctx.params.asOf ?? today(), ctx, true);
			},
		},
	},

	methods: {
		async markOverdue(asOf: string, ctx: Context | null, wait = false) {
			const result = await runExclusive(
				this.db,
				JOB,
				async (t) => {
					const due = await this.db.query<Due>(
						`UPDATE "${this.dbSchema}".invoices SET status = 'OVERDUE', updated_at = now()
					 WHERE status = 'ISSUED' AND due_date < CAST(:asOf AS DATE)
					 RETURNING id, order_id AS "orderId", factory_id AS "factoryId", shop_id AS "shopId", total_amount AS "totalAmount", to_char(due_date, 'YYYY-MM-DD') AS "dueDate"`,
						{ type: QueryTypes.SELECT, replacements: { asOf }, transaction: t },
					);
					for (const d of due) {
						await this.publish(
							t,
							ctx,
							"INVOICE_OVERDUE",
							{
								invoiceId: d.id,
								orderId: d.orderId,
								factoryId: d.factoryId,
								shopId: d.shopId,
								totalAmount: Number(d.totalAmount),
								dueDate: d.dueDate,
								asOf,
							},
							d.id,
						);
					}
					return due.length;
				},
				{ wait },
			);
			if (result === undefined) return { asOf, overdue: 0, skipped: true as const };
			if (result) {
				this.logger.info(`Overdue invoices ${asOf}: ${result}`);
				await this.cleanCache("inventory");
			}
			return { asOf, overdue: result };
		},

		dailyJob() {
			return this.markOverdue(today(), null);
		},
	},
};

export default defineService(schema);
