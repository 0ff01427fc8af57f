/**
 * The gateway's cost per request, as a ratio against a bare node:http server
 * measured in the same run, with the same load, on the same machine.
 *
 *   npm run bench:gateway     (BENCH_SECONDS=10 BENCH_CONNECTIONS=16 by default; 127.0.0.1 only)
 *   BENCH_FEATURES=1 npm run bench:gateway    also measures each switchable feature's cost
 *
 * 1. Starts the backend in-process (gateway + auth) on a fresh database, as in
 *    production: REDIS_URL and a Redis cacher (redis://127.0.0.1:6379 unless
 *    REDIS_URL is set), LOG_LEVEL=info (the production default); creates a user.
 * 2. autocannon (a separate process, so it doesn't share the servers' event loop) drives
 *    `GET /api/v1/auth/me` with the user's Bearer token through the gateway: JWT
 *    verification, revocation check, rate limiting, authorization, the auth action
 *    (its per-node memory in front of the cacher) and security headers/compression/request id on the way out.
 * 3. The same autocannon run against a bare node:http server answering the very same
 *    JSON on another port; then, for reference, the same bare server with the gateway's
 *    write batching (services/gateway/write-batching.ts). The ratio is against the plain one.
 * Prints requests/s and p99 latency of each, the ratio, and the backend's CPU ms per
 * request (steadier than the ratio on a busy machine).
 * BENCH_CPU_PROFILE=<dir> writes a .cpuprofile of the gateway run alone (not the set-up, not
 * the bare server) for `node scripts/top-frames.js <file>` or Chrome DevTools.
 * With BENCH_FEATURES=1, the gateway run is repeated with one feature switched off at a
 * time; each row's difference to "all on" is that feature's CPU cost per request. The last row
 * ("floor") switches all of them off (write batching, which saves, stays on) and runs no broker middleware: what the stack itself costs.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import { Session } from "node:inspector/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { BrokerOptions } from "moleculer";
import { startTestApp } from "../test/helpers/app";
import { EDGE_FEATURES } from "../services/gateway/edge";
import { batchWritesPerTurn } from "../services/gateway/write-batching";
import { benchSeconds, type AutocannonResult } from "./stats";

const SECONDS = benchSeconds(10, 15);
/** The service's own switches (all on), restored before each variant switches some off. */
const EDGE_DEFAULTS = { ...EDGE_FEATURES };
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379";

/** One autocannon run in a child process (its JSON result on stdout). */
function autocannon(url: string, headers: Record<string, string>, seconds = SECONDS): Promise<AutocannonResult> {
	const cli = path.join(path.dirname(require.resolve("autocannon/package.json")), "autocannon.js");
	const args = [
		cli,
		"-c",
		String(CONNECTIONS),
		"-d",
		String(seconds),
		"-j",
		...Object.entries(headers).flatMap(([k, v]) => ["-H", `${k}=${v}`]),
		url,
	];
	return new Promise((resolve, reject) => {
		execFile(process.execPath, args, { maxBuffer: 16 * 1024 * 1024, timeout: (SECONDS + 20) * 1000 }, (err, stdout, stderr) => {
			if (err) return reject(new Error(`autocannon failed: ${err.message}\n${stderr}`));
			resolve(JSON.parse(stdout) as AutocannonResult);
		});
	});
}

function row(name: string, r: AutocannonResult, cpuMs: number): string {
	return `${name.padEnd(36)} ${r.requests.average.toFixed(0).padStart(7)} req/s   p50 ${String(r.latency.p50).padStart(3)} ms   p99 ${String(r.latency.p99).padStart(3)} ms   ${cpuMs.toFixed(3)} CPU ms/req   non-2xx ${r.non2xx} errors ${r.errors}`;
}

/** Runs autocannon against `url` and measures this process's CPU meanwhile (and profiles it into `profileDir`). */
async function measure(
	url: string,
	headers: Record<string, string>,
	profileDir?: string,
): Promise<{ result: AutocannonResult; cpuMs: number }> {
	const session = profileDir ? new Session() : undefined;
	if (session) {
		session.connect();
		await session.post("Profiler.enable");
		await session.post("Profiler.start");
	}
	const before = process.cpuUsage();
	const result = await autocannon(url, headers);
	const cpu = process.cpuUsage(before);
	if (session && profileDir) {
		const { profile } = await session.post("Profiler.stop");
		fs.mkdirSync(profileDir, { recursive: true });
		const file = path.join(profileDir, `gateway-${Date.now()}.cpuprofile`);
		fs.writeFileSync(file, JSON.stringify(profile));
		console.log(`CPU profile of the gateway run: ${file}`);
		session.disconnect();
	}
	return { result, cpuMs: (cpu.user + cpu.system) / 1000 / Math.max(1, result.requests.total) };
}

interface Variant {
	name: string;
	/** Write a CPU profile of this run (BENCH_CPU_PROFILE). */
	profile?: boolean;
	env?: Record<string, string>;
	broker?: Partial<BrokerOptions>;
	edge?: Partial<typeof EDGE_FEATURES>;
	headers?: Record<string, string>;
}

