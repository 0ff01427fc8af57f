/**
 * Configuration of the trust boundary (lib/config.ts, lib/transport.ts) and
 * JWT_SECRET rotation (lib/tokens.ts).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig, setConfig, type Env } from "../../lib/config";
import { decodeAccessToken, signAccessToken } from "../../lib/tokens";
import { natsOptions } from "../../lib/transport";

const A = "a".repeat(40);
const B = "b".repeat(40);
const base: Env = { NODE_ENV: "production", JWT_SECRET: A, TRANSPORTER: "nats://nats:4222" };

describe("SERVICE_KEY", () => {
	test("production with a transporter stops start-up without it, naming the variable", () => {
		expect(() => loadConfig(base)).toThrow(
			/^Invalid configuration: SERVICE_KEY is required when NODE_ENV=production and TRANSPORTER is set$/,
		);
		expect(loadConfig({ ...base, SERVICE_KEY: B }).serviceKey).toEqual({ current: B, previous: undefined });
	});

	test("one process needs none; development may run a cluster without one", () => {
		expect(loadConfig({ NODE_ENV: "production", JWT_SECRET: A }).serviceKey).toBeUndefined();
		expect(loadConfig({ NODE_ENV: "development", JWT_SECRET: A, TRANSPORTER: "nats://x:4222" }).serviceKey).toBeUndefined();
	});

	test("short keys and a previous key alone are refused", () => {
		expect(() => loadConfig({ ...base, SERVICE_KEY: "short" })).toThrow(/SERVICE_KEY must be at least 32 characters/);
		expect(() => loadConfig({ ...base, SERVICE_KEY_PREVIOUS: B })).toThrow(/SERVICE_KEY/);
		expect(loadConfig({ ...base, SERVICE_KEY: B, SERVICE_KEY_PREVIOUS: A }).serviceKey).toEqual({ current: B, previous: A });
	});
});

describe("Kafka inbound", () => {
	test("off by default", () => {
		expect(loadConfig({}).kafkaInbound).toEqual({ events: [], key: undefined, previousKey: undefined });
	});

	test("known event types only, and a key is required once any is accepted", () => {
		expect(() => loadConfig({ KAFKA_INBOUND_EVENTS: "PURCHASE_ORDER_CREATED,NOPE", KAFKA_INBOUND_KEY: A })).toThrow(
			/KAFKA_INBOUND_EVENTS has an unknown event type "NOPE"/,
		);
		expect(() => loadConfig({ KAFKA_INBOUND_EVENTS: "PURCHASE_ORDER_CREATED" })).toThrow(/KAFKA_INBOUND_KEY is required/);
		expect(
			loadConfig({ KAFKA_INBOUND_EVENTS: "PURCHASE_ORDER_CREATED", KAFKA_INBOUND_KEY: A, KAFKA_INBOUND_KEY_PREVIOUS: B })
				.kafkaInbound,
		).toEqual({
			events: ["PURCHASE_ORDER_CREATED"],
			key: A,
			previousKey: B,
		});
	});
});

describe("NATS credentials", () => {
	test("user and password, or a token, are taken out of the URL", () => {
		expect(natsOptions("nats://eis:p%40ss@nats:4222")).toMatchObject({ servers: ["nats:4222"], user: "eis", pass: "p@ss" });
		const token = natsOptions("nats://s3cr3t-token@nats-1:4222,nats://s3cr3t-token@nats-2:4222");
		expect(token).toMatchObject({ servers: ["nats-1:4222", "nats-2:4222"], token: "s3cr3t-token" });
		expect(JSON.stringify(token.servers)).not.toContain("s3cr3t");
	});

	test("NATS_CREDENTIALS must name a file and needs a nats:// transporter", () => {
		const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "nats-")), "user.nk");
		fs.writeFileSync(file, "SUAM3TUV5BFJ4WQZRK5LJXNR2SMYRRXXQQ3IUN4WRY5QOSUXLWMEAFBOKE\n");
		expect(loadConfig({ TRANSPORTER: "nats://nats:4222", JWT_SECRET: A, NATS_CREDENTIALS: file }).natsCredentials).toBe(file);
		expect(natsOptions("nats://nats:4222", file).authenticator).toEqual(expect.any(Function));
		expect(() => loadConfig({ TRANSPORTER: "nats://nats:4222", JWT_SECRET: A, NATS_CREDENTIALS: `${file}.missing` })).toThrow(
			/NATS_CREDENTIALS names no readable file/,
		);
		expect(() => loadConfig({ NATS_CREDENTIALS: file })).toThrow(/NATS_CREDENTIALS needs a nats:\/\/ TRANSPORTER/);
	});
});

describe("JWT_SECRET rotation", () => {
	const USER = { id: "5f0c8a3e-1d2b-4c5d-8e9f-0a1b2c3d4e5f", role: "CLERK" as const };

	test("a token signed with the old secret verifies while JWT_SECRET_PREVIOUS holds it; new tokens use the new secret", () => {
		setConfig(loadConfig({ NODE_ENV: "test", JWT_SECRET: A }));
		const old = signAccessToken(USER).token;

		setConfig(loadConfig({ NODE_ENV: "test", JWT_SECRET: B, JWT_SECRET_PREVIOUS: A }));
		expect(decodeAccessToken(old)).toMatchObject({ sub: USER.id });
		const fresh = signAccessToken(USER).token;

		// After the window: the old secret is gone, its tokens are refused; the new ones live on.
		setConfig(loadConfig({ NODE_ENV: "test", JWT_SECRET: B }));
		expect(() => decodeAccessToken(old)).toThrow(expect.objectContaining({ code: 401, type: "INVALID_TOKEN" }));
		expect(decodeAccessToken(fresh)).toMatchObject({ sub: USER.id });
	});

	test("the previous secret never signs, and a token signed with neither is refused", () => {
		setConfig(loadConfig({ NODE_ENV: "test", JWT_SECRET: B, JWT_SECRET_PREVIOUS: A }));
		const token = signAccessToken(USER).token;
		setConfig(loadConfig({ NODE_ENV: "test", JWT_SECRET: A }));
		expect(() => decodeAccessToken(token)).toThrow(expect.objectContaining({ type: "INVALID_TOKEN" }));
		setConfig(loadConfig({ NODE_ENV: "test", JWT_SECRET: "c".repeat(40), JWT_SECRET_PREVIOUS: "d".repeat(40) }));
		expect(() => decodeAccessToken(token)).toThrow(expect.objectContaining({ type: "INVALID_TOKEN" }));
	});
});
