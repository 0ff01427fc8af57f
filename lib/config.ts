/**
 * Configuration: every environment variable the backend reads, parsed and
 * validated in one place. A bad value throws a ConfigError naming the
 * variable; bin/start.ts prints that one line and exits.
 */
import { createHmac, randomBytes } from "node:crypto";
import fs from "node:fs";
import { EVENT_NAMES, type EventName } from "./events";

export class ConfigError extends Error {
	constructor(
		readonly variable: string,
		reason: string,
	) {
		super(`Invalid configuration: ${variable} ${reason}`);
		this.name = "ConfigError";
	}
}

export type Env = Record<string, string | undefined>;

/** Every variable the app reads, documented in the README. */
export const ENV_VARS = [
	"NODE_ENV",
	"PORT",
	"METRICS_PORT",
	"DATABASE_URL",
	"DB_POOL_MAX",
	"REDIS_URL",
	"TRANSPORTER",
	"NATS_CREDENTIALS",
	"SERVICE_KEY",
	"SERVICE_KEY_PREVIOUS",
	"CACHER",
	"NODE_ID",
	"NAMESPACE",
	"HEARTBEAT_TIMEOUT_SEC",
	"REQUEST_TIMEOUT_MS",
	"KAFKA_BROKERS",
	"KAFKA_CLIENT_ID",
	"KAFKA_INBOUND_EVENTS",
	"KAFKA_INBOUND_KEY",
	"KAFKA_INBOUND_KEY_PREVIOUS",
	"OUTBOX_RETENTION_DAYS",
	"STREAM_MAX_ATTEMPTS",
	"STREAM_MAX_BACKLOG",
	"STREAM_DELAY_MS",
	"STREAM_DEDUP_DAYS",
	"SERVICES",
	"JWT_SECRET",
	"JWT_SECRET_PREVIOUS",
	"JWT_ACCESS_TTL",
	"JWT_REFRESH_TTL",
	"BOOTSTRAP_ADMIN_EMAIL",
	"BOOTSTRAP_ADMIN_PASSWORD",
	"SMTP_URL",
	"MAIL_FROM",
	"PUBLIC_URL",
	"GOOGLE_CLIENT_ID",
	"GOOGLE_JWKS_URL",
	"CORS_ORIGINS",
	"TRUST_PROXY",
	"RATE_LIMIT_PER_MIN",
	"RATE_LIMIT_AUTH_PER_MIN",
	"DEVICE_KEY_FAILURES_PER_MIN",
	"SOCKETS_PER_USER",
	"BODY_LIMIT",
	"FILES_DIR",
	"UPLOAD_MAX_BYTES",
	"UPLOAD_BATCH_MAX_FILES",
	"UPLOAD_QUOTA_BYTES",
	"IMAGE_MAX_PIXELS",
	"IMAGE_DECODES_PER_USER",
	"IMAGE_DECODE_CONCURRENCY",
	"UV_THREADPOOL_SIZE",
	"TRANSCODE_CONCURRENCY",
	"TRANSCODE_JOBS_PER_USER",
	"VIDEO_MAX_SECONDS",
	"VIDEO_MAX_PIXELS",
	"FFMPEG_PATH",
	"FILES_URL_SECRET",
	"FILES_URL_TTL_SEC",
	"EMAIL_SEND_PER_HOUR",
	"EMBEDDED_PG_DIR",
	"EMBEDDED_PG_PORT",
	"EXPIRY_SCAN_INTERVAL_SEC",
	"EXPIRY_WARNING_DAYS",
	"INVOICE_DUE_DAYS",
	"COLD_CHAIN_MAX_C",
	"COLD_CHAIN_GRACE_MIN",
	"FREEZER_READINGS_RETENTION_DAYS",
	"MAINTENANCE_NOTICE_MINUTES",
	"SHOP_TIME_ZONE",
	"LOG_LEVEL",
	"VAPID_PUBLIC_KEY",
	"VAPID_PRIVATE_KEY",
	"VAPID_SUBJECT",
] as const;

export type EnvVar = (typeof ENV_VARS)[number];

