/**
 * The transcode queue in files.transcode_jobs. A node claims the oldest QUEUED job with
 * FOR UPDATE SKIP LOCKED (two nodes never take the same one), marks it RUNNING under its node id and
 * beats `heartbeat_at` while ffmpeg runs. A job whose node stopped beating (a crash) is queued again:
 * at start (this node's own, or any gone silent) and by every node's periodic sweep.
 */
import { QueryTypes, type Sequelize } from "sequelize";
import type { JobStatus, TranscodeJob } from "./files.model";
import { FILES_SCHEMA } from "./files";

/** A RUNNING job whose heartbeat is older than this lost its node. */
export const STALE_MS = 60_000;
/** Heartbeats (and progress writes) of a running job at most this often. */
export const HEARTBEAT_MS = 5_000;
/** A job re-queued after this many starts is failed instead: it may be what crashes the node. */
export const MAX_ATTEMPTS = 3;

const T = `"${FILES_SCHEMA}".transcode_jobs`;

/** Takes the oldest queued job for `nodeId`, or none. */
export async function claimJob(db: Sequelize, nodeId: string): Promise<{ id: string } | undefined> {
	const rows = await db.query<{ id: string }>(
		`UPDATE ${T} SET status = 'RUNNING', node_id = :nodeId, heartbeat_at = now(), started_at = now(), progress = 0, attempts = attempts + 1, updated_at = now()
		 WHERE id = (SELECT id FROM ${T} WHERE status = 'QUEUED' ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
		 RETURNING id`,
		{ replacements: { nodeId }, type: QueryTypes.SELECT },
	);
	return rows[0];
}

/**
 * Queues again the RUNNING jobs of `nodeId` (its own, after a restart) and those whose node went silent;
 * jobs already started MAX_ATTEMPTS times fail instead. Returns how many were re-queued.
 */
export async function requeueLost(db: Sequelize, nodeId: string | null): Promise<number> {
	const lost = `status = 'RUNNING' AND (node_id = :nodeId OR heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => :staleSec))`;
	const replacements = { nodeId: nodeId ?? "", staleSec: STALE_MS / 1000, max: MAX_ATTEMPTS };
	await db.query(
		`UPDATE ${T} SET status = 'FAILED', error = 'The job stopped its node ' || attempts || ' times', node_id = NULL, finished_at = now(), updated_at = now()
		 WHERE ${lost} AND attempts >= :max`,
		{ replacements },
	);
	const rows = await db.query<{ id: string }>(
		`UPDATE ${T} SET status = 'QUEUED', node_id = NULL, progress = 0, updated_at = now() WHERE ${lost} RETURNING id`,
		{
			replacements,
			type: QueryTypes.SELECT,
		},
	);
	return rows.length;
}

/** Puts this node's running jobs back in the queue (a graceful stop): another node or the next start resumes them. */
export async function releaseJobs(db: Sequelize, nodeId: string, ids: string[]): Promise<void> {
	if (!ids.length) return;
	await db.query(
		`UPDATE ${T} SET status = 'QUEUED', node_id = NULL, progress = 0, attempts = GREATEST(0, attempts - 1), updated_at = now() WHERE id IN (:ids) AND node_id = :nodeId AND status = 'RUNNING'`,
		{
			replacements: { ids, nodeId },
		},
	);
}

/** Heartbeat with the progress (0–100); false when the job is no longer this node's (re-queued meanwhile). */
export async function beat(db: Sequelize, id: string, nodeId: string, progress: number): Promise<boolean> {
	const rows = await db.query(
		`UPDATE ${T} SET heartbeat_at = now(), progress = GREATEST(progress, :progress), updated_at = now() WHERE id = :id AND node_id = :nodeId AND status = 'RUNNING' RETURNING id`,
		{
			replacements: { id, nodeId, progress },
			type: QueryTypes.SELECT,
		},
	);
	return rows.length === 1;
}

/** What `GET /files/jobs/:jobId` answers. */
export function toJobView(job: TranscodeJob) {
	return {
		id: job.id,
		fileId: job.fileId,
		status: job.status as JobStatus,
		progress: job.progress,
		crf: job.crf,
		maxWidth: job.maxWidth,
		error: job.error ?? null,
		result: job.result ?? null,
		createdAt: job.createdAt,
		startedAt: job.startedAt ?? null,
		finishedAt: job.finishedAt ?? null,
	};
}
