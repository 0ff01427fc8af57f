/**
 * Auth at the edge: two gateway nodes in two processes (this one, and a spawned
 * `start.js`) on one database and one Redis, each checking tokens against its
 * own in-memory copy of the revocation state.
 * - A token revoked on node A is refused by node B: the change is pushed. The
 *   test polls B with a generous deadline and prints the measured latency
 *   (no timing assertion: the machine is shared).
 * - B's subscription dropped: a revocation written to Redis meanwhile (without a
 *   push) is picked up when B refills from Redis on reconnecting.
 * - /me comes from the cacher and follows a profile change made on the other node.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import Redis from "ioredis";
import { startTestApp, type TestApp } from "../helpers/app";
import { httpRequest } from "../helpers/http";
import { freePort, START_JS, waitUntil } from "../helpers/cluster";

const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

describe("revocation pushed between gateway processes", () => {
	const env = {
		REDIS_URL,
		CACHER: REDIS_URL,
		JWT_SECRET: randomBytes(32).toString("hex"),
		NAMESPACE: `edge-${randomBytes(4).toString("hex")}`,
	};
	let a: TestApp;
	let b: ChildProcess;
	let bUrl: string;
	let redis: Redis;
	const output: string[] = [];
	const onB = (method: string, p: string, token?: string, body?: unknown) =>
		httpRequest<{ error?: { code: string }; name?: string }>(bUrl, method, p, { token, body });

	beforeAll(async () => {
		a = await startTestApp({ services: ["auth"], env });
		const port = await freePort();
		bUrl = `http://127.0.0.1:${port}`;
		b = spawn(process.execPath, [START_JS], {
			cwd: path.resolve(__dirname, "..", ".."),
			env: {
				...process.env,
				...env,
				NODE_ENV: "test",
				SERVICES: "gateway,auth",
				PORT: String(port),
				DATABASE_URL: a.db.url,
				KAFKA_BROKERS: "",
				LOG_LEVEL: "warn",
				RATE_LIMIT_PER_MIN: "1000000",
			},
			stdio: ["ignore", "pipe", "pipe"],
		});
		for (const stream of [b.stdout!, b.stderr!]) stream.on("data", (chunk: Buffer) => output.push(chunk.toString()));
		await waitUntil("node B to route /api/v1/auth", async () => (await onB("GET", "/api/v1/auth/me")).status === 401, 30_000).catch(
			(err: Error) => {
				throw new Error(`${err.message}\n${output.join("").slice(-2000)}`);
			},
		);
		redis = new Redis(REDIS_URL);
	}, 60_000);
	afterAll(async () => {
		if (b && b.exitCode === null) {
			b.kill("SIGTERM");
			await new Promise((r) => b.once("exit", r));
		}
		await redis?.quit();
		await a?.stop();
	});

	it("a token revoked on node A is refused by node B", async () => {
		const user = await a.createUser("PATRON");
		expect((await onB("GET", "/api/v1/auth/me", user.token)).status).toBe(200);
		expect((await a.request("POST", "/api/v1/auth/logout", { token: user.token })).status).toBe(204);
		const revokedAt = Date.now();
		let last = 0;
		let polls = 0;
		await waitUntil(
			"node B to refuse the revoked token",
			async () => {
				polls++;
				last = (await onB("GET", "/api/v1/auth/me", user.token)).status;
				return last === 401;
			},
			10_000,
			2,
		);
		console.log(`revocation A -> B: refused ${Date.now() - revokedAt} ms after A's logout answered (${polls} polls)`);
		const refused = await onB("GET", "/api/v1/auth/me", user.token);
		expect({ status: refused.status, code: refused.body.error?.code }).toEqual({ status: 401, code: "TOKEN_REVOKED" });
	}, 30_000);

	it("a node whose subscription dropped refills from Redis when it reconnects", async () => {
		const user = await a.createUser("PATRON");
		expect((await onB("GET", "/api/v1/auth/me", user.token)).status).toBe(200);
		const clients = String(await redis.client("LIST"));
		const line = clients.split("\n").find((l) => l.includes(`name=eislager-revocations-${b.pid} `));
		expect(line).toBeDefined();
		const id = /\bid=(\d+)/.exec(line!)![1];
		await redis.client("KILL", "ID", id);
		// Written while B is disconnected, with no push: only the refill can bring it to B.
		await redis.set(`eislager:valid-after:${user.id}`, String(Date.now()), "EX", 900);
		const seen = new Set<number>();
		await waitUntil(
			"node B to refuse the token after reconnecting",
			async () => {
				const status = (await onB("GET", "/api/v1/auth/me", user.token)).status;
				seen.add(status);
				return status === 401;
			},
			15_000,
			5,
		);
		console.log(`subscription dropped and refilled: node B answered ${[...seen].join(", ")} meanwhile`);
		expect([...seen].every((s) => [200, 503, 401].includes(s))).toBe(true);
	}, 30_000);

	it("/me on node B follows a profile change made on node A", async () => {
		const user = await a.createUser("PATRON");
		expect((await onB("GET", "/api/v1/auth/me", user.token)).body.name).toBe("PATRON tester");
		expect((await a.request("PUT", "/api/v1/auth/profile", { token: user.token, body: { name: "Renamed" } })).status).toBe(200);
		// Pushed, so within moments (polled with a generous deadline, not timed).
		await waitUntil(
			"node B to show the new name",
			async () => (await onB("GET", "/api/v1/auth/me", user.token)).body.name === "Renamed",
			10_000,
			5,
		);
	}, 30_000);
});
