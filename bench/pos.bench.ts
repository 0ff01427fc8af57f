/**
 * POS throughput through the gateway against PostgreSQL's own simple-update
 * throughput, measured in the same run on the same server (ratio, not absolutes).
 *
 *   npm run bench:pos        (BENCH_SECONDS=10 BENCH_CONNECTIONS=10 by default; 127.0.0.1 only)
 *
 * 1. Starts the backend in-process (auth, inventory, sales, gateway) on a fresh
 *    database, seeds an executive, a clerk, a shop and 24 flavors with stock.
 * 2. autocannon, in a child process (so the backend's CPU is measured alone), drives
 *    POST /api/v1/sales/shops/:shopId/pos-transactions (2 random flavors per sale).
 * 3. pgbench -i on a scratch database, then `pgbench -N -M prepared` (simple update,
 *    prepared) for the same time with the same number of clients.
 * Prints both rates, the ratio, the backend's CPU ms per sale and the PostgreSQL
 * backends' CPU ms per sale / per pgbench transaction; checks the sales table
 * matches the 2xx count.
 */
import { execFile, execFileSync, fork } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client } from "pg";
import { startTestApp } from "../test/helpers/app";
import { createTestDatabase } from "../test/helpers/db";
import type { AutocannonResult } from "./stats";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const FLAVORS = 24;
const STOCK_PER_FLAVOR = 50_000;
const CLOCK_TICKS = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on Linux

function findPgbench(): string {
	for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
		if (fs.existsSync(path.join(dir, "pgbench"))) return path.join(dir, "pgbench");
	}
	const root = "/usr/lib/postgresql";
	const versions = fs.existsSync(root) ? fs.readdirSync(root).sort().reverse() : [];
	for (const v of versions) if (fs.existsSync(path.join(root, v, "bin", "pgbench"))) return path.join(root, v, "bin", "pgbench");
	throw new Error("pgbench not found (PATH or /usr/lib/postgresql/*/bin)");
}

/** CPU seconds (user + system) the PostgreSQL backends serving `database` have used so far (0 where /proc is unreadable). */
async function backendCpu(pg: Client, database: string): Promise<Map<number, number>> {
	const { rows } = await pg.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [database]);
	const cpu = new Map<number, number>();
	for (const { pid } of rows) {
		try {
			const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
			const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
			cpu.set(pid, (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS);
		} catch {
			// not on Linux, or the backend has gone
		}
	}
	return cpu;
}

/** CPU used between two samples by backends seen in the later one (a backend that started in between counts from 0). */
function cpuSpent(before: Map<number, number>, after: Map<number, number>): number {
	let s = 0;
	for (const [pid, t] of after) s += t - (before.get(pid) ?? 0);
	return s;
}

/** autocannon in a child process; each request gets a fresh 2-item basket. */
function drive(url: string, token: string, flavorIds: string[]): Promise<AutocannonResult> {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pos-bench-"));
	const script = path.join(dir, "drive.js");
	fs.writeFileSync(
		script,
		`const autocannon = require(${JSON.stringify(require.resolve("autocannon"))});
const ids = ${JSON.stringify(flavorIds)};
const setupRequest = (req) => {
	const a = Math.floor(Math.random() * ids.length);
	const b = (a + 1 + Math.floor(Math.random() * (ids.length - 1))) % ids.length;
	const paymentMethod = ["CASH", "CARD", "MOBILE"][a % 3];
	return { ...req, body: JSON.stringify({ items: [{ flavorId: ids[a], quantity: 1 + (a % 2) }, { flavorId: ids[b], quantity: 1 }], paymentMethod }) };
};
autocannon({
	url: ${JSON.stringify(url)}, connections: ${CONNECTIONS}, duration: ${SECONDS},
	requests: [{ method: "POST", headers: { "content-type": "application/json", authorization: ${JSON.stringify(`Bearer ${token}`)} }, setupRequest }],
}, (err, result) => {
	if (err) throw err;
	process.send(result, () => process.exit(0));
});
`,
	);
	return new Promise<AutocannonResult>((resolve, reject) => {
		const child = fork(script, [], { stdio: "inherit" });
		child.once("message", (m) => resolve(m as AutocannonResult));
		child.once("error", reject);
		child.once("exit", (code) => (code ? reject(new Error(`autocannon exited with ${code}`)) : undefined));
	}).finally(() => fs.rmSync(dir, { recursive: true, force: true }));
}

