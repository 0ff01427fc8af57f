/**
 * POS throughput through the gateway against PostgreSQL's own simple-update
 * throughput, measured in the same run on the same server (ratio, not absolutes).
 *
 *   npm run bench:pos        (BENCH_SECONDS=10 BENCH_CONNECTIONS=10 by default; 127.0.0.1 only)
 *
 * 1. Starts the backend in-process (auth, inventory, sales, gateway) on a fresh
 *    database, seeds an executive, a clerk, a shop and 24 flavors with stock.
 * 2. autocannon, in a child process (so the backend's CPU is measured alone), drives
 *    POST /api/v1/sales/shops/:shopId/pos-transactions (2 random flavors per sale): first
 *    BENCH_WARMUP_SECONDS (default min(5, BENCH_SECONDS)) not measured, so the JIT has compiled
 *    the hot paths (a 6 s run after 50 sales spent ~30 % of the backend's CPU compiling), then measured.
 * 3. pgbench -i on a scratch database, then `pgbench -N -M prepared` (simple update,
 *    prepared) for the same time with the same number of clients.
 * Prints both rates, the ratio, the backend's CPU ms per sale and the PostgreSQL
 * backends' CPU ms per sale / per pgbench transaction; checks the sales table
 * matches the 2xx count. BENCH_CPU_PROFILE=<file.cpuprofile> records the backend's
 * CPU profile of the measured window only (open it in Chrome DevTools or speedscope).
 * BENCH_LOTS=5 also seeds a second shop whose flavors sit in 5 lots each (FEFO walks them)
 * and measures it right after the first, through the gateway and as sales.pos_sale alone,
 * printing each as a ratio to the single-lot figure (issue #15: within 15 %).
 */
import { execFile, execFileSync, fork } from "node:child_process";
import fs from "node:fs";
import { Session } from "node:inspector/promises";
import os from "node:os";
import path from "node:path";
import { Client } from "pg";
import { startTestApp } from "../test/helpers/app";
import { createTestDatabase } from "../test/helpers/db";
import { EVENT_CATALOG, envelope } from "../lib/events";
import { benchSeconds, type AutocannonResult } from "./stats";

