/**
 * files.jobs: the video transcode worker and `GET /files/jobs/:jobId`. `POST /files/compress` on an MP4 or
 * WebM queues a row in files.transcode_jobs; each files node runs at most TRANSCODE_CONCURRENCY of them at
 * once with ffmpeg (H.264/AAC MP4 at `maxWidth`/`crf` plus a JPEG poster), reports progress from ffmpeg's
 * `-progress` output, records both outputs as variants of the file (counted in the owner's quota) and tells
 * the owner's and requester's sockets (FILE_JOB_FINISHED). The queue lives in the table, so it survives restarts.
 */
import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import type { ServiceSettingSchema } from "moleculer";
import { DbMixin } from "../../mixins/db.mixin";
import { RETRY_READS } from "../../lib/actions";
import { config } from "../../lib/config";
import { notFound } from "../../lib/errors";
import { INTERNAL_EVENTS } from "../../lib/events";
import { openImage } from "../../lib/images";
import { pushToSockets, userRoom } from "../../lib/presence";
import { reserveStorage, storageUsed } from "../../lib/quota";
import { removeStored, storageDir } from "../../lib/uploads";
import { defineFilesModels, type FileVariant, type StoredFile, type TranscodeJob } from "./files.model";
import * as P from "./files.params";
import { AREA, FILES_SCHEMA, STAFF_ROLES, toVariantView, type FilesThis } from "./files";
import type { Ctx } from "../../lib/types";
import { HEARTBEAT_MS, beat, claimJob, releaseJobs, requeueLost, toJobView } from "./jobs";
import { extractPoster, transcodeToMp4 } from "./video";
import { defineService, type ServiceDefinition } from "../../lib/service";

/** How often a node sweeps lost jobs and looks for queued ones (besides the queued event). */
const POLL_MS = 5_000;
/** A progress write at most this often. */
const PROGRESS_WRITE_MS = 1_000;
/** Where in the video the poster frame is taken (the first frame of a shorter one). */
const POSTER_AT_SEC = 1;

interface Running {
	abort: AbortController;
	done: Promise<void>;
}

type JobsThis = FilesThis & {
	running: Map<string, Running>;
	pumping: Promise<void> | undefined;
	pumpAgain: boolean;
	stopping: boolean;
	timer: NodeJS.Timeout | undefined;
	pump(): Promise<void>;
	runJob(id: string, signal: AbortSignal): Promise<void>;
	jobView(
		job: TranscodeJob,
		file?: StoredFile | null,
	): ReturnType<typeof toJobView> & { result: { video: unknown; poster: unknown } | null };
};