async function benchPos() {
	process.env.LOG_LEVEL ??= "error";
	const app = await startTestApp({ services: ["auth", "inventory", "sales"], env: { RATE_LIMIT_PER_MIN: "100000000" } });
	try {
		const [exec, maker, clerk] = await Promise.all([app.createUser("EXECUTIVE"), app.createUser("MANUFACTURER"), app.createUser("CLERK")]);
		const flavorIds: string[] = [];
		for (let i = 0; i < FLAVORS; i++) {
			const res = await app.request("POST", "/api/v1/inventory/flavors", { token: maker.token, body: { name: `Bench flavor ${i}`, category: i % 3 ? "CREAM" : "SORBET", price: 200 + 10 * i } });
			flavorIds.push(res.body.id);
		}
		const shop = await app.request("POST", "/api/v1/sales/shops", { token: exec.token, body: { name: "Bench Shop", address: "Bench road 1" } });
		const shopId: string = shop.body.id;
		await app.request("POST", `/api/v1/sales/shops/${shopId}/staff`, { token: exec.token, body: { userId: clerk.id } });
		const stock = await app.request("PUT", `/api/v1/sales/shops/${shopId}/inventory`, {
			token: clerk.token,
			body: { reason: "RESTOCK", items: flavorIds.map((flavorId) => ({ flavorId, quantity: STOCK_PER_FLAVOR, reorderThreshold: 100 })) },
		});
		if (stock.status !== 200) throw new Error(`seeding stock failed: ${stock.status} ${JSON.stringify(stock.body)}`);
		// Warm-up (JIT, pools, caches), not measured.
		for (let i = 0; i < 50; i++) {
			await app.request("POST", `/api/v1/sales/shops/${shopId}/pos-transactions`, { token: clerk.token, body: { items: [{ flavorId: flavorIds[i % FLAVORS], quantity: 1 }, { flavorId: flavorIds[(i + 1) % FLAVORS], quantity: 1 }], paymentMethod: "CASH" } });
		}
		const pg = new Client({ connectionString: app.db.url });
		await pg.connect();
		const count = async () => Number((await pg.query("SELECT count(*) AS n FROM sales.transactions")).rows[0].n);
		const before = await count();

		const pgBefore = await backendCpu(pg, app.db.name);
		const cpuBefore = process.cpuUsage();
		const result = await drive(`${app.baseUrl}/api/v1/sales/shops/${shopId}/pos-transactions`, clerk.token, flavorIds);
		const cpu = process.cpuUsage(cpuBefore);
		const pgCpu = cpuSpent(pgBefore, await backendCpu(pg, app.db.name));
		// Let in-flight sales and the event handlers they trigger (other services consume SALE_COMPLETED) finish.
		await new Promise((r) => setTimeout(r, 1500));
		const recorded = (await count()) - before;
		await pg.end();
		return { result, recorded, nodeCpuS: (cpu.user + cpu.system) / 1e6, pgCpuS: pgCpu };
	} finally {
		await app.stop();
	}
}

