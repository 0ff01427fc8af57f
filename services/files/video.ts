/**
 * ffmpeg for the files service: the binary comes from `@ffmpeg-installer/ffmpeg` (a static build shipped
 * inside the npm package, so `npm ci` is enough), FFMPEG_PATH overrides it, `/usr/bin/ffmpeg` is the fallback.
 * A transcode reports its progress from ffmpeg's `-progress` output (out_time against the input's Duration).
 */
import fs from "node:fs";
import { execFile, spawn } from "node:child_process";
import { config } from "../../lib/config";

const APT_FFMPEG = "/usr/bin/ffmpeg";

let resolved: string | undefined;

/** The ffmpeg binary to run (throws when there is none). */
export function ffmpegPath(): string {
	const override = config().media.ffmpegPath;
	if (override) return override;
	if (resolved) return resolved;
	try {
		resolved = (require("@ffmpeg-installer/ffmpeg") as { path: string }).path;
	} catch {
		// The package throws a string when its platform binary is missing: use the system's.
		if (!fs.existsSync(APT_FFMPEG))
			throw new Error("No ffmpeg binary: install @ffmpeg-installer/ffmpeg (npm ci), apt's ffmpeg, or set FFMPEG_PATH");
		resolved = APT_FFMPEG;
	}
	return resolved;
}

/** ffmpeg's last lines of stderr, for a failed job's error (never the file paths). */
class FfmpegError extends Error {}

/** A run of ffmpeg silent this long (no progress, no log) is stuck: killed. */
const IDLE_KILL_MS = 120_000;

export interface RunOptions {
	/** Called with 0–1 as ffmpeg reports progress (needs `-progress pipe:1` in the args). */
	onProgress?: (fraction: number) => void;
	signal?: AbortSignal;
}

/** Runs ffmpeg with `args`; resolves when it exits 0, rejects with the tail of its log otherwise. */
export function runFfmpeg(args: string[], opts: RunOptions = {}): Promise<void> {
	return new Promise((resolve, reject) => {
		if (opts.signal?.aborted) return reject(new Error("aborted"));
		const child = spawn(ffmpegPath(), ["-hide_banner", "-nostdin", "-y", ...args], { stdio: ["ignore", "pipe", "pipe"] });
		let durationUs = 0;
		let stderr = "";
		let stdoutRest = "";
		let idle: NodeJS.Timeout | undefined;
		const arm = () => {
			clearTimeout(idle);
			idle = setTimeout(() => child.kill("SIGKILL"), IDLE_KILL_MS);
		};
		const abort = () => child.kill("SIGKILL");
		opts.signal?.addEventListener("abort", abort, { once: true });
		child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
			arm();
			stderr = (stderr + chunk).slice(-8192);
			const m = !durationUs && /Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)/.exec(stderr);
			if (m) durationUs = ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1e6;
		});
		child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
			arm();
			const lines = (stdoutRest + chunk).split("\n");
			stdoutRest = lines.pop() ?? "";
			for (const line of lines) {
				// out_time_us (older builds: out_time_ms, also in microseconds).
				const m = /^out_time_[mu]s=(\d+)/.exec(line.trim());
				if (m && durationUs > 0) opts.onProgress?.(Math.min(1, Number(m[1]) / durationUs));
				if (line.trim() === "progress=end") opts.onProgress?.(1);
			}
		});
		child.once("error", (err) => {
			clearTimeout(idle);
			reject(err);
		});
		child.once("close", (code, sig) => {
			clearTimeout(idle);
			opts.signal?.removeEventListener("abort", abort);
			if (code === 0) return resolve();
			if (opts.signal?.aborted) return reject(new Error("aborted"));
			const tail = stderr
				.split("\n")
				.map((l) => l.trim())
				.filter(Boolean)
				.slice(-2)
				.join(" | ");
			reject(new FfmpegError(sig ? `ffmpeg was stopped (${sig})` : `ffmpeg failed: ${tail}`));
		});
		arm();
	});
}

