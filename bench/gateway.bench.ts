/**
 * The gateway's cost per request, as a ratio against a bare node:http server
 * measured in the same run, with the same load, on the same machine.
 *
 *   npm run bench:gateway     (BENCH_SECONDS=10 BENCH_CONNECTIONS=16 by default; 127.0.0.1 only)
 *
 * 1. Starts the backend in-process (gateway + auth) on a fresh database and creates a user.
 * 2. autocannon (a separate process, so it doesn't share the servers' event loop) drives
 *    `GET /api/v1/auth/me` with the user's Bearer token through the gateway: JWT
 *    verification, revocation check, rate limiting, authorization, the auth action
 *    (a PostgreSQL read) and helmet/compression/request-id on the way out.
 * 3. The same autocannon run against a bare node:http server answering the very same
 *    JSON on another port.
 * Prints requests/s and p99 latency of both, and their ratio. Total ≤ 40 s.
 */
import { execFile } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { startTestApp } from "../test/helpers/app";
import type { AutocannonResult } from "./stats";

const SECONDS = Math.min(15, Number(process.env.BENCH_SECONDS ?? 10));
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);


/** One autocannon run in a child process (its JSON result on stdout). */
function autocannon(url: string, headers: Record<string, string>): Promise<AutocannonResult> {
	const cli = path.join(path.dirname(require.resolve("autocannon/package.json")), "autocannon.js");
	const args = [cli, "-c", String(CONNECTIONS), "-d", String(SECONDS), "-j", ...Object.entries(headers).flatMap(([k, v]) => ["-H", `${k}=${v}`]), url];
	return new Promise((resolve, reject) => {
		execFile(process.execPath, args, { maxBuffer: 16 * 1024 * 1024, timeout: (SECONDS + 20) * 1000 }, (err, stdout, stderr) => {
			if (err) return reject(new Error(`autocannon failed: ${err.message}\n${stderr}`));
			resolve(JSON.parse(stdout) as AutocannonResult);
		});
	});
}

function row(name: string, r: AutocannonResult): string {
	return `${name.padEnd(34)} ${r.requests.average.toFixed(0).padStart(8)} req/s   p50 ${String(r.latency.p50).padStart(4)} ms   p99 ${String(r.latency.p99).padStart(4)} ms   2xx ${r["2xx"]}  non-2xx ${r.non2xx}  errors ${r.errors}`;
}

async function main(): Promise<void> {
	process.env.LOG_LEVEL ??= "error";
	const started = Date.now();
	const app = await startTestApp({ services: ["auth"], env: { RATE_LIMIT_PER_MIN: "100000000", LOG_LEVEL: process.env.LOG_LEVEL } });
	const bare = http.createServer();
	try {
		const user = await app.createUser("PATRON");
		const me = await app.request("GET", "/api/v1/auth/me", { token: user.token });
		if (me.status !== 200) throw new Error(`GET /api/v1/auth/me answered ${me.status}`);
		const json = JSON.stringify(me.body);

		bare.on("request", (_req, res) => {
			res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(json) });
			res.end(json);
		});
		await new Promise<void>((resolve) => bare.listen(0, "127.0.0.1", resolve));
		const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/api/v1/auth/me`;

		// Warm-up, not measured: JIT, the pool, the path caches.
		for (let i = 0; i < 200; i++) await app.request("GET", "/api/v1/auth/me", { token: user.token });

		console.log(`GET /api/v1/auth/me, ${CONNECTIONS} connections, ${SECONDS} s each, 127.0.0.1, node ${process.version}`);
		const cpuBefore = process.cpuUsage();
		const gateway = await autocannon(`${app.baseUrl}/api/v1/auth/me`, { authorization: `Bearer ${user.token}` });
		const cpu = process.cpuUsage(cpuBefore);
		const cpuMsPerRequest = (cpu.user + cpu.system) / 1000 / Math.max(1, gateway.requests.total);
		const baseline = await autocannon(bareUrl, { authorization: `Bearer ${user.token}` });
		console.log(row("gateway (JWT, limits, auth + PG)", gateway));
		console.log(row("bare node:http (same JSON)", baseline));
		const ratio = gateway.requests.average / baseline.requests.average;
		console.log(`ratio gateway/bare: ${(ratio * 100).toFixed(1)} % of the requests/s; p99 ${gateway.latency.p99} ms vs ${baseline.latency.p99} ms (x${(gateway.latency.p99 / Math.max(1, baseline.latency.p99)).toFixed(1)})`);
		console.log(`backend process CPU during the gateway run: ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s of ${SECONDS} s, ${cpuMsPerRequest.toFixed(2)} ms per request`);
		console.log(`total bench time ${((Date.now() - started) / 1000).toFixed(1)} s`);
		if (gateway.non2xx || gateway.errors || gateway["2xx"] === 0) {
			console.error("The gateway answered errors during the run: the figures are not valid.");
			process.exitCode = 1;
		}
	} finally {
		await new Promise<void>((resolve) => bare.close(() => resolve()));
		await app.stop();
	}
}

main().catch((err: unknown) => {
	console.error(err);
	process.exit(1);
});
