/**
 * inventory.expiry: the expiry scanner. Every EXPIRY_SCAN_INTERVAL_SEC it finds
 * live batches with units left whose expiry date is within their warning window
 * (the batch's own `warningDays`, else EXPIRY_WARNING_DAYS) and publishes one
 * EXPIRY_WARNING per batch and window: `expiry_warnings` remembers what was sent,
 * so repeated scans (and several nodes scanning at once) never repeat a warning.
 * A new window (warningDays changed) or a new expiry date warns again.
 * The first scan runs at start (not an interval later); on several nodes one scans
 * at a time (advisory lock, lib/jobs.ts), the others skip that turn.
 */
import type { Context, Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { OutboxMixin, type OutboxThis } from "../../mixins/outbox.mixin";
import { config } from "../../lib/config";
import { STRICT, isoDate, type Infer } from "../../lib/params";
import type { Meta } from "../../lib/types";
import { defineInventoryModels, type InventoryModels } from "./inventory.model";
import { today } from "./dates";
import { runExclusive } from "../../lib/jobs";
import { defineService, type ServiceDefinition } from "../../lib/service";

const scanParams = { ...STRICT, asOf: { ...isoDate, optional: true } } as const;
type ScanParams = Infer<typeof scanParams>;

interface Due {
	stock_item_id: string;
	factory_id: string;
	flavor_id: string;
	batch_id: string;
	quantity: number;
	expiry_date: string;
	warning_days: number;
	manager_id: string | null;
}

interface Methods {
	/** `wait`: queue behind a scan on another node instead of skipping this turn. */
	scan(asOf: string, ctx: Context | null, wait?: boolean): Promise<{ asOf: string; warned: number; skipped?: true }>;
	runScan(): void;
}
type This = Service & DbThis<InventoryModels> & OutboxThis & Methods & { timer?: NodeJS.Timeout; scanning?: Promise<unknown> };

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "inventory.expiry",
	mixins: [DbMixin({ schema: "inventory", models: defineInventoryModels }), OutboxMixin],
	settings: { rest: "/inventory" },

	actions: {
		/** Internal: run one scan now (tests, operators). `asOf` (YYYY-MM-DD) replaces today. */
		scan: {
			visibility: "public",
			params: scanParams,
			async handler(ctx: Context<ScanParams, Meta>) {
				return this.scan(ctx.params.asOf ?? today(), ctx, true);
			},
		},
	},

	methods: {
		async scan(asOf: string, ctx: Context | null, wait = false) {
			const defaultDays = config().expiryWarningDays;
			const warned = await runExclusive(
				this.db,
				"inventory.expiry-scan",
				async (t) => {
					// Claim every due (batch, window, expiry) not yet warned; the insert is the dedupe.
					const due = await this.db.query<Due>(
						`WITH due AS (
						SELECT s.id, s.factory_id, s.flavor_id, s.batch_id, s.quantity, s.expiry_date,
						       COALESCE(s.warning_days, :defaultDays) AS warning_days, f.manager_id
						FROM "${this.dbSchema}".stock_items s
						JOIN "${this.dbSchema}".factories f ON f.id = s.factory_id
						WHERE s.deleted_at IS NULL AND s.quantity > 0
						  AND s.expiry_date - COALESCE(s.warning_days, :defaultDays) <= CAST(:asOf AS DATE)
					), claimed AS (
						INSERT INTO "${this.dbSchema}".expiry_warnings (stock_item_id, warning_days, expiry_date, event_id)
						SELECT id, warning_days, expiry_date, gen_random_uuid() FROM due
						ON CONFLICT DO NOTHING
						RETURNING stock_item_id
					)
					SELECT d.id AS stock_item_id, d.factory_id, d.flavor_id, d.batch_id, d.quantity,
					       to_char(d.expiry_date, 'YYYY-MM-DD') AS expiry_date, d.warning_days, d.manager_id
					FROM due d JOIN claimed c ON c.stock_item_id = d.id
					ORDER BY d.expiry_date, d.batch_id`,
						{ replacements: { defaultDays, asOf }, type: QueryTypes.SELECT, transaction: t },
					);
					for (const d of due) {
						const event = await this.publish(
							t,
							ctx,
							"EXPIRY_WARNING",
							{
								stockItemId: d.stock_item_id,
								factoryId: d.factory_id,
								flavorId: d.flavor_id,
								batchId: d.batch_id,
								quantity: d.quantity,
								expiryDate: d.expiry_date,
								warningDays: d.warning_days,
								managerId: d.manager_id,
							},
							d.stock_item_id,
						);
						await this.db.query(
							`UPDATE "${this.dbSchema}".expiry_warnings SET event_id = :eventId WHERE stock_item_id = :id AND warning_days = :days AND expiry_date = :expiry`,
							{
								replacements: { eventId: event.id, id: d.stock_item_id, days: d.warning_days, expiry: d.expiry_date },
								transaction: t,
							},
						);
					}
					if (due.length) this.logger.info(`Expiry scan ${asOf}: ${due.length} warning(s)`);
					return due.length;
				},
				{ wait },
			);
			return warned === undefined ? { asOf, warned: 0, skipped: true as const } : { asOf, warned };
		},

		runScan() {
			if (this.scanning) return;
			this.scanning = this.scan(today(), null)
				.catch((err: unknown) => this.logger.error("Expiry scan failed", err))
				.finally(() => (this.scanning = undefined));
		},
	},

	started() {
		const interval = config().expiryScanIntervalSec * 1000;
		this.runScan();
		this.timer = setInterval(() => this.runScan(), interval);
		this.timer.unref();
	},

	async stopped() {
		if (this.timer) clearInterval(this.timer);
		await this.scanning;
	},
};

export default defineService(schema);