export interface VideoFacts {
	/** From the container's header; null when it states none. */
	durationSec: number | null;
	width: number;
	height: number;
}

/** Longest a probe may take (it reads headers only), well inside the request's timeout; past it the video is queued. */
const PROBE_TIMEOUT_MS = 5_000;

/**
 * What the container says of `file`'s length and its first video stream's frame size (ffmpeg's own listing of its
 * input: the shipped binary, no ffprobe needed), or null when ffmpeg finds no video stream in it (or takes too long).
 */
export async function probeVideo(file: string): Promise<VideoFacts | null> {
	const listing = await new Promise<string>((resolve) =>
		// With no output named ffmpeg lists the input on stderr and exits 1: that is the expected answer.
		execFile(
			ffmpegPath(),
			["-hide_banner", "-nostdin", "-i", file],
			{ timeout: PROBE_TIMEOUT_MS, maxBuffer: 1024 * 1024, killSignal: "SIGKILL" },
			(_err, _stdout, stderr) => resolve(String(stderr)),
		),
	);
	const size = /Stream #\d+:\d+[^\n]*: Video: [^\n]*?, (\d{1,5})x(\d{1,5})[\s,]/.exec(listing);
	if (!size) return null;
	const d = /Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)/.exec(listing);
	return {
		durationSec: d ? (Number(d[1]) * 60 + Number(d[2])) * 60 + Number(d[3]) : null,
		width: Number(size[1]),
		height: Number(size[2]),
	};
}

export interface TranscodeOptions {
	maxWidth?: number | null;
	crf: number;
	/** Output stops here, whatever length the input's header claimed. */
	maxSeconds: number;
	/** Output stops growing past this many bytes (`-fs`): a result that could not be kept stops filling the disk. */
	maxBytes?: number;
	onProgress?: (fraction: number) => void;
	signal?: AbortSignal;
}

/**
 * `input` → H.264/AAC MP4 at `output`: at most `maxWidth` wide (never upscaled; even dimensions for
 * yuv420p), x264 `crf`, audio (if any) to AAC, `faststart` so a player can start before the end arrives; at most
 * `maxSeconds` long and (about) `maxBytes` large.
 */
export function transcodeToMp4(input: string, output: string, opts: TranscodeOptions): Promise<void> {
	const width = opts.maxWidth ? `min(iw\\,${opts.maxWidth})` : "iw";
	return runFfmpeg(
		[
			"-i",
			input,
			"-map",
			"0:v:0",
			"-map",
			"0:a:0?",
			"-t",
			String(opts.maxSeconds),
			...(opts.maxBytes ? ["-fs", String(opts.maxBytes)] : []),
			"-vf",
			`scale=trunc(${width}/2)*2:-2`,
			"-c:v",
			"libx264",
			"-preset",
			"veryfast",
			"-crf",
			String(opts.crf),
			"-pix_fmt",
			"yuv420p",
			"-c:a",
			"aac",
			"-b:a",
			"128k",
			"-movflags",
			"+faststart",
			"-f",
			"mp4",
			"-nostats",
			"-progress",
			"pipe:1",
			output,
		],
		{ onProgress: opts.onProgress, signal: opts.signal },
	);
}

/** One JPEG frame of `video` at `atSec` (the first frame when the video is shorter). */
export async function extractPoster(video: string, output: string, atSec: number, signal?: AbortSignal): Promise<void> {
	await runFfmpeg(["-ss", String(atSec), "-i", video, "-frames:v", "1", "-q:v", "3", "-f", "image2", output], { signal });
	// -ss past the end writes nothing and still exits 0: take the first frame then.
	if (!(await fs.promises.stat(output).catch(() => undefined))?.size)
		await runFfmpeg(["-i", video, "-frames:v", "1", "-q:v", "3", "-f", "image2", output], { signal });
}
