/**
 * inventory.readingsRetention: freezer readings older than FREEZER_READINGS_RETENTION_DAYS
 * (default 730) are deleted, at start and every day at 00:20 UTC, on every inventory node;
 * one node does the work (advisory lock, lib/jobs.ts). A freezer reporting every minute adds
 * about 525,000 rows a year, so without this the table grows for ever. Deleted in batches,
 * each its own short transaction, so ingest never waits long behind the job. Excursions
 * (`freezer_excursions`) are kept: they are the record; the readings are the evidence
 * for the retention period. Detection only looks back COLD_CHAIN_GRACE_MIN (≤ 24 h).
 */
import type { Context, Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { config } from "../../lib/config";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { runExclusive } from "../../lib/jobs";
import { DailyJobMixin } from "../../mixins/daily-job.mixin";
import { STRICT, type Infer } from "../../lib/params";
import type { Meta } from "../../lib/types";
import { defineInventoryModels, type InventoryModels } from "./inventory.model";
import { defineService, type ServiceDefinition } from "../../lib/service";

const purgeParams = { ...STRICT, before: { type: "date", convert: true, optional: true } } as const;
type PurgeParams = Infer<typeof purgeParams>;

/** Rows per delete: a few hundred milliseconds of work at most. */
const BATCH = 10_000;
const JOB = "inventory.freezer-readings-retention";

interface Methods {
	/** Deletes readings taken before `before`; `wait`: queue behind a run on another node instead of skipping. */
	purge(before: Date, wait?: boolean): Promise<{ before: string; deleted: number; skipped?: true }>;
	dailyJob(): Promise<unknown>;
}
type This = Service & DbThis<InventoryModels> & Methods;

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "inventory.readingsRetention",
	mixins: [DailyJobMixin({ hour: 0, minute: 20 }), DbMixin({ schema: "inventory", models: defineInventoryModels })],

	actions: {
		/** Internal (operators, tests): run the job now; `before` replaces now − the retention period. */
		purge: {
			visibility: "public",
			params: purgeParams,
			handler(ctx: Context<PurgeParams, Meta>) {
				return this.purge(ctx.params.before ?? cutoff(), true);
			},
		},
	},

	methods: {
		async purge(before: Date, wait = false) {
			let deleted = 0;
			for (;;) {
				const batch = await runExclusive(
					this.db,
					JOB,
					async (t) => {
						const [{ count }] = await this.db.query<{ count: string }>(
							`WITH gone AS (
							   DELETE FROM "${this.dbSchema}".freezer_readings WHERE ctid = ANY (ARRAY(
							     SELECT ctid FROM "${this.dbSchema}".freezer_readings WHERE at < :before LIMIT ${BATCH}))
							   RETURNING 1
							 ) SELECT count(*) AS count FROM gone`,
							{ type: QueryTypes.SELECT, replacements: { before }, transaction: t },
						);
						return Number(count);
					},
					{ wait },
				);
				if (batch === undefined) return { before: before.toISOString(), deleted, skipped: true as const };
				deleted += batch;
				if (batch < BATCH) break;
			}
			if (deleted) this.logger.info(`Freezer readings before ${before.toISOString()} deleted: ${deleted}`);
			return { before: before.toISOString(), deleted };
		},

		dailyJob() {
			return this.purge(cutoff());
		},
	},
};

function cutoff(): Date {
	return new Date(Date.now() - config().coldChain.readingsRetentionDays * 86_400_000);
}

export default defineService(schema);