/** An ffmpeg failure as a job's error: its own words, without the server's paths. */
const publicError = (err: unknown) =>
	String((err as Error | undefined)?.message ?? err)
		.replace(/\/[^\s:'"]+/g, "<file>")
		.slice(0, 500);

const schema: ServiceDefinition<ServiceSettingSchema, JobsThis> = {
	name: "files.jobs",
	mixins: [DbMixin({ schema: FILES_SCHEMA, models: defineFilesModels })],
	settings: { rest: "/files" },

	actions: {
		get: {
			rest: "GET /jobs/:jobId",
			params: P.jobIdParams,
			retryPolicy: RETRY_READS,
			summary:
				"A video transcode job (the file's owner, who asked for it, EXECUTIVE or ADMIN; 404 otherwise): status QUEUED|RUNNING|DONE|FAILED, progress 0–100 from ffmpeg, error, and once DONE the `result` variants (video MP4, poster JPEG)",
			async handler(ctx: Ctx<P.JobIdParams>) {
				const user = ctx.meta.user!;
				const job = await this.models.TranscodeJob.findByPk(ctx.params.jobId);
				if (!job || (job.ownerId !== user.id && job.requestedBy !== user.id && !STAFF_ROLES.includes(user.role)))
					throw notFound("Job", ctx.params.jobId);
				return this.jobView(job, job.result ? await this.models.StoredFile.findByPk(job.fileId) : null);
			},
		},
	},

	events: {
		[INTERNAL_EVENTS.transcodeQueued]: {
			handler() {
				void this.pump();
			},
		},
	},

	methods: {
		jobView(job: TranscodeJob, file?: StoredFile | null) {
			const view = toJobView(job);
			if (!job.result || !file) return { ...view, result: null };
			const find = (id: string) => file.variants.find((v) => v.id === id);
			const video = find(job.result.videoVariantId);
			const poster = find(job.result.posterVariantId);
			return {
				...view,
				result: { video: video ? toVariantView(file.id, video) : null, poster: poster ? toVariantView(file.id, poster) : null },
			};
		},

		/** Starts queued jobs while this node has free slots; one pass at a time (a call during a pass asks for another). */
		pump(): Promise<void> {
			if (this.pumping) {
				this.pumpAgain = true;
				return this.pumping;
			}
			this.pumping = (async () => {
				do {
					this.pumpAgain = false;
					while (!this.stopping && this.running.size < config().media.transcodeConcurrency) {
						const job = await claimJob(this.db, this.broker.nodeID);
						if (!job) break;
						const abort = new AbortController();
						const done = this.runJob(job.id, abort.signal)
							.catch((err: unknown) => this.logger.error(`Transcode job ${job.id} could not be recorded`, err))
							.finally(() => {
								this.running.delete(job.id);
								if (!this.stopping) void this.pump();
							});
						this.running.set(job.id, { abort, done });
					}
				} while (this.pumpAgain && !this.stopping);
			})()
				.catch((err: unknown) => this.logger.warn("Transcode queue not reachable:", (err as Error).message))
				.finally(() => {
					this.pumping = undefined;
				});
			return this.pumping;
		},

		async runJob(id: string, signal: AbortSignal) {
			const job = (await this.models.TranscodeJob.findByPk(id))!;
			const nodeId = this.broker.nodeID;
			const dir = storageDir(AREA);
			const videoKey = `${randomUUID()}.mp4`;
			const posterKey = `${randomUUID()}.jpg`;
			let progress = 0;
			let written = 0;
			// Aborted when the node stops (`signal`) or when the job was re-queued meanwhile (this node was taken for gone).
			const stop = new AbortController();
			const both = stop.signal;
			if (signal.aborted) stop.abort();
			else signal.addEventListener("abort", () => stop.abort(), { once: true });
			const heartbeat = async () => {
				written = Date.now();
				if (!(await beat(this.db, id, nodeId, progress).catch(() => true))) stop.abort();
			};
			const timer = setInterval(() => void heartbeat(), HEARTBEAT_MS);
			let file: StoredFile | null = null;
			try {
				file = await this.models.StoredFile.findByPk(job.fileId);
				if (!file) throw new Error("The file was deleted");
				await fs.promises.mkdir(dir, { recursive: true });
				// The owner's room left: a larger result would be refused when recorded (413), so ffmpeg stops writing there
				// (the video reaching it fails that check: nothing is kept truncated).
				const room = config().upload.quotaBytes - (await storageUsed(this.db, FILES_SCHEMA, file.ownerId));
				await transcodeToMp4(path.join(dir, file.storageKey), path.join(dir, videoKey), {
					maxWidth: job.maxWidth,
					crf: job.crf,
					maxSeconds: config().media.videoMaxSeconds,
					maxBytes: Math.max(1, room),
					signal: both,
					onProgress: (fraction) => {
						// 100 only once recorded as DONE.
						progress = Math.min(99, Math.floor(fraction * 100));
						if (Date.now() - written >= PROGRESS_WRITE_MS) void heartbeat();
					},
				});
				await extractPoster(path.join(dir, videoKey), path.join(dir, posterKey), POSTER_AT_SEC, both);
				const poster = await openImage(path.join(dir, posterKey)).metadata();
				const [videoSize, posterSize] = await Promise.all(
					[videoKey, posterKey].map(async (key) => (await fs.promises.stat(path.join(dir, key))).size),
				);
				const now = new Date().toISOString();
				const dims = { width: poster.width ?? 0, height: poster.height ?? 0 };
				const video: FileVariant = {
					id: randomUUID(),
					kind: "VIDEO",
					storageKey: videoKey,
					mimeType: "video/mp4",
					size: videoSize,
					...dims,
					crf: job.crf,
					createdAt: now,
				};
				const still: FileVariant = {
					id: randomUUID(),
					kind: "POSTER",
					storageKey: posterKey,
					mimeType: "image/jpeg",
					size: posterSize,
					...dims,
					createdAt: now,
				};
				const recorded = await this.transaction(async (transaction) => {
					const mine = await this.models.TranscodeJob.findByPk(id, { transaction, lock: transaction.LOCK.UPDATE });
					if (!mine || mine.status !== "RUNNING" || mine.nodeId !== nodeId) return false;
					const fresh = await this.models.StoredFile.findByPk(job.fileId, { transaction, lock: transaction.LOCK.UPDATE });
					if (!fresh) throw new Error("The file was deleted");
					await reserveStorage(this.db, FILES_SCHEMA, fresh.ownerId, videoSize + posterSize, transaction);
					await fresh.update({ variants: [...fresh.variants, video, still] }, { transaction });
					await mine.update(
						{
							status: "DONE",
							progress: 100,
							result: { videoVariantId: video.id, posterVariantId: still.id },
							finishedAt: new Date(),
							nodeId: null,
						},
						{ transaction },
					);
					file = fresh;
					return true;
				});
				if (!recorded) throw new Error("taken over");
			} catch (err) {
				await Promise.all([removeStored(AREA, videoKey), removeStored(AREA, posterKey)]);
				// Stopping (re-queued by stopped()) or re-queued by a sweep: not this run's to fail.
				if (both.aborted || (err as Error).message === "taken over") return;
				const message = (err as { type?: string }).type === "QUOTA_EXCEEDED" ? (err as Error).message : publicError(err);
				const [count] = await this.models.TranscodeJob.update(
					{ status: "FAILED", error: message, finishedAt: new Date(), nodeId: null },
					{ where: { id, nodeId, status: "RUNNING" } },
				);
				if (!count) return;
				this.logger.info(`Transcode job ${id} failed: ${message}`);
			} finally {
				clearInterval(timer);
			}
			const finished = await this.models.TranscodeJob.findByPk(id);
			if (!finished) return;
			const data = this.jobView(finished, file);
			await pushToSockets(this.broker, {
				event: "FILE_JOB_FINISHED",
				rooms: [...new Set([finished.ownerId, finished.requestedBy])].map(userRoom),
				data,
			});
		},
	},

	created() {
		this.running = new Map();
		this.pumpAgain = false;
		this.stopping = false;
	},

	async started() {
		// This node's jobs from before a crash, and any whose node went silent, are queued again.
		const requeued = await requeueLost(this.db, this.broker.nodeID);
		if (requeued) this.logger.info(`Queued ${requeued} transcode job(s) again that were running when their node stopped`);
		void this.pump();
		this.timer = setInterval(() => {
			void requeueLost(this.db, null)
				.catch(() => 0)
				.then(() => this.pump());
		}, POLL_MS);
	},

	async stopped() {
		this.stopping = true;
		clearInterval(this.timer);
		// A pass in flight may still claim one: let it finish, then stop every run.
		await this.pumping;
		const ids = [...this.running.keys()];
		for (const run of this.running.values()) run.abort.abort();
		await Promise.all([...this.running.values()].map((r) => r.done));
		await releaseJobs(this.db, this.broker.nodeID, ids).catch((err: unknown) =>
			this.logger.warn("Could not give running transcode jobs back to the queue:", (err as Error).message),
		);
	},
};

export default defineService(schema);
