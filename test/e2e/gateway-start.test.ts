/**
 * The real start script (dist/bin/start.js, built by `npm run build`, which
 * `npm test` runs first): a bad configuration value stops it with exit code 1 and
 * one line naming the variable; with no DATABASE_URL it starts an embedded
 * PostgreSQL, serves the API, and stops both cleanly on SIGTERM.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { closedPort } from "../integration/auth/helpers";

const ROOT = path.resolve(__dirname, "..", "..");
const START = path.join(ROOT, "dist", "bin", "start.js");

/** The environment without anything that would point the app at shared infrastructure. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
	const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: "development", LOG_LEVEL: "warn" };
	return { ...env, ...extra };
}

function portOpen(port: number): Promise<boolean> {
	return new Promise((resolve) => {
		const socket = net.connect(port, "127.0.0.1");
		socket.once("connect", () => (socket.destroy(), resolve(true)));
		socket.once("error", () => resolve(false));
	});
}

beforeAll(() => {
	// `npm test` builds first; build here only when there is nothing to run (type errors elsewhere still emit).
	if (!fs.existsSync(START)) spawnSync("npx", ["tsc", "-p", "."], { cwd: ROOT, stdio: "ignore" });
	expect(fs.existsSync(START)).toBe(true);
}, 180_000);

describe("bin/start.js configuration errors", () => {
	it.each([
		["PORT", { PORT: "abc" }],
		["JWT_SECRET", { JWT_SECRET: "too-short" }],
		["DATABASE_URL", { DATABASE_URL: "mysql://localhost/x" }],
	])("exits 1 printing one line that names %s", (variable, env) => {
		const res = spawnSync(process.execPath, [START], { cwd: os.tmpdir(), env: cleanEnv(env), encoding: "utf8", timeout: 30_000 });
		expect(res.status).toBe(1);
		const lines = res.stderr.trim().split("\n");
		expect(lines).toHaveLength(1);
		expect(lines[0]).toMatch(new RegExp(`^Invalid configuration: ${variable} `));
		expect(res.stdout.trim()).toBe("");
	});
});

describe("bin/start.js with no DATABASE_URL (embedded PostgreSQL)", () => {
	let child: ChildProcess | undefined;
	let dir: string;
	let output = "";

	beforeAll(() => {
		dir = fs.mkdtempSync(path.join(os.tmpdir(), "eislager-start-"));
		// PostgreSQL runs as the unprivileged `postgres` user when started as root: it must reach its data dir.
		fs.chmodSync(dir, 0o755);
	});
	afterAll(() => {
		if (child && child.exitCode === null) child.kill("SIGKILL");
		fs.rmSync(dir, { recursive: true, force: true });
	});

	it("starts, serves register/login over HTTP, and stops cleanly with its database on SIGTERM", async () => {
		const [port, pgPort, opsPort] = [await closedPort(), await closedPort(), await closedPort()];
		const pgDir = path.join(dir, "pg");
		child = spawn(process.execPath, [START], {
			cwd: dir,
			env: cleanEnv({
				PORT: String(port),
				METRICS_PORT: String(opsPort),
				EMBEDDED_PG_DIR: pgDir,
				EMBEDDED_PG_PORT: String(pgPort),
				JWT_SECRET: "start-test-secret-0123456789-abcdefghij",
			}),
			stdio: ["ignore", "pipe", "pipe"],
		});
		child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
		child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
		const exited = new Promise<number | null>((resolve) => child!.once("exit", (code) => resolve(code)));

		const base = `http://127.0.0.1:${port}`;
		const deadline = Date.now() + 60_000;
		for (;;) {
			if (child.exitCode !== null) throw new Error(`start.js exited early (${child.exitCode}):\n${output}`);
			const ok = await fetch(`${base}/health`).then(
				(r) => r.ok,
				() => false,
			);
			if (ok) break;
			if (Date.now() > deadline) throw new Error(`/health never answered:\n${output}`);
			await new Promise((r) => setTimeout(r, 200));
		}
		expect(output).toContain(`127.0.0.1:${pgPort}`);
		expect(fs.existsSync(path.join(pgDir, "PG_VERSION"))).toBe(true);
		expect(await portOpen(pgPort)).toBe(true);

		// The auth routes appear a moment after /health (404 or 503 until then).
		const post = (p: string, body: unknown) =>
			fetch(base + p, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
		let reg: Response;
		for (let i = 0; ; i++) {
			reg = await post("/api/v1/auth/register", { email: "first@example.com", password: "embedded-pass-1", name: "First" });
			if (![404, 503].includes(reg.status) || i > 100) break;
			await new Promise((r) => setTimeout(r, 100));
		}
		expect(reg.status).toBe(201);
		const login = await post("/auth/login", { email: "first@example.com", password: "embedded-pass-1" });
		expect(login.status).toBe(200);
		const { accessToken } = (await login.json()) as { accessToken: string };
		const me = await fetch(`${base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${accessToken}` } });
		expect(((await me.json()) as { email: string }).email).toBe("first@example.com");

		child.kill("SIGTERM");
		expect(await exited).toBe(0);
		expect(await portOpen(port)).toBe(false);
		expect(await portOpen(pgPort)).toBe(false);
		expect(fs.existsSync(path.join(pgDir, "postmaster.pid"))).toBe(false);
	}, 120_000);
});