async function benchPgbench() {
	const scratch = await createTestDatabase();
	const pg = new Client({ connectionString: scratch.url });
	try {
		const pgbench = findPgbench();
		const url = new URL(scratch.url);
		const env = { ...process.env, PGHOST: url.hostname, PGPORT: url.port || "5432", PGUSER: decodeURIComponent(url.username || "postgres"), PGPASSWORD: decodeURIComponent(url.password), PGDATABASE: scratch.name };
		execFileSync(pgbench, ["-i", "-q", "-s", "10"], { env, stdio: ["ignore", "ignore", "pipe"] });
		await pg.connect();
		const args = ["-N", "-M", "prepared", "-T", String(SECONDS), "-c", String(CONNECTIONS), "-j", "2", "-n"];
		// pgbench runs in the background so its backends can be sampled once connected.
		const run = new Promise<string>((resolve, reject) => {
			execFile(pgbench, args, { env, encoding: "utf8" }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
		});
		let pgBefore = new Map<number, number>();
		for (let i = 0; i < 50 && pgBefore.size < CONNECTIONS; i++) {
			await new Promise((r) => setTimeout(r, 20));
			pgBefore = await backendCpu(pg, scratch.name);
		}
		let pgAfter = pgBefore;
		// Sample until the run ends (backends are gone after it).
		const sampling = (async () => {
			for (;;) {
				const s = await backendCpu(pg, scratch.name);
				if (s.size === 0) return;
				pgAfter = s;
				await new Promise((r) => setTimeout(r, 200));
			}
		})();
		const output = await run;
		await sampling;
		const tps = Number(/tps = ([\d.]+)/.exec(output)?.[1]);
		const latency = /latency average = ([\d.]+ ms)/.exec(output)?.[1];
		const transactions = Number(/number of transactions actually processed: (\d+)/.exec(output)?.[1]);
		return { tps, latency, transactions, pgCpuS: cpuSpent(pgBefore, pgAfter) };
	} finally {
		await pg.end().catch(() => undefined);
		await scratch.drop();
	}
}

async function main() {
	const started = Date.now();
	console.log(`POS bench: ${SECONDS}s, ${CONNECTIONS} connections, ${FLAVORS} flavors x ${STOCK_PER_FLAVOR} units, 2 items per sale, 127.0.0.1 only, node ${process.version}, ${os.cpus().length} cores`);
	const { result, recorded, nodeCpuS, pgCpuS } = await benchPos();
	const posTps = result["2xx"] / result.duration;
	console.log(
		`POS through the gateway: ${posTps.toFixed(1)} sales/s (${result["2xx"]} ok, ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts; ` +
			`latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms); sales stored: ${recorded} (incl. ones in flight at the stop)`,
	);
	const sales = Math.max(1, result["2xx"] + result.non2xx);
	console.log(`CPU per sale: backend process (node) ${((nodeCpuS * 1000) / sales).toFixed(2)} ms, PostgreSQL backends ${((pgCpuS * 1000) / sales).toFixed(2)} ms`);
	// Sales still in flight when the timer stops are committed but not counted by autocannon.
	if (recorded < result["2xx"] || recorded > result["2xx"] + CONNECTIONS) console.log(`WARNING: ${recorded} transactions stored for ${result["2xx"]} successful responses`);

	const pgb = await benchPgbench();
	console.log(`pgbench -N -M prepared (simple update, scale 10, ${CONNECTIONS} clients): ${pgb.tps.toFixed(1)} tps (latency average ${pgb.latency}); PostgreSQL backends ${((pgb.pgCpuS * 1000) / Math.max(1, pgb.transactions)).toFixed(2)} ms CPU per transaction`);
	console.log(`ratio POS sales/s : pgbench tps = ${(posTps / pgb.tps).toFixed(3)} (a sale is HTTP, JWT, validation, the catalog and one database transaction)`);
	console.log(`total bench time ${((Date.now() - started) / 1000).toFixed(1)} s`);
	if (result.non2xx || result.errors || result["2xx"] === 0) {
		console.error("The POS answered errors during the run: the figures are not valid.");
		process.exitCode = 1;
	}
}

main().then(
	() => process.exit(process.exitCode ?? 0),
	(err: unknown) => {
		console.error(err);
		process.exit(1);
	},
);
