/**
 * A job that runs at start (a node that was down at the hour catches up at once) and
 * every day at a UTC time, on every node of the service. The job itself takes the
 * cluster-wide lock (lib/jobs.ts runExclusive), so one node does the work; a run still
 * in progress is not started again, and stopping waits for it.
 *
 * Its first run comes after the schema's migrations wherever it is listed: DbMixin runs
 * them before every other `started` hook of the service.
 */
import type { Service } from "moleculer";
import { msUntilUtc } from "../lib/jobs";
import { defineMixin } from "../lib/service";

export interface DailyJobThis {
	/** Starts a run unless one is in progress (failures are logged). */
	runDailyJob(): void;
}

interface Host extends Service, DailyJobThis {
	/** The service's job. */
	dailyJob(): Promise<unknown>;
	scheduleDailyJob(): void;
	dailyJobTimer?: NodeJS.Timeout;
	dailyJobRunning?: Promise<unknown>;
}

export function DailyJobMixin(at: { hour: number; minute: number }) {
	return defineMixin<Host>({
		methods: {
			runDailyJob() {
				this.dailyJobRunning ??= this.dailyJob()
					.catch((err: unknown) => this.logger.error(`${this.fullName}: the daily job failed`, err))
					.finally(() => (this.dailyJobRunning = undefined));
			},

			scheduleDailyJob() {
				this.dailyJobTimer = setTimeout(
					() => {
						this.runDailyJob();
						this.scheduleDailyJob();
					},
					msUntilUtc(at.hour, at.minute),
				);
				this.dailyJobTimer.unref();
			},
		},

		started() {
			this.runDailyJob();
			this.scheduleDailyJob();
		},

		async stopped() {
			if (this.dailyJobTimer) clearTimeout(this.dailyJobTimer);
			await this.dailyJobRunning;
		},
	});
}