export interface Config {
	/** development: everything optional; staging: production's secrets and a real SMTP, with debug logs; production: strict. */
	env: "development" | "staging" | "production" | "test";
	port: number;
	metricsPort: number | undefined;
	databaseUrl: string | undefined;
	dbPoolMax: number;
	redisUrl: string | undefined;
	transporter: string | undefined;
	/** Path of a NATS creds file or nkey seed file (lib/transport.ts). */
	natsCredentials: string | undefined;
	/** Proof of origin on broker calls between nodes (lib/service-key.ts); previous: still accepted during a rotation. */
	serviceKey: { current: string; previous: string | undefined } | undefined;
	cacher: string | undefined;
	nodeId: string | undefined;
	/** Moleculer namespace: nodes only see nodes of the same namespace on one transporter. */
	namespace: string;
	/** A node silent this long is considered gone (heartbeats every third of it). */
	heartbeatTimeoutSec: number;
	requestTimeoutMs: number;
	kafkaBrokers: string[];
	kafkaClientId: string;
	/** Events accepted from Kafka producers outside the cluster (none: inbound off), and the HMAC keys they are signed with. */
	kafkaInbound: { events: EventName[]; key: string | undefined; previousKey: string | undefined };
	outboxRetentionDays: number;
	/**
	 * Durable internal event delivery (mixins/event-stream.mixin.ts): tries before an event is dead-lettered, the
	 * backlog above which /ready fails, a pause per event of each batch (a slow consumer on purpose, tests and drills
	 * only), and how long a group keeps the ids of the events it processed (at least the outbox retention).
	 */
	stream: { maxAttempts: number; maxBacklog: number; delayMs: number; dedupDays: number };
	services: string[] | undefined;
	jwt: {
		secret: string;
		previousSecret: string | undefined;
		secretGenerated: boolean;
		accessTtlSec: number;
		refreshTtlSec: number;
		issuer: string;
		audience: string;
	};
	bootstrapAdmin: { email: string; password: string } | undefined;
	smtpUrl: string | undefined;
	mailFrom: string;
	publicUrl: string;
	google: { clientId: string | undefined; jwksUrl: string };
	corsOrigins: string[];
	trustProxy: number;
	rateLimit: { perMin: number; authPerMin: number; deviceKeyFailuresPerMin: number };
	/** Sockets one user may hold open: on all gateway nodes together with REDIS_URL (services/gateway/socket-cap.ts). */
	socketsPerUser: number;
	bodyLimit: string;
	filesDir: string;
	/** Largest file the files service accepts (bytes), and how many files one batch upload may carry. */
	upload: { maxBytes: number; batchMaxFiles: number; quotaBytes: number };
	/** Largest image (width × height × frames) decoded or accepted; sharp's limitInputPixels. */
	imageMaxPixels: number;
	/** Images one user may have decoding at once on a node (uploads' variants, compress). */
	imageDecodesPerUser: number;
	/** Images a node decodes at once (all users): the rest of libuv's workers stay free for argon2 and file I/O. */
	imageDecodeConcurrency: number;
	/**
	 * Video transcoding: jobs one files node runs at once, and an ffmpeg binary that overrides the npm one.
	 * Signed download URLs: HMAC key (derived from the JWT secret when unset) and how long a URL stays valid.
	 */
	media: {
		transcodeConcurrency: number;
		/** Jobs one user may have queued or running at once. */
		transcodeJobsPerUser: number;
		/** Longest video (seconds) and largest frame (width × height) a transcode takes. */
		videoMaxSeconds: number;
		videoMaxPixels: number;
		ffmpegPath: string | undefined;
		urlSecret: string;
		urlTtlSec: number;
	};
	/** Internal emails one sender may send per hour (also the SMTP relay cap). */
	emailSendPerHour: number;
	/** The embedded PostgreSQL `npm start` runs when DATABASE_URL is unset. */
	embeddedPg: { dir: string; port: number };
	expiryScanIntervalSec: number;
	expiryWarningDays: number;
	invoiceDueDays: number;
	/** Cold chain: a freezer above `maxC` °C for longer than `graceMin` minutes is an excursion (services/inventory/cold-chain.ts). */
	/** Excursion rule; readings older than `readingsRetentionDays` are deleted by a daily job. */
	coldChain: { maxC: number; graceMin: number; readingsRetentionDays: number };
	/** Minutes before a maintenance window starts at which sockets get a SYSTEM_ANNOUNCEMENT, largest first. */
	maintenanceNoticeMinutes: number[];
	/** IANA time zone of the shops' opening hours (`eislager_shop_open`, the no-sales alert). */
	shopTimeZone: string;
	logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace";
	/**
	 * Web Push (services/communications/push.service.ts): the VAPID key pair (both or neither;
	 * unset outside production: generated once and kept in the database), the contact subject,
	 * and whether push endpoints may be plain http (never in production).
	 */
	vapid: {
		publicKey: string | undefined;
		privateKey: string | undefined;
		subject: string;
		/** Outside production: http: endpoints and internal addresses (a local stand-in push service). */
		allowDevelopmentEndpoints: boolean;
	};
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;
export const NODE_ENVS: readonly Config["env"][] = ["development", "staging", "production", "test"];
/** The services that send mail (lib/mailer.ts). */
const MAIL_SERVICES = ["auth", "communications"];
/** Staging logs verbosely: it is where a release is watched before production. */
const DEFAULT_LOG_LEVEL: Record<Config["env"], Config["logLevel"]> = {
	development: "info",
	staging: "debug",
	production: "info",
	test: "warn",
};

/**
 * Days a consumer group keeps the ids of the events it processed (its de-duplication window): at least the outbox
 * retention, the time an event can still be read, or re-imported from Kafka past the bridge's own de-duplication.
 */
function dedupDays(env: Env, outboxRetentionDays: number): number {
	const days = int(env, "STREAM_DEDUP_DAYS", Math.max(30, outboxRetentionDays), 1, 3650);
	if (days < outboxRetentionDays)
		throw new ConfigError("STREAM_DEDUP_DAYS", `must be at least OUTBOX_RETENTION_DAYS (${outboxRetentionDays}), got ${days}`);
	return days;
}

function int(env: Env, name: EnvVar, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
	const raw = env[name];
	if (raw === undefined || raw === "") return fallback;
	if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
	const value = Number(raw);
	if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
	return value;
}

/** Durations: plain seconds or a number with s/m/h/d ("15m", "30d"). */
export function parseDuration(name: string, raw: string): number {
	const match = /^(\d+)\s*([smhd]?)$/.exec(raw.trim());
	if (!match) throw new ConfigError(name, `must be a duration like 900, 15m, 12h or 30d, got "${raw}"`);
	const factor = { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as "" | "s" | "m" | "h" | "d"];
	const seconds = Number(match[1]) * factor;
	if (seconds <= 0) throw new ConfigError(name, "must be positive");
	return seconds;
}

/** A whole number that may be negative (temperatures). */
function signed(env: Env, name: EnvVar, fallback: number, min: number, max: number): number {
	const raw = env[name];
	if (raw === undefined || raw === "") return fallback;
	if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
	const value = Number(raw);
	if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
	return value;
}

function url(env: Env, name: EnvVar, protocols: string[]): string | undefined {
	const raw = env[name]?.trim();
	if (!raw) return undefined;
	let parsed: URL;
	try {
		parsed = new URL(raw);
	} catch {
		throw new ConfigError(name, `must be a URL (${protocols.join(", ")})`);
	}
	if (!protocols.includes(parsed.protocol.replace(/:$/, ""))) {
		throw new ConfigError(name, `must use ${protocols.join(" or ")}, got "${parsed.protocol}"`);
	}
	return raw;
}

/** MAINTENANCE_NOTICE_MINUTES: comma list of whole minutes (1–1440), default 15,5; empty = no advance notices. */
function maintenanceNoticeMinutes(env: Env): number[] {
	const raw = env.MAINTENANCE_NOTICE_MINUTES;
	if (raw === undefined) return [15, 5];
	const values = list(raw).map((v) => {
		const n = Number(v);
		if (!/^\d+$/.test(v) || n < 1 || n > 1440)
			throw new ConfigError("MAINTENANCE_NOTICE_MINUTES", `must be a comma list of minutes between 1 and 1440, got "${raw}"`);
		return n;
	});
	return [...new Set(values)].sort((a, b) => b - a);
}

/** An IANA time zone name (e.g. Europe/Berlin); anything else stops start-up. */
function timeZone(name: string): string {
	try {
		new Intl.DateTimeFormat("en", { timeZone: name });
		return name;
	} catch {
		throw new ConfigError("SHOP_TIME_ZONE", `must be an IANA time zone such as Europe/Berlin, got "${name}"`);
	}
}

function list(raw: string | undefined): string[] {
	return (raw ?? "")
		.split(",")
		.map((s) => s.trim())
		.filter(Boolean);
}

/** A shared secret: unset, or at least 32 characters. */
function secret(env: Env, name: EnvVar): string | undefined {
	const value = env[name] || undefined;
	if (value !== undefined && value.length < 32) throw new ConfigError(name, "must be at least 32 characters");
	return value;
}

function natsCredentials(env: Env, transporter: string | undefined): string | undefined {
	const file = env.NATS_CREDENTIALS?.trim() || undefined;
	if (!file) return undefined;
	if (!transporter?.startsWith("nats://")) throw new ConfigError("NATS_CREDENTIALS", "needs a nats:// TRANSPORTER");
	if (!fs.existsSync(file)) throw new ConfigError("NATS_CREDENTIALS", `names no readable file ("${file}")`);
	return file;
}

function serviceKey(env: Env, nodeEnv: string, transporter: string | undefined): Config["serviceKey"] {
	const current = secret(env, "SERVICE_KEY");
	const previous = secret(env, "SERVICE_KEY_PREVIOUS");
	// Without a key every node would trust any process that reaches the transporter.
	if ((nodeEnv === "production" || nodeEnv === "staging") && transporter && !current)
		throw new ConfigError("SERVICE_KEY", `is required when NODE_ENV=${nodeEnv} and TRANSPORTER is set`);
	if (previous && !current) throw new ConfigError("SERVICE_KEY_PREVIOUS", "needs SERVICE_KEY (the new key) beside it");
	return current ? { current, previous } : undefined;
}

function kafkaInbound(env: Env): Config["kafkaInbound"] {
	const events = list(env.KAFKA_INBOUND_EVENTS);
	for (const name of events) {
		if (!(EVENT_NAMES as string[]).includes(name))
			throw new ConfigError("KAFKA_INBOUND_EVENTS", `has an unknown event type "${name}" (known: ${EVENT_NAMES.join(", ")})`);
	}
	const key = secret(env, "KAFKA_INBOUND_KEY");
	const previousKey = secret(env, "KAFKA_INBOUND_KEY_PREVIOUS");
	if (events.length && !key)
		throw new ConfigError("KAFKA_INBOUND_KEY", "is required when KAFKA_INBOUND_EVENTS is set (inbound messages must be signed)");
	if (previousKey && !key) throw new ConfigError("KAFKA_INBOUND_KEY_PREVIOUS", "needs KAFKA_INBOUND_KEY (the new key) beside it");
	return { events: events as EventName[], key, previousKey };
}

/**
 * Key of signed download URLs. Unset, it is derived from JWT_SECRET (set on every node of a cluster and
 * in production), so all nodes agree without one more secret; a dev process without either gets a random one.
 */
function filesUrlSecret(env: Env, jwtSecret: string | undefined): string {
	const own = secret(env, "FILES_URL_SECRET");
	if (own) return own;
	// JWT_SECRET is required in production and in a cluster (checked above): a random key only in a lone dev/test process.
	return jwtSecret
		? createHmac("sha256", jwtSecret).update("eislager:files-url").digest("base64url")
		: randomBytes(32).toString("base64url");
}

function vapid(env: Env, nodeEnv: string, mailFrom: string): Config["vapid"] {
	const publicKey = env.VAPID_PUBLIC_KEY?.trim() || undefined;
	const privateKey = env.VAPID_PRIVATE_KEY?.trim() || undefined;
	if (Boolean(publicKey) !== Boolean(privateKey))
		throw new ConfigError(publicKey ? "VAPID_PRIVATE_KEY" : "VAPID_PUBLIC_KEY", "must be set together with its pair");
	const b64url = /^[A-Za-z0-9_-]+$/;
	if (publicKey && (!b64url.test(publicKey) || Buffer.from(publicKey, "base64url").length !== 65))
		throw new ConfigError("VAPID_PUBLIC_KEY", "must be a URL-safe base64 P-256 public key (65 bytes)");
	if (privateKey && (!b64url.test(privateKey) || Buffer.from(privateKey, "base64url").length !== 32))
		throw new ConfigError("VAPID_PRIVATE_KEY", "must be a URL-safe base64 P-256 private key (32 bytes)");
	const fallback = `mailto:${/<([^>]+)>/.exec(mailFrom)?.[1] ?? mailFrom}`;
	const subject = env.VAPID_SUBJECT?.trim() || fallback;
	if (!/^(mailto:\S+@\S+|https:\/\/\S+)$/.test(subject))
		throw new ConfigError("VAPID_SUBJECT", `must be a mailto: address or an https: URL, got "${subject}"`);
	return { publicKey, privateKey, subject, allowDevelopmentEndpoints: nodeEnv !== "production" };
}

function namespace(env: Env): string {
	const raw = env.NAMESPACE?.trim() || "eislager";
	if (!/^[\w-]{1,64}$/.test(raw)) throw new ConfigError("NAMESPACE", `must be letters, digits, _ or - (at most 64), got "${raw}"`);
	return raw;
}

export function loadConfig(env: Env = process.env): Config {
	const nodeEnv = env.NODE_ENV ?? "development";
	if (!NODE_ENVS.includes(nodeEnv as Config["env"])) {
		throw new ConfigError("NODE_ENV", `must be ${NODE_ENVS.join(", ")}, got "${nodeEnv}"`);
	}
	// Staging and production are deployed: tokens must survive a restart and mail must really leave.
	const deployed = nodeEnv === "production" || nodeEnv === "staging";

	const jwtSecret = env.JWT_SECRET || undefined;
	if (deployed && !jwtSecret) throw new ConfigError("JWT_SECRET", `is required when NODE_ENV=${nodeEnv}`);
	// Staging sends the mails production would, through a real server: required where mail leaves (auth, communications).
	const sendsMail = !env.SERVICES || list(env.SERVICES).some((s) => MAIL_SERVICES.includes(s));
	if (nodeEnv === "staging" && sendsMail && !env.SMTP_URL?.trim())
		throw new ConfigError("SMTP_URL", "is required when NODE_ENV=staging (a real mail server) on a node that sends mail");
	// Every node verifies tokens locally, so a cluster must share one secret.
	if (env.TRANSPORTER && !jwtSecret) throw new ConfigError("JWT_SECRET", "is required when TRANSPORTER is set (all nodes must share it)");
	if (jwtSecret !== undefined && jwtSecret.length < 32) throw new ConfigError("JWT_SECRET", "must be at least 32 characters");
	const jwtPrevious = secret(env, "JWT_SECRET_PREVIOUS");
	if (jwtPrevious && !jwtSecret) throw new ConfigError("JWT_SECRET_PREVIOUS", "needs JWT_SECRET (the new secret) beside it");

	const outboxRetentionDays = int(env, "OUTBOX_RETENTION_DAYS", 7, 1, 3650);

	// Empty means unset, as for every variable (compose passes optional ones through empty).
	const adminEmail = env.BOOTSTRAP_ADMIN_EMAIL?.trim() || undefined;
	const adminPassword = env.BOOTSTRAP_ADMIN_PASSWORD || undefined;
	if (Boolean(adminEmail) !== Boolean(adminPassword)) {
		throw new ConfigError(adminEmail ? "BOOTSTRAP_ADMIN_PASSWORD" : "BOOTSTRAP_ADMIN_EMAIL", "must be set together with its pair");
	}
	if (adminEmail && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(adminEmail))
		throw new ConfigError("BOOTSTRAP_ADMIN_EMAIL", "must be an email address");
	if (adminPassword !== undefined && adminPassword.length < 8)
		throw new ConfigError("BOOTSTRAP_ADMIN_PASSWORD", "must be at least 8 characters");

	const logLevel = (env.LOG_LEVEL || DEFAULT_LOG_LEVEL[nodeEnv as Config["env"]]) as Config["logLevel"];
	if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError("LOG_LEVEL", `must be one of ${LOG_LEVELS.join(", ")}`);

	const transporter = env.TRANSPORTER?.trim() || undefined;
	if (transporter && !/^(nats|redis|tcp|fake):\/\/|^(NATS|Redis|TCP|Fake)$/.test(transporter)) {
		throw new ConfigError("TRANSPORTER", `must be a nats://, redis:// or tcp:// URL, got "${transporter}"`);
	}
	const cacher = env.CACHER?.trim() || undefined;
	if (cacher && !/^(redis:\/\/|rediss:\/\/|memory$|Memory$)/.test(cacher)) {
		throw new ConfigError("CACHER", `must be "memory" or a redis:// URL, got "${cacher}"`);
	}

	const bodyLimit = env.BODY_LIMIT?.trim() || "1mb";
	if (!/^\d+(b|kb|mb)$/i.test(bodyLimit)) throw new ConfigError("BODY_LIMIT", `must look like 1mb or 512kb, got "${bodyLimit}"`);

	const kafkaBrokers = list(env.KAFKA_BROKERS);
	for (const broker of kafkaBrokers) {
		if (!/^[\w.-]+:\d+$/.test(broker)) throw new ConfigError("KAFKA_BROKERS", `must be a comma list of host:port, got "${broker}"`);
	}

	const corsOrigins = list(env.CORS_ORIGINS);
	for (const origin of corsOrigins) {
		if (origin !== "*" && !/^https?:\/\/[^/\s]+$/.test(origin))
			throw new ConfigError("CORS_ORIGINS", `has an invalid origin "${origin}"`);
	}

	return {
		env: nodeEnv as Config["env"],
		port: int(env, "PORT", 3000, 0, 65535),
		metricsPort: env.METRICS_PORT ? int(env, "METRICS_PORT", 0, 0, 65535) : undefined,
		databaseUrl: url(env, "DATABASE_URL", ["postgres", "postgresql"]),
		// One process running every service (SERVICES unset) shares its budget among 8 schemas and 2 dedicated sessions.
		dbPoolMax: int(env, "DB_POOL_MAX", env.SERVICES ? 10 : 20, 1, 200),
		redisUrl: url(env, "REDIS_URL", ["redis", "rediss"]),
		transporter,
		natsCredentials: natsCredentials(env, transporter),
		serviceKey: serviceKey(env, nodeEnv, transporter),
		cacher,
		nodeId: env.NODE_ID?.trim() || undefined,
		namespace: namespace(env),
		heartbeatTimeoutSec: int(env, "HEARTBEAT_TIMEOUT_SEC", 15, 3, 600),
		requestTimeoutMs: int(env, "REQUEST_TIMEOUT_MS", 10_000, 100, 600_000),
		kafkaBrokers,
		kafkaClientId: env.KAFKA_CLIENT_ID?.trim() || "eislager",
		kafkaInbound: kafkaInbound(env),
		outboxRetentionDays,
		stream: {
			maxAttempts: int(env, "STREAM_MAX_ATTEMPTS", 5, 1, 100),
			maxBacklog: int(env, "STREAM_MAX_BACKLOG", 10_000, 1),
			delayMs: int(env, "STREAM_DELAY_MS", 0, 0, 60_000),
			dedupDays: dedupDays(env, outboxRetentionDays),
		},
		services: env.SERVICES ? list(env.SERVICES) : undefined,
		jwt: {
			secret: jwtSecret ?? randomBytes(48).toString("base64url"),
			previousSecret: jwtPrevious,
			secretGenerated: !jwtSecret,
			accessTtlSec: env.JWT_ACCESS_TTL ? parseDuration("JWT_ACCESS_TTL", env.JWT_ACCESS_TTL) : 15 * 60,
			refreshTtlSec: env.JWT_REFRESH_TTL ? parseDuration("JWT_REFRESH_TTL", env.JWT_REFRESH_TTL) : 30 * 86400,
			issuer: "eislager",
			audience: "eislager-api",
		},
		bootstrapAdmin: adminEmail && adminPassword ? { email: adminEmail.toLowerCase(), password: adminPassword } : undefined,
		smtpUrl: url(env, "SMTP_URL", ["smtp", "smtps"]),
		mailFrom: env.MAIL_FROM?.trim() || "EisLager <no-reply@eislager.local>",
		publicUrl: url(env, "PUBLIC_URL", ["http", "https"]) ?? "http://localhost:3000",
		google: {
			clientId: env.GOOGLE_CLIENT_ID?.trim() || undefined,
			jwksUrl: url(env, "GOOGLE_JWKS_URL", ["http", "https"]) ?? "https://www.googleapis.com/oauth2/v3/certs",
		},
		corsOrigins,
		trustProxy: int(env, "TRUST_PROXY", 0, 0, 10),
		rateLimit: {
			perMin: int(env, "RATE_LIMIT_PER_MIN", 600, 1),
			authPerMin: int(env, "RATE_LIMIT_AUTH_PER_MIN", 10, 1),
			deviceKeyFailuresPerMin: int(env, "DEVICE_KEY_FAILURES_PER_MIN", 60, 1),
		},
		socketsPerUser: int(env, "SOCKETS_PER_USER", 20, 1, 10_000),
		bodyLimit,
		filesDir: env.FILES_DIR?.trim() || "./.data/files",
		upload: {
			maxBytes: int(env, "UPLOAD_MAX_BYTES", 10 * 1024 * 1024, 1, 1024 * 1024 * 1024),
			batchMaxFiles: int(env, "UPLOAD_BATCH_MAX_FILES", 10, 1, 100),
			quotaBytes: int(env, "UPLOAD_QUOTA_BYTES", 1024 * 1024 * 1024, 1),
		},
		imageMaxPixels: int(env, "IMAGE_MAX_PIXELS", 40_000_000, 1, 268_402_689),
		imageDecodesPerUser: int(env, "IMAGE_DECODES_PER_USER", 2, 1, 1000),
		// libuv's pool (UV_THREADPOOL_SIZE, default 4) less one, kept for logins (argon2) and file I/O (docs/files.md).
		imageDecodeConcurrency: int(env, "IMAGE_DECODE_CONCURRENCY", Math.max(1, (Number(env.UV_THREADPOOL_SIZE) || 4) - 1), 1, 1024),
		media: {
			transcodeConcurrency: int(env, "TRANSCODE_CONCURRENCY", 1, 1, 64),
			transcodeJobsPerUser: int(env, "TRANSCODE_JOBS_PER_USER", 3, 1, 1000),
			videoMaxSeconds: int(env, "VIDEO_MAX_SECONDS", 600, 1, 86_400),
			// 4K UHD.
			videoMaxPixels: int(env, "VIDEO_MAX_PIXELS", 3840 * 2160, 1, 268_402_689),
			ffmpegPath: env.FFMPEG_PATH?.trim() || undefined,
			urlSecret: filesUrlSecret(env, jwtSecret),
			urlTtlSec: env.FILES_URL_TTL_SEC ? parseDuration("FILES_URL_TTL_SEC", env.FILES_URL_TTL_SEC) : 3600,
		},
		emailSendPerHour: int(env, "EMAIL_SEND_PER_HOUR", 30, 1, 100_000),
		embeddedPg: { dir: env.EMBEDDED_PG_DIR?.trim() || "./.data/postgres", port: int(env, "EMBEDDED_PG_PORT", 54329, 1, 65535) },
		expiryScanIntervalSec: int(env, "EXPIRY_SCAN_INTERVAL_SEC", 3600, 1),
		expiryWarningDays: int(env, "EXPIRY_WARNING_DAYS", 3, 0, 365),
		invoiceDueDays: int(env, "INVOICE_DUE_DAYS", 30, 0, 365),
		coldChain: {
			maxC: signed(env, "COLD_CHAIN_MAX_C", -18, -60, 10),
			graceMin: int(env, "COLD_CHAIN_GRACE_MIN", 30, 1, 24 * 60),
			readingsRetentionDays: int(env, "FREEZER_READINGS_RETENTION_DAYS", 730, 2, 36_500),
		},
		maintenanceNoticeMinutes: maintenanceNoticeMinutes(env),
		shopTimeZone: timeZone(env.SHOP_TIME_ZONE?.trim() || "UTC"),
		logLevel,
		vapid: vapid(env, nodeEnv, env.MAIL_FROM?.trim() || "EisLager <no-reply@eislager.local>"),
	};
}

let current: Config | undefined;

/** The process-wide configuration, loaded on first use. */
export function config(): Config {
	current ??= loadConfig();
	return current;
}

/** Replaces the process-wide configuration (start-up and tests). */
export function setConfig(next: Config): Config {
	current = next;
	return next;
}
