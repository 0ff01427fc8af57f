/**
 * Starts the real backend in-process for a test: a fresh database, the gateway
 * on an ephemeral port and the named services, and a small HTTP client.
 */
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import type { BrokerOptions, Service, ServiceBroker } from "moleculer";
import { loadConfig, setConfig, type Config } from "../../lib/config";
import { createBroker, loadServices } from "../../bin/broker";
import { closeRedis } from "../../lib/redis";
import type { Role } from "../../lib/types";
import { createTestDatabase, type TestDatabase } from "./db";
import { httpRequest, type HttpResult, type RequestOptions } from "./http";

export type { HttpResult, RequestOptions };

export interface TestUser {
	id: string;
	email: string;
	password: string;
	role: Role;
	token: string;
	refreshToken: string;
}

export interface TestApp {
	broker: ServiceBroker;
	config: Config;
	db: TestDatabase;
	baseUrl: string;
	// eslint-disable-next-line @typescript-eslint/no-explicit-any
	request<T = any>(method: string, path: string, opts?: RequestOptions): Promise<HttpResult<T>>;
	createUser(role?: Role, overrides?: Partial<{ email: string; password: string; name: string }>): Promise<TestUser>;
	stop(): Promise<void>;
}

export interface StartOptions {
	/** Service folders besides the gateway (default: every service). */
	services?: string[];
	env?: Record<string, string>;
	/** Reuse a database (e.g. a second node of the same cluster). */
	db?: TestDatabase;
	gateway?: boolean;
	/** Broker options over the configured ones (benchmarks switch features off to measure their cost). */
	broker?: Partial<BrokerOptions>;
}

/** The env of the nodes of one test cluster: one Redis, and a JWT secret and a NAMESPACE of their own (nothing else shares their Redis keys or NATS subjects). */
export function clusterEnv(namespacePrefix: string): { REDIS_URL: string; JWT_SECRET: string; NAMESPACE: string } {
	return {
		REDIS_URL: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379",
		JWT_SECRET: randomBytes(32).toString("hex"),
		NAMESPACE: `${namespacePrefix}-${randomBytes(4).toString("hex")}`,
	};
}

/** The gateway builds its routes a moment after services start; wait until every loaded service has one. */
export async function waitForAliases(api: { aliases: { action?: string }[] }, services: string[], timeoutMs = 10_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	const wanted = services.filter((s) => s !== "kafka-bridge");
	while (Date.now() < deadline) {
		const routed = new Set(api.aliases.map((a) => a.action?.split(".")[0]));
		if (wanted.every((s) => routed.has(s))) return;
		await new Promise((r) => setTimeout(r, 50));
	}
	throw new Error(`Gateway routes for ${wanted.join(", ")} did not appear within ${timeoutMs} ms`);
}

export function uniqueEmail(prefix = "user"): string {
	return `${prefix}-${randomBytes(5).toString("hex")}@example.com`;
}

export async function startTestApp(options: StartOptions = {}): Promise<TestApp> {
	const db = options.db ?? (await createTestDatabase());
	const config = setConfig(
		loadConfig({
			...process.env,
			NODE_ENV: "test",
			PORT: "0",
			DATABASE_URL: db.url,
			RATE_LIMIT_PER_MIN: "100000",
			RATE_LIMIT_AUTH_PER_MIN: "100000",
			LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
			...options.env,
		}),
	);
	const broker = createBroker(config, { nodeID: `test-${randomBytes(4).toString("hex")}`, ...options.broker });
	const withGateway = options.gateway ?? true;
	const loaded = loadServices(broker, options.services ? [...(withGateway ? ["gateway"] : []), ...options.services] : undefined);
	await broker.start();

	let baseUrl = "";
	if (withGateway) {
		const api = broker.getLocalService("api") as Service & { server: Server; aliases: { action?: string }[] };
		baseUrl = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
		await waitForAliases(
			api,
			loaded.filter((s) => s !== "gateway"),
		);
	}

	const request = <T>(method: string, path: string, opts: RequestOptions = {}) => httpRequest<T>(baseUrl, method, path, opts);

	const createUser = async (
		role: Role = "PATRON",
		overrides: Partial<{ email: string; password: string; name: string }> = {},
	): Promise<TestUser> => {
		const email = overrides.email ?? uniqueEmail(role.toLowerCase());
		const password = overrides.password ?? `pw-${randomBytes(6).toString("hex")}`;
		const user = await broker.call<{ id: string }, object>("auth.createUser", {
			email,
			password,
			name: overrides.name ?? `${role} tester`,
			role,
		});
		const tokens = await broker.call<{ accessToken: string; refreshToken: string }, object>("auth.login", { email, password });
		return { id: user.id, email, password, role, token: tokens.accessToken, refreshToken: tokens.refreshToken };
	};

	return {
		broker,
		config,
		db,
		baseUrl,
		request,
		createUser,
		async stop() {
			await broker.stop();
			await closeRedis();
			if (!options.db) await db.drop();
		},
	};
}
