/**
 * Logins while images decode: sharp and argon2 share libuv's worker threads, so image work
 * can make every login wait. Measured side by side in one run:
 *
 *   npm run bench:images    (BENCH_SECONDS=10 BENCH_IMAGE_USERS=4 BENCH_LOGINS=20 by default; 127.0.0.1 only)
 *
 * 1. Starts the backend in-process (gateway, auth, files) on a fresh database; BENCH_IMAGE_USERS
 *    users each upload a 2500×2500 PNG (a few KB that take their decoder and encoder most of
 *    a second), and one more user registers.
 * 2. Baseline: BENCH_LOGINS sequential logins (argon2 verify) with nothing else running.
 * 3. The same logins while every image user keeps two compress requests of their image in flight
 *    (as a client batching work does), for at most BENCH_SECONDS.
 * Prints login p50/p90/max of both, their ratio, and the compressions/s the load achieved.
 * IMAGE_DECODE_CONCURRENCY and IMAGE_DECODES_PER_USER apply as in production (docs/files.md).
 */
import sharp from "sharp";
import { startTestApp, type TestApp, type TestUser } from "../test/helpers/app";
import { benchSeconds, percentile } from "./stats";

const SECONDS = benchSeconds(10);
const IMAGE_USERS = Number(process.env.BENCH_IMAGE_USERS ?? 4);
const LOGINS = Number(process.env.BENCH_LOGINS ?? 20);
const PASSWORD = "Bench-passw0rd-long";

async function uploadImage(app: TestApp, user: TestUser, png: Buffer): Promise<string> {
	const form = new FormData();
	form.append("file", new Blob([png]), "bench.png");
	const res = await fetch(`${app.baseUrl}/api/v1/files/upload`, {
		method: "POST",
		body: form,
		headers: { authorization: `Bearer ${user.token}` },
	});
	if (res.status !== 201) throw new Error(`upload answered ${res.status}`);
	return ((await res.json()) as { id: string }).id;
}

/** Sequential logins until `count` are done or `deadline` passes; their latencies, ascending. */
async function logins(app: TestApp, email: string, count: number, deadline: number): Promise<number[]> {
	const ms: number[] = [];
	while (ms.length < count && Date.now() < deadline) {
		const started = performance.now();
		const res = await app.request("POST", "/api/v1/auth/login", { body: { email, password: PASSWORD } });
		if (res.status !== 200) throw new Error(`login answered ${res.status}`);
		ms.push(performance.now() - started);
	}
	return ms.sort((a, b) => a - b);
}

const line = (name: string, ms: number[]) =>
	`${name.padEnd(32)} ${String(ms.length).padStart(3)} logins   p50 ${percentile(ms, 50).toFixed(0).padStart(5)} ms   p90 ${percentile(
		ms,
		90,
	)
		.toFixed(0)
		.padStart(5)} ms   max ${(ms[ms.length - 1] ?? NaN).toFixed(0).padStart(5)} ms`;

async function main(): Promise<void> {
	process.env.LOG_LEVEL ??= "error";
	const app = await startTestApp({
		services: ["auth", "files"],
		env: { RATE_LIMIT_PER_MIN: "100000000", RATE_LIMIT_AUTH_PER_MIN: "100000000", LOG_LEVEL: process.env.LOG_LEVEL },
	});
	try {
		const png = await sharp({ create: { width: 2500, height: 2500, channels: 3, background: "black" } })
			.png()
			.toBuffer();
		const users = await Promise.all(Array.from({ length: IMAGE_USERS }, () => app.createUser("PATRON")));
		const files = await Promise.all(users.map((u) => uploadImage(app, u, png)));
		const email = `bench-${Date.now()}@example.com`;
		const registered = await app.request("POST", "/api/v1/auth/register", { body: { email, password: PASSWORD, name: "Bench" } });
		if (registered.status !== 201) throw new Error(`register answered ${registered.status}`);
		await logins(app, email, 3, Infinity); // warm-up, not measured

		const idle = await logins(app, email, LOGINS, Date.now() + SECONDS * 1000);

		let stop = false;
		let compressed = 0;
		let refused = 0;
		const load = users.flatMap((user, i) =>
			[0, 1].map(async () => {
				while (!stop) {
					const res = await fetch(`${app.baseUrl}/api/v1/files/files/compress`, {
						method: "POST",
						body: JSON.stringify({ fileId: files[i], quality: 60 }),
						headers: { authorization: `Bearer ${user.token}`, "content-type": "application/json" },
					});
					await res.arrayBuffer();
					if (res.status === 201) compressed++;
					else refused++;
				}
			}),
		);
		await new Promise((r) => setTimeout(r, Math.min(1000, (SECONDS * 1000) / 4))); // the load is under way
		const started = performance.now();
		const before = compressed;
		const loaded = await logins(app, email, LOGINS, Date.now() + SECONDS * 1000);
		const rate = (compressed - before) / ((performance.now() - started) / 1000);
		stop = true;
		await Promise.all(load);

		console.log(`\n${line("logins, nothing else running", idle)}`);
		console.log(line(`logins, ${IMAGE_USERS} users compressing`, loaded));
		console.log(`image load: ${rate.toFixed(2)} compressions/s (${compressed} done, ${refused} not 201)`);
		console.log(
			`ratio loaded / idle: login p50 ${(percentile(loaded, 50) / percentile(idle, 50)).toFixed(1)}x, p90 ${(percentile(loaded, 90) / percentile(idle, 90)).toFixed(1)}x`,
		);
		if (refused) process.exitCode = 1;
	} finally {
		await app.stop();
	}
}

main().then(
	() => process.exit(process.exitCode ?? 0),
	(err: unknown) => {
		console.error(err);
		process.exit(1);
	},
);
