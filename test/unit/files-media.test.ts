/**
 * Issue 14 §2 settings and signed download links: TRANSCODE_CONCURRENCY, the transcode bounds (TRANSCODE_JOBS_PER_USER,
 * VIDEO_MAX_SECONDS, VIDEO_MAX_PIXELS), FILES_URL_SECRET (or derived), FILES_URL_TTL_SEC.
 */
import { ConfigError, loadConfig, setConfig } from "../../lib/config";
import { signedExpiry, signUrl, verifySigned } from "../../services/files/signed";

const JWT = "j".repeat(40);

describe("media settings", () => {
	it("defaults to one transcode at a time, three jobs per user, videos up to 10 minutes and 4K, hour-long links and a key derived from JWT_SECRET", () => {
		const a = loadConfig({ JWT_SECRET: JWT });
		expect(a.media).toMatchObject({
			transcodeConcurrency: 1,
			transcodeJobsPerUser: 3,
			videoMaxSeconds: 600,
			videoMaxPixels: 3840 * 2160,
			ffmpegPath: undefined,
			urlTtlSec: 3600,
		});
		// Every node with the same JWT_SECRET derives the same key, and it is not the JWT secret itself.
		expect(loadConfig({ JWT_SECRET: JWT }).media.urlSecret).toBe(a.media.urlSecret);
		expect(a.media.urlSecret).not.toBe(JWT);
		expect(loadConfig({ JWT_SECRET: "k".repeat(40) }).media.urlSecret).not.toBe(a.media.urlSecret);
		expect(
			loadConfig({
				JWT_SECRET: JWT,
				FILES_URL_SECRET: "u".repeat(32),
				FILES_URL_TTL_SEC: "15m",
				TRANSCODE_CONCURRENCY: "3",
				TRANSCODE_JOBS_PER_USER: "5",
				VIDEO_MAX_SECONDS: "120",
				VIDEO_MAX_PIXELS: "2073600",
				FFMPEG_PATH: "/opt/ffmpeg",
			}).media,
		).toEqual({
			transcodeConcurrency: 3,
			transcodeJobsPerUser: 5,
			videoMaxSeconds: 120,
			videoMaxPixels: 2073600,
			ffmpegPath: "/opt/ffmpeg",
			urlSecret: "u".repeat(32),
			urlTtlSec: 900,
		});
	});

	it.each([
		[{ TRANSCODE_CONCURRENCY: "0" }, "TRANSCODE_CONCURRENCY"],
		[{ TRANSCODE_JOBS_PER_USER: "0" }, "TRANSCODE_JOBS_PER_USER"],
		[{ VIDEO_MAX_SECONDS: "ten" }, "VIDEO_MAX_SECONDS"],
		[{ VIDEO_MAX_PIXELS: "-1" }, "VIDEO_MAX_PIXELS"],
		[{ FILES_URL_SECRET: "short" }, "FILES_URL_SECRET"],
		[{ FILES_URL_TTL_SEC: "1w" }, "FILES_URL_TTL_SEC"],
	])("rejects %j", (env, variable) => {
		expect(() => loadConfig(env)).toThrow(ConfigError);
		expect(() => loadConfig(env)).toThrow(variable);
	});
});

describe("signed links", () => {
	beforeAll(() => setConfig(loadConfig({ FILES_URL_SECRET: "s".repeat(32), FILES_URL_TTL_SEC: "600" })));

	it("rounds expiries up to a TTL step: one URL per step, valid between one and two TTLs", () => {
		const now = Date.UTC(2026, 0, 1, 12, 3, 0);
		const exp = signedExpiry(now);
		expect(exp % 600).toBe(0);
		expect(exp - now / 1000).toBeGreaterThanOrEqual(600);
		expect(exp - now / 1000).toBeLessThanOrEqual(1200);
		expect(signedExpiry(now + 60_000)).toBe(exp);
	});

	it("verifies file, variant and expiry together", () => {
		const exp = signedExpiry();
		const url = signUrl("/x?variant=v1", "f1", "v1", exp);
		const sig = new URL(url, "http://h").searchParams.get("sig")!;
		expect(verifySigned("f1", "v1", exp, sig)).toBeGreaterThan(0);
		expect(() => verifySigned("f1", "v2", exp, sig)).toThrow("signature");
		expect(() => verifySigned("f2", "v1", exp, sig)).toThrow("signature");
		expect(() => verifySigned("f1", "v1", exp + 1, sig)).toThrow("signature");
		expect(() => verifySigned("f1", "v1", exp, sig, (exp + 1) * 1000)).toThrow("expired");
	});
});