const SECONDS = benchSeconds(10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const FLAVORS = 24;
const STOCK_PER_FLAVOR = 50_000;
const PROFILE = process.env.BENCH_CPU_PROFILE;
/** BENCH_LOTS=N (> 1): a second shop holds each flavor in N lots (N − 1 batches + UNTRACKED) and is measured right after the first, side by side. */
const LOTS = Math.max(1, Math.floor(Number(process.env.BENCH_LOTS ?? 1)) || 1);
/** The same load first, not measured, so the JIT has compiled the hot paths (as the gateway bench does). */
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? Math.min(5, SECONDS));
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
	const { rows } = await pg.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [
		database,
	]);
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
function drive(url: string, token: string, flavorIds: string[], seconds = SECONDS): Promise<AutocannonResult> {
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
	url: ${JSON.stringify(url)}, connections: ${CONNECTIONS}, duration: ${seconds},
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
		const [exec, maker, clerk] = await Promise.all([
			app.createUser("EXECUTIVE"),
			app.createUser("MANUFACTURER"),
			app.createUser("CLERK"),
		]);
		const flavorIds: string[] = [];
		for (let i = 0; i < FLAVORS; i++) {
			const res = await app.request("POST", "/api/v1/inventory/flavors", {
				token: maker.token,
				body: { name: `Bench flavor ${i}`, category: i % 3 ? "CREAM" : "SORBET", price: 200 + 10 * i },
			});
			flavorIds.push(res.body.id);
		}
		const pg = new Client({ connectionString: app.db.url });
		await pg.connect();
		const seedShop = async (name: string, lots: number): Promise<string> => {
			const shop = await app.request("POST", "/api/v1/sales/shops", { token: exec.token, body: { name, address: "Bench road 1" } });
			const id: string = shop.body.id;
			await app.request("POST", `/api/v1/sales/shops/${id}/staff`, { token: exec.token, body: { userId: clerk.id } });
			const stock = await app.request("PUT", `/api/v1/sales/shops/${id}/inventory`, {
				token: clerk.token,
				body: {
					reason: "RESTOCK",
					items: flavorIds.map((flavorId) => ({ flavorId, quantity: STOCK_PER_FLAVOR, reorderThreshold: 100 })),
				},
			});
			if (stock.status !== 200) throw new Error(`seeding stock failed: ${stock.status} ${JSON.stringify(stock.body)}`);
			if (lots > 1) {
				// Split each flavor's UNTRACKED lot into lots - 1 dated batches (the earliest sells first) plus the UNTRACKED rest; the total stays.
				const per = Math.floor(STOCK_PER_FLAVOR / lots);
				await pg.query("BEGIN");
				await pg.query("UPDATE sales.stock_lots SET quantity = quantity - $2::int WHERE shop_id = $1 AND stock_item_id IS NULL", [
					id,
					per * (lots - 1),
				]);
				await pg.query(
					`INSERT INTO sales.stock_lots (shop_id, flavor_id, stock_item_id, batch_label, expiry_date, quantity)
					 SELECT $1, i.flavor_id, gen_random_uuid(), 'BENCH-' || g, current_date + 30 + g, $2::int FROM sales.shop_inventory i, generate_series(1, $3::int) g WHERE i.shop_id = $1`,
					[id, per, lots - 1],
				);
				await pg.query("COMMIT");
			}
			// Warm-up (JIT, pools, caches), not measured.
			for (let i = 0; i < 50; i++) {
				await app.request("POST", `/api/v1/sales/shops/${id}/pos-transactions`, {
					token: clerk.token,
					body: {
						items: [
							{ flavorId: flavorIds[i % FLAVORS], quantity: 1 },
							{ flavorId: flavorIds[(i + 1) % FLAVORS], quantity: 1 },
						],
						paymentMethod: "CASH",
					},
				});
			}
			return id;
		};
		const shopId = await seedShop("Bench Shop", 1);
		const lotShopId = LOTS > 1 ? await seedShop(`Bench Shop (${LOTS} lots)`, LOTS) : null;
		const count = async () => Number((await pg.query("SELECT count(*) AS n FROM sales.transactions")).rows[0].n);
		if (WARMUP_SECONDS > 0) {
			const warm = await drive(
				`${app.baseUrl}/api/v1/sales/shops/${shopId}/pos-transactions`,
				clerk.token,
				flavorIds,
				WARMUP_SECONDS,
			);
			if (warm.non2xx || warm.errors) throw new Error(`the warm-up answered errors (non-2xx ${warm.non2xx}, errors ${warm.errors})`);
			// Its last sales' event handlers (other services consume SALE_COMPLETED) finish before the measured run.
			await new Promise((r) => setTimeout(r, 1500));
		}
		const before = await count();

		const profiler = PROFILE ? new Session() : null;
		if (profiler) {
			profiler.connect();
			await profiler.post("Profiler.enable");
			await profiler.post("Profiler.start");
		}
		const pgBefore = await backendCpu(pg, app.db.name);
		const cpuBefore = process.cpuUsage();
		const result = await drive(`${app.baseUrl}/api/v1/sales/shops/${shopId}/pos-transactions`, clerk.token, flavorIds);
		const cpu = process.cpuUsage(cpuBefore);
		const pgCpu = cpuSpent(pgBefore, await backendCpu(pg, app.db.name));
		if (profiler && PROFILE) {
			const { profile } = await profiler.post("Profiler.stop");
			fs.writeFileSync(PROFILE, JSON.stringify(profile));
			profiler.disconnect();
			console.log(`CPU profile of the measured window: ${PROFILE}`);
		}
		// Let in-flight sales and the event handlers they trigger (other services consume SALE_COMPLETED) finish.
		await new Promise((r) => setTimeout(r, 1500));
		const recorded = (await count()) - before;
		// The same drive against the shop whose flavors sit in LOTS lots, right after (side by side in one run).
		const lotResult = lotShopId
			? await drive(`${app.baseUrl}/api/v1/sales/shops/${lotShopId}/pos-transactions`, clerk.token, flavorIds)
			: null;
		const saleFunction = await benchSaleFunction(pg, app.db.url, shopId, clerk.id, "one");
		const lotSaleFunction = lotShopId ? await benchSaleFunction(pg, app.db.url, lotShopId, clerk.id, "lots") : null;
		await pg.end();
		return { result, recorded, nodeCpuS: (cpu.user + cpu.system) / 1e6, pgCpuS: pgCpu, saleFunction, lotResult, lotSaleFunction };
	} finally {
		await app.stop();
	}
}

interface PgbenchResult {
	tps: number;
	latency: string | undefined;
	transactions: number;
	/** CPU seconds the PostgreSQL backends serving the run used. */
	pgCpuS: number;
}

