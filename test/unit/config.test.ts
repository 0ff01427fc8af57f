/** lib/config.ts: defaults, parsing, and one clear line naming the variable for each bad value. */
import { ConfigError, ENV_VARS, loadConfig, parseDuration, type Env } from "../../lib/config";

function configError(env: Env): ConfigError {
	try {
		loadConfig(env);
	} catch (err) {
		if (err instanceof ConfigError) return err;
		throw err;
	}
	throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe("loadConfig", () => {
	it("has working defaults for the one-process development setup", () => {
		const cfg = loadConfig({});
		expect(cfg).toMatchObject({
			env: "development",
			port: 3000,
			databaseUrl: undefined,
			redisUrl: undefined,
			transporter: undefined,
			trustProxy: 0,
			bodyLimit: "1mb",
			corsOrigins: [],
		});
		expect(cfg.jwt).toMatchObject({
			secretGenerated: true,
			accessTtlSec: 900,
			refreshTtlSec: 30 * 86400,
			issuer: "eislager",
			audience: "eislager-api",
		});
		expect(cfg.jwt.secret.length).toBeGreaterThanOrEqual(32);
		expect(cfg.rateLimit.authPerMin).toBeLessThan(cfg.rateLimit.perMin);
		expect(cfg.socketsPerUser).toBe(20);
		expect(cfg.imageDecodesPerUser).toBe(2);
		// Two processes without JWT_SECRET get different secrets.
		expect(loadConfig({}).jwt.secret).not.toBe(cfg.jwt.secret);
	});

	it("parses the values it is given", () => {
		const cfg = loadConfig({
			PORT: "8080",
			JWT_SECRET: "s".repeat(40),
			JWT_ACCESS_TTL: "10m",
			JWT_REFRESH_TTL: "7d",
			CORS_ORIGINS: "https://a.example.com, https://b.example.com",
			TRUST_PROXY: "2",
			RATE_LIMIT_AUTH_PER_MIN: "5",
			BOOTSTRAP_ADMIN_EMAIL: "Admin@Example.com",
			BOOTSTRAP_ADMIN_PASSWORD: "long-enough",
			REDIS_URL: "redis://127.0.0.1:6379",
			SMTP_URL: "smtp://127.0.0.1:2525",
			GOOGLE_CLIENT_ID: "abc.apps.googleusercontent.com",
		});
		expect(cfg).toMatchObject({
			port: 8080,
			trustProxy: 2,
			corsOrigins: ["https://a.example.com", "https://b.example.com"],
			bootstrapAdmin: { email: "admin@example.com", password: "long-enough" },
		});
		expect(cfg.jwt).toMatchObject({ secretGenerated: false, accessTtlSec: 600, refreshTtlSec: 7 * 86400 });
		expect(cfg.rateLimit.authPerMin).toBe(5);
		expect(cfg.google.jwksUrl).toBe("https://www.googleapis.com/oauth2/v3/certs");
	});

	it("has staging defaults between development and production: secrets and a real SMTP required, verbose logs", () => {
		const staging = { NODE_ENV: "staging", JWT_SECRET: "s".repeat(40), SMTP_URL: "smtp://mail.example.com:587" };
		const cfg = loadConfig(staging);
		expect(cfg).toMatchObject({ env: "staging", logLevel: "debug", smtpUrl: "smtp://mail.example.com:587" });
		expect(cfg.jwt.secretGenerated).toBe(false);
		expect(loadConfig({ ...staging, LOG_LEVEL: "info" }).logLevel).toBe("info");
		// Development needs none of it and logs at info; production needs the secret but not SMTP.
		expect(loadConfig({})).toMatchObject({ env: "development", logLevel: "info", smtpUrl: undefined });
		expect(loadConfig({ NODE_ENV: "production", JWT_SECRET: "s".repeat(40) })).toMatchObject({
			env: "production",
			logLevel: "info",
			smtpUrl: undefined,
		});
		expect(configError({ NODE_ENV: "staging", JWT_SECRET: "s".repeat(40), SMTP_URL: "" }).variable).toBe("SMTP_URL");
		// Only nodes that send mail need it.
		expect(configError({ NODE_ENV: "staging", JWT_SECRET: "s".repeat(40), SERVICES: "sales,auth" }).variable).toBe("SMTP_URL");
		expect(loadConfig({ NODE_ENV: "staging", JWT_SECRET: "s".repeat(40), SERVICES: "sales" }).env).toBe("staging");
	});

	it("treats empty values as unset (compose passes optional variables through empty)", () => {
		expect(() =>
			loadConfig({ DATABASE_URL: "", REDIS_URL: "", BOOTSTRAP_ADMIN_EMAIL: "", BOOTSTRAP_ADMIN_PASSWORD: "", PORT: "" }),
		).not.toThrow();
	});

	it.each<[string, Env]>([
		["PORT", { PORT: "abc" }],
		["PORT", { PORT: "70000" }],
		["PORT", { PORT: "-1" }],
		["NODE_ENV", { NODE_ENV: "qa" }],
		["JWT_SECRET", { NODE_ENV: "staging", SMTP_URL: "smtp://mail.example.com:587" }],
		["SMTP_URL", { NODE_ENV: "staging", JWT_SECRET: "s".repeat(40) }],
		[
			"SERVICE_KEY",
			{
				NODE_ENV: "staging",
				JWT_SECRET: "s".repeat(40),
				SMTP_URL: "smtp://mail.example.com:587",
				TRANSPORTER: "nats://127.0.0.1:4222",
			},
		],
		["DATABASE_URL", { DATABASE_URL: "mysql://localhost/db" }],
		["DATABASE_URL", { DATABASE_URL: "not a url" }],
		["REDIS_URL", { REDIS_URL: "http://127.0.0.1:6379" }],
		["JWT_SECRET", { JWT_SECRET: "short" }],
		["JWT_SECRET", { NODE_ENV: "production" }],
		["JWT_SECRET", { TRANSPORTER: "nats://127.0.0.1:4222" }],
		["JWT_ACCESS_TTL", { JWT_ACCESS_TTL: "forever" }],
		["JWT_REFRESH_TTL", { JWT_REFRESH_TTL: "0" }],
		["BOOTSTRAP_ADMIN_PASSWORD", { BOOTSTRAP_ADMIN_EMAIL: "admin@example.com" }],
		["BOOTSTRAP_ADMIN_EMAIL", { BOOTSTRAP_ADMIN_PASSWORD: "long-enough" }],
		["BOOTSTRAP_ADMIN_EMAIL", { BOOTSTRAP_ADMIN_EMAIL: "admin", BOOTSTRAP_ADMIN_PASSWORD: "long-enough" }],
		["BOOTSTRAP_ADMIN_PASSWORD", { BOOTSTRAP_ADMIN_EMAIL: "admin@example.com", BOOTSTRAP_ADMIN_PASSWORD: "short" }],
		["SMTP_URL", { SMTP_URL: "http://mail.example.com" }],
		["GOOGLE_JWKS_URL", { GOOGLE_JWKS_URL: "ftp://keys.example.com" }],
		["CORS_ORIGINS", { CORS_ORIGINS: "https://ok.example.com, javascript:alert(1)" }],
		["CORS_ORIGINS", { CORS_ORIGINS: "https://with.path.example.com/app" }],
		["TRUST_PROXY", { TRUST_PROXY: "yes" }],
		["TRUST_PROXY", { TRUST_PROXY: "11" }],
		["RATE_LIMIT_PER_MIN", { RATE_LIMIT_PER_MIN: "0" }],
		["RATE_LIMIT_AUTH_PER_MIN", { RATE_LIMIT_AUTH_PER_MIN: "1.5" }],
		["SOCKETS_PER_USER", { SOCKETS_PER_USER: "0" }],
		["IMAGE_DECODES_PER_USER", { IMAGE_DECODES_PER_USER: "0" }],
		["BODY_LIMIT", { BODY_LIMIT: "lots" }],
		["LOG_LEVEL", { LOG_LEVEL: "loud" }],
		["TRANSPORTER", { TRANSPORTER: "carrier-pigeon", JWT_SECRET: "s".repeat(40) }],
		["CACHER", { CACHER: "memcached://x" }],
		["KAFKA_BROKERS", { KAFKA_BROKERS: "127.0.0.1" }],
		["STREAM_DEDUP_DAYS", { STREAM_DEDUP_DAYS: "6" }],
		["STREAM_DEDUP_DAYS", { OUTBOX_RETENTION_DAYS: "40", STREAM_DEDUP_DAYS: "30" }],
	])("rejects a bad %s with one line naming it (%j)", (variable, env) => {
		const err = configError(env);
		expect(err.variable).toBe(variable);
		expect(err.message).toContain(variable);
		expect(err.message).toMatch(/^Invalid configuration: /);
		expect(err.message).not.toContain("\n");
	});

	it("keeps processed event ids 30 days, and never less than the outbox retention", () => {
		expect(loadConfig({}).stream.dedupDays).toBe(30);
		expect(loadConfig({ OUTBOX_RETENTION_DAYS: "45" }).stream.dedupDays).toBe(45);
		expect(loadConfig({ OUTBOX_RETENTION_DAYS: "3", STREAM_DEDUP_DAYS: "3" }).stream.dedupDays).toBe(3);
	});

	it("documents every variable it reads in ENV_VARS", () => {
		for (const name of [
			"PORT",
			"DATABASE_URL",
			"REDIS_URL",
			"JWT_SECRET",
			"JWT_ACCESS_TTL",
			"JWT_REFRESH_TTL",
			"BOOTSTRAP_ADMIN_EMAIL",
			"BOOTSTRAP_ADMIN_PASSWORD",
			"SMTP_URL",
			"GOOGLE_CLIENT_ID",
			"GOOGLE_JWKS_URL",
			"CORS_ORIGINS",
			"TRUST_PROXY",
			"RATE_LIMIT_PER_MIN",
			"RATE_LIMIT_AUTH_PER_MIN",
			"SOCKETS_PER_USER",
			"IMAGE_DECODES_PER_USER",
		]) {
			expect(ENV_VARS).toContain(name);
		}
	});
});

describe("parseDuration", () => {
	it.each([
		["900", 900],
		["15m", 900],
		["12h", 43200],
		["30d", 2592000],
		["45s", 45],
	])("%s is %i seconds", (raw, seconds) => expect(parseDuration("X", raw)).toBe(seconds));

	it.each(["", "1w", "-5m", "m", "1.5h"])("rejects %j", (raw) => expect(() => parseDuration("X", raw)).toThrow(ConfigError));
});
