/**
 * POS throughput through the gateway against PostgreSQL's own simple-update
 * throughput, measured in the same run on the same server (ratio, not absolutes).
 *
 *   npm run bench:pos        (BENCH_SECONDS=12 BENCH_CONNECTIONS=16 by default)
 *
 * 1. Starts the backend in-process (auth, inventory, sales, gateway) on a fresh
 *    database, seeds an executive, a clerk, a shop and 24 flavors with stock.
 * 2. autocannon drives POST /api/v1/sales/shops/:shopId/pos-transactions (2 random
 *    flavors per sale) for BENCH_SECONDS; only 127.0.0.1.
 * 3. pgbench -i on a scratch database, then `pgbench -N` (simple update) for the same time
 *    with the same number of clients.
 * Prints both TPS and the ratio; checks the sales table matches the 2xx count.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client } from "pg";
import { startTestApp } from "../test/helpers/app";
import { createTestDatabase } from "../test/helpers/db";
import { benchSeconds, type AutocannonResult } from "./stats";

type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = require("autocannon") as Autocannon;

const SECONDS = benchSeconds(12);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const FLAVORS = 24;
const STOCK_PER_FLAVOR = 50_000;

function findPgbench(): string {
	for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
		if (fs.existsSync(path.join(dir, "pgbench"))) return path.join(dir, "pgbench");
	}
	const root = "/usr/lib/postgresql";
	const versions = fs.existsSync(root) ? fs.readdirSync(root).sort().reverse() : [];
	for (const v of versions) if (fs.existsSync(path.join(root, v, "bin", "pgbench"))) return path.join(root, v, "bin", "pgbench");
	throw new Error("pgbench not found (PATH or /usr/lib/postgresql/*/bin)");
}

async function benchPos() {
	process.env.LOG_LEVEL ??= "error";
	const app = await startTestApp({ services: ["auth", "inventory", "sales"] });
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
		for (let i = 0; i < 20; i++) {
			await app.request("POST", `/api/v1/sales/shops/${shopId}/pos-transactions`, { token: clerk.token, body: { items: [{ flavorId: flavorIds[i % FLAVORS], quantity: 1 }, { flavorId: flavorIds[(i + 1) % FLAVORS], quantity: 1 }], paymentMethod: "CASH" } });
		}
		const pg = new Client({ connectionString: app.db.url });
		await pg.connect();
		const count = async () => Number((await pg.query("SELECT count(*) AS n FROM sales.transactions")).rows[0].n);
		const before = await count();

		// The load generator runs in a worker thread (autocannon `workers`), not on the server's event loop;
		// its per-request body builder is a small module written to a temp dir (workers load it by path).
		const setupFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "pos-bench-")), "setup-request.js");
		fs.writeFileSync(
			setupFile,
			`const ids = ${JSON.stringify(flavorIds)};
module.exports = (req) => {
	const a = Math.floor(Math.random() * ids.length);
	const b = (a + 1 + Math.floor(Math.random() * (ids.length - 1))) % ids.length;
	const paymentMethod = ["CASH", "CARD", "MOBILE"][a % 3];
	return { ...req, body: JSON.stringify({ items: [{ flavorId: ids[a], quantity: 1 + (a % 2) }, { flavorId: ids[b], quantity: 1 }], paymentMethod }) };
};
`,
		);
		const result = await autocannon({
			url: app.baseUrl,
			connections: CONNECTIONS,
			duration: SECONDS,
			workers: 1,
			requests: [
				{
					method: "POST",
					path: `/api/v1/sales/shops/${shopId}/pos-transactions`,
					headers: { "content-type": "application/json", authorization: `Bearer ${clerk.token}` },
					setupRequest: setupFile,
				},
			],
		});
		fs.rmSync(path.dirname(setupFile), { recursive: true, force: true });
		// Let in-flight sales and the event handlers they trigger (other services consume SALE_COMPLETED) finish.
		await new Promise((r) => setTimeout(r, 1500));
		const recorded = (await count()) - before;
		await pg.end();
		return { result, recorded };
	} finally {
		await app.stop();
	}
}

async function main() {
	console.log(`POS bench: ${SECONDS}s, ${CONNECTIONS} connections, ${FLAVORS} flavors x ${STOCK_PER_FLAVOR} units, 2 items per sale, 127.0.0.1 only`);
	const { result, recorded } = await benchPos();
	const posTps = result["2xx"] / result.duration;
	console.log(
		`POS through the gateway: ${posTps.toFixed(1)} sales/s (${result["2xx"]} ok, ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts; ` +
			`latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms); sales stored: ${recorded} (incl. ones in flight at the stop)`,
	);
	// Sales still in flight when the timer stops are committed but not counted by autocannon.
	if (recorded < result["2xx"] || recorded > result["2xx"] + CONNECTIONS) console.log(`WARNING: ${recorded} transactions stored for ${result["2xx"]} successful responses`);

	const scratch = await createTestDatabase();
	try {
		const pgbench = findPgbench();
		const url = new URL(scratch.url);
		const env = { ...process.env, PGHOST: url.hostname, PGPORT: url.port || "5432", PGUSER: decodeURIComponent(url.username || "postgres"), PGPASSWORD: decodeURIComponent(url.password), PGDATABASE: scratch.name };
		execFileSync(pgbench, ["-i", "-q", "-s", "10"], { env, stdio: ["ignore", "ignore", "pipe"] });
		const output = execFileSync(pgbench, ["-N", "-T", String(SECONDS), "-c", String(CONNECTIONS), "-j", "2", "-n"], { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
		const tps = Number(/tps = ([\d.]+)/.exec(output)?.[1]);
		const latency = /latency average = ([\d.]+ ms)/.exec(output)?.[1];
		console.log(`pgbench -N (simple update, scale 10, ${CONNECTIONS} clients): ${tps.toFixed(1)} tps (latency average ${latency})`);
		console.log(`ratio POS sales/s : pgbench tps = ${(posTps / tps).toFixed(3)} (each sale is one transaction of ~8 statements plus HTTP, JWT, validation and a catalog call)`);
	} finally {
		await scratch.drop();
	}
}

main().then(
	() => process.exit(0),
	(err: unknown) => {
		console.error(err);
		process.exit(1);
	},
);