/** Runs pgbench on `dbUrl` (its own database) for SECONDS with CONNECTIONS clients, sampling its backends' CPU. */
async function runPgbench(dbUrl: string, args: string[]): Promise<PgbenchResult> {
	const url = new URL(dbUrl);
	const database = url.pathname.slice(1);
	const env = {
		...process.env,
		PGHOST: url.hostname,
		PGPORT: url.port || "5432",
		PGUSER: decodeURIComponent(url.username || "postgres"),
		PGPASSWORD: decodeURIComponent(url.password),
		PGDATABASE: database,
	};
	const pg = new Client({ connectionString: dbUrl });
	await pg.connect();
	try {
		const before = await backendCpu(pg, database);
		const run = new Promise<string>((resolve, reject) => {
			execFile(
				findPgbench(),
				[...args, "-M", "prepared", "-T", String(SECONDS), "-c", String(CONNECTIONS), "-j", "2", "-n"],
				{ env, encoding: "utf8" },
				(err, stdout) => (err ? reject(err) : resolve(stdout)),
			);
		});
		// Sample pgbench's backends until the run ends (they are gone after it, so each keeps its last reading); a backend seen first counts from 0.
		let last = before;
		let done = false;
		void run.finally(() => (done = true)).catch(() => undefined);
		while (!done) {
			await new Promise((r) => setTimeout(r, 100));
			last = new Map([...last, ...(await backendCpu(pg, database))]);
		}
		const output = await run;
		return {
			tps: Number(/tps = ([\d.]+)/.exec(output)?.[1]),
			latency: /latency average = ([\d.]+ ms)/.exec(output)?.[1],
			transactions: Number(/number of transactions actually processed: (\d+)/.exec(output)?.[1]),
			pgCpuS: cpuSpent(before, last),
		};
	} finally {
		await pg.end();
	}
}

/** The floor: pgbench's simple update (-N), prepared, on a scratch database. */
async function benchPgbench(): Promise<PgbenchResult> {
	const scratch = await createTestDatabase();
	try {
		const url = new URL(scratch.url);
		const env = {
			...process.env,
			PGHOST: url.hostname,
			PGPORT: url.port || "5432",
			PGUSER: decodeURIComponent(url.username || "postgres"),
			PGPASSWORD: decodeURIComponent(url.password),
			PGDATABASE: scratch.name,
		};
		execFileSync(findPgbench(), ["-i", "-q", "-s", "10"], { env, stdio: ["ignore", "ignore", "pipe"] });
		return await runPgbench(scratch.url, ["-N"]);
	} finally {
		await scratch.drop();
	}
}

/**
 * The sale's database part alone: pgbench calls sales.pos_sale (the same function the
 * POS calls, prepared) with random 2-flavor baskets: what the sale costs PostgreSQL
 * without HTTP, the broker and the event consumers.
 */
async function benchSaleFunction(pg: Client, dbUrl: string, shopId: string, clerkId: string, tag: string): Promise<PgbenchResult | null> {
	if (!(await pg.query("SELECT to_regproc('sales.pos_sale') AS f")).rows[0].f) return null;
	// Inputs in a table: pgbench would read the ':' in JSON text as variables.
	// Well-formed payloads with no lines, so the consumer groups fed by these rows have nothing to do (and nothing to dead-letter).
	const payloads = {
		SALE_COMPLETED: {
			transactionId: clerkId,
			shopId,
			clerkId,
			patronId: null,
			items: [],
			totalAmount: 0,
			paymentMethod: "CASH",
			createdAt: new Date().toISOString(),
		},
		INVENTORY_LOW: { shopId, flavorId: clerkId, quantity: 0, reorderThreshold: 0 },
	} as const;
	const template = (type: "SALE_COMPLETED" | "INVENTORY_LOW") => JSON.stringify(envelope(type, payloads[type] as never, null));
	await pg.query(
		`CREATE TABLE public.pos_bench_input_${tag} AS
		 SELECT $1::uuid AS shop_id, $2::uuid AS clerk_id, $3::jsonb AS sale_event, $4::text AS sale_topic, $5::jsonb AS low_event, $6::text AS low_topic`,
		[
			shopId,
			clerkId,
			template("SALE_COMPLETED"),
			EVENT_CATALOG.SALE_COMPLETED.topic,
			template("INVENTORY_LOW"),
			EVENT_CATALOG.INVENTORY_LOW.topic,
		],
	);
	await pg.query(
		`CREATE TABLE public.pos_bench_flavors_${tag} AS
		 SELECT (row_number() OVER (ORDER BY flavor_id) - 1)::int AS n, flavor_id AS id, 'Bench flavor'::text AS name, 250::bigint AS price FROM sales.shop_inventory WHERE shop_id = $1`,
		[shopId],
	);
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pos-bench-sql-"));
	const script = path.join(dir, "sale.sql");
	fs.writeFileSync(
		script,
		`\\set a random(0, ${FLAVORS - 1})
\\set b (:a + 1 + random(0, ${FLAVORS - 2})) % ${FLAVORS}
SELECT sales.pos_sale(gen_random_uuid(), i.shop_id, i.clerk_id, 'STAFF', false, NULL, 'CASH', NULL, NULL, 'bench', NULL,
  ARRAY[f1.id, f2.id], ARRAY[f1.name, f2.name], ARRAY[1, 1], ARRAY[f1.price, f2.price],
  jsonb_set(i.sale_event, '{id}', to_jsonb(gen_random_uuid())), i.sale_topic, i.low_event, i.low_topic, NULL)
  FROM public.pos_bench_input_${tag} i, public.pos_bench_flavors_${tag} f1, public.pos_bench_flavors_${tag} f2 WHERE f1.n = :a AND f2.n = :b;
`,
	);
	try {
		return await runPgbench(dbUrl, ["-f", script]);
	} finally {
		fs.rmSync(dir, { recursive: true, force: true });
	}
}