/** Starts the backend as configured by `variant`, drives /me, stops it. */
async function runGateway(variant: Variant): Promise<{ result: AutocannonResult; cpuMs: number; json: string; token: string }> {
	Object.assign(EDGE_FEATURES, EDGE_DEFAULTS, variant.edge);
	const env = {
		RATE_LIMIT_PER_MIN: "100000000",
		LOG_LEVEL: process.env.LOG_LEVEL ?? "info",
		REDIS_URL,
		CACHER: REDIS_URL,
		...variant.env,
	};
	const app = await startTestApp({ services: ["auth"], env, broker: variant.broker });
	try {
		const user = await app.createUser("PATRON");
		const me = await app.request("GET", "/api/v1/auth/me", { token: user.token });
		if (me.status !== 200) throw new Error(`GET /api/v1/auth/me answered ${me.status}: ${JSON.stringify(me.body)}`);
		// Warm-up, not measured: JIT, the pool, the path caches (a short run under the same load).
		for (let i = 0; i < 200; i++) await app.request("GET", "/api/v1/auth/me", { token: user.token });
		await autocannon(
			`${app.baseUrl}/api/v1/auth/me`,
			{ authorization: `Bearer ${user.token}`, ...variant.headers },
			Math.min(3, SECONDS),
		);
		const run = await measure(
			`${app.baseUrl}/api/v1/auth/me`,
			{ authorization: `Bearer ${user.token}`, ...variant.headers },
			variant.profile ? process.env.BENCH_CPU_PROFILE : undefined,
		);
		if (run.result.non2xx || run.result.errors || run.result["2xx"] === 0)
			throw new Error(
				`${variant.name}: the gateway answered errors during the run (non-2xx ${run.result.non2xx}, errors ${run.result.errors})`,
			);
		return { ...run, json: JSON.stringify(me.body), token: user.token };
	} finally {
		await app.stop();
	}
}

const FEATURES: Variant[] = [
	{ name: "metrics off", broker: { metrics: { enabled: false } } },
	{ name: "security headers off", edge: { securityHeaders: false } },
	{ name: "compression off (client sends gzip)", edge: { compression: false }, headers: { "accept-encoding": "gzip" } },
	// A negative cost: batching saves more than it spends (services/gateway/write-batching.ts).
	{ name: "write batching off", edge: { writeBatching: false } },
	{ name: "Redis off (memory limiter, cacher)", env: { REDIS_URL: "", CACHER: "" } },
	{ name: "LOG_LEVEL=warn", env: { LOG_LEVEL: "warn" } },
	// Not a feature: what the stack costs with every switch above off and no broker middleware at all (no role
	// check, validation, cache, timeout or context tracking): the floor the features are measured from. Write
	// batching stays on: it saves rather than costs.
	{
		name: "floor: all off, no broker middlewares",
		broker: { metrics: { enabled: false }, middlewares: [] },
		edge: { securityHeaders: false, compression: false },
		env: { LOG_LEVEL: "warn" },
	},
];

async function main(): Promise<void> {
	const started = Date.now();
	console.log(
		`GET /api/v1/auth/me, ${CONNECTIONS} connections, ${SECONDS} s each, 127.0.0.1, node ${process.version}, REDIS_URL and Redis cacher ${REDIS_URL}`,
	);
	const gateway = await runGateway({ name: "all on", profile: true });

	const measureBare = async (batching: boolean) => {
		const bare = http.createServer((_req, res) => {
			res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(gateway.json) });
			res.end(gateway.json);
		});
		if (batching) batchWritesPerTurn(bare);
		await new Promise<void>((resolve) => bare.listen(0, "127.0.0.1", resolve));
		try {
			return await measure(`http://127.0.0.1:${(bare.address() as AddressInfo).port}/api/v1/auth/me`, {
				authorization: `Bearer ${gateway.token}`,
			});
		} finally {
			await new Promise<void>((resolve) => bare.close(() => resolve()));
		}
	};
	const baseline = await measureBare(false);
	// For reference only (the target is against plain node:http): what the gateway's write batching does for the floor itself.
	const batchedBaseline = await measureBare(true);

	console.log(row("gateway (JWT, limits, /me cached)", gateway.result, gateway.cpuMs));
	console.log(row("bare node:http (same JSON)", baseline.result, baseline.cpuMs));
	console.log(row("bare node:http + write batching", batchedBaseline.result, batchedBaseline.cpuMs) + "   (reference)");
	const ratio = gateway.result.requests.average / baseline.result.requests.average;
	console.log(
		`ratio gateway/bare: ${ratio.toFixed(3)} of the requests/s (${(ratio * 100).toFixed(1)} %); p99 ${gateway.result.latency.p99} ms vs ${baseline.result.latency.p99} ms`,
	);
	console.log(`backend CPU per request: ${gateway.cpuMs.toFixed(3)} ms (bare: ${baseline.cpuMs.toFixed(3)} ms)`);

	if (process.env.BENCH_FEATURES === "1") {
		// Each variant is a fresh app in this process: JIT state carries over, so "all on" is measured again at the end
		// and each cost is taken against the mean of both "all on" runs.
		console.log(`\nfeature costs: the same run with one feature off; cost = (all on) - (that one off), in CPU ms per request`);
		const rows: [Variant, Awaited<ReturnType<typeof runGateway>>][] = [];
		for (const variant of FEATURES) rows.push([variant, await runGateway(variant)]);
		const again = await runGateway({ name: "all on" });
		const reference = (gateway.cpuMs + again.cpuMs) / 2;
		console.log(row("all on (first run)", gateway.result, gateway.cpuMs));
		console.log(
			row("all on (again, after the variants)", again.result, again.cpuMs) +
				`   ratio to bare ${(again.result.requests.average / baseline.result.requests.average).toFixed(3)}`,
		);
		for (const [variant, off] of rows)
			console.log(`${row(variant.name, off.result, off.cpuMs)}   cost ${(reference - off.cpuMs).toFixed(3)} ms`);
	}
	console.log(`total bench time ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((err: unknown) => {
	console.error(err);
	process.exit(1);
});