async function main() {
	const started = Date.now();
	console.log(
		`POS bench: ${SECONDS}s, ${CONNECTIONS} connections, ${FLAVORS} flavors x ${STOCK_PER_FLAVOR} units, 2 items per sale, 127.0.0.1 only, node ${process.version}, ${os.cpus().length} cores`,
	);
	const { result, recorded, nodeCpuS, pgCpuS, saleFunction, lotResult, lotSaleFunction } = await benchPos();
	const posTps = result["2xx"] / result.duration;
	console.log(
		`POS through the gateway: ${posTps.toFixed(1)} sales/s (${result["2xx"]} ok, ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts; ` +
			`latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms); sales stored: ${recorded} (incl. ones in flight at the stop)`,
	);
	const sales = Math.max(1, result["2xx"] + result.non2xx);
	console.log(
		`CPU per sale: backend process (node) ${((nodeCpuS * 1000) / sales).toFixed(2)} ms, PostgreSQL backends ${((pgCpuS * 1000) / sales).toFixed(2)} ms`,
	);
	// Sales still in flight when the timer stops are committed but not counted by autocannon.
	if (recorded < result["2xx"] || recorded > result["2xx"] + CONNECTIONS)
		console.log(`WARNING: ${recorded} transactions stored for ${result["2xx"]} successful responses`);

	const perTx = (r: PgbenchResult) =>
		`${r.tps.toFixed(1)} tps (latency average ${r.latency}); PostgreSQL backends ${((r.pgCpuS * 1000) / Math.max(1, r.transactions)).toFixed(2)} ms CPU per transaction`;
	const pgb = await benchPgbench();
	if (saleFunction) {
		console.log(
			`sales.pos_sale alone (pgbench -M prepared, ${CONNECTIONS} clients, 2-item baskets): ${perTx(saleFunction)}; ${(saleFunction.tps / pgb.tps).toFixed(3)} x pgbench -N`,
		);
	}
	if (lotResult) {
		const lotTps = lotResult["2xx"] / lotResult.duration;
		console.log(
			`POS through the gateway, ${LOTS} lots per flavor: ${lotTps.toFixed(1)} sales/s (${lotResult["2xx"]} ok, ${lotResult.non2xx} non-2xx; p50 ${lotResult.latency.p50} ms, p99 ${lotResult.latency.p99} ms); ${(lotTps / posTps).toFixed(3)} x single-lot`,
		);
		if (lotResult.non2xx || lotResult.errors) process.exitCode = 1;
	}
	if (saleFunction && lotSaleFunction) {
		console.log(
			`sales.pos_sale alone, ${LOTS} lots per flavor: ${perTx(lotSaleFunction)}; ${(lotSaleFunction.tps / saleFunction.tps).toFixed(3)} x single-lot`,
		);
	}
	console.log(`pgbench -N -M prepared (simple update, scale 10, ${CONNECTIONS} clients): ${perTx(pgb)}`);
	console.log(
		`ratio POS sales/s : pgbench tps = ${(posTps / pgb.tps).toFixed(3)} (a sale is HTTP, JWT, validation, the catalog and one database transaction)`,
	);
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
