/**
 * One pool per schema per process, all of them bounded by DB_POOL_MAX: under a
 * mixed load on every service of one process (every parameterless GET route of
 * the OpenAPI document as ADMIN, plus registrations and profile writes),
 * pg_stat_activity, sampled throughout, never shows more connections to the
 * process's database than DB_POOL_MAX.
 */
import { Client } from "pg";
import { startTestApp, uniqueEmail, type TestApp } from "../helpers/app";

const POOL_MAX = 12; // 8 schemas + the relay's lock session + the event-stream session need 10: a tight budget

describe("database connections of one process", () => {
	let app: TestApp;
	let probe: Client;

	beforeAll(async () => {
		app = await startTestApp({ env: { DB_POOL_MAX: String(POOL_MAX) } });
		probe = new Client({ connectionString: app.db.url.replace(/\/[^/]+$/, "/postgres") });
		await probe.connect();
	}, 60_000);
	afterAll(async () => {
		await probe?.end();
		await app?.stop();
	});

	it(`stays within DB_POOL_MAX=${POOL_MAX} under a mixed load on every service`, async () => {
		const admin = await app.createUser("ADMIN");
		const doc = await app.request("GET", "/api/v1/openapi.json");
		const paths = Object.entries(doc.body.paths as Record<string, Record<string, unknown>>)
			.filter(([p, ops]) => p.startsWith("/api/v1/") && !p.includes("{") && "get" in ops)
			.map(([p]) => p);
		// files has no parameterless GET: its per-user listing.
		paths.push(`/api/v1/files/files/user/${admin.id}`);
		const services = new Set(paths.map((p) => p.split("/")[3]));
		expect([...services].sort()).toEqual(
			expect.arrayContaining(["admin", "analytics", "auth", "communications", "files", "inventory", "sales"]),
		);

		let sampling = true;
		const samples: number[] = [];
		const sampler = (async () => {
			while (sampling) {
				const { rows } = await probe.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1", [
					app.db.name,
				]);
				samples.push(rows[0].n);
				await new Promise((r) => setTimeout(r, 10));
			}
		})();

		const statuses: number[] = [];
		const work: (() => Promise<unknown>)[] = [];
		for (let round = 0; round < 6; round++) {
			for (const p of paths) work.push(() => app.request("GET", p, { token: admin.token }).then((r) => statuses.push(r.status)));
			for (let i = 0; i < 4; i++) {
				work.push(() =>
					app
						.request("POST", "/api/v1/auth/register", {
							body: { email: uniqueEmail("pool"), password: "Pool-pass-12345!", name: "Pool" },
						})
						.then((r) => statuses.push(r.status)),
				);
				work.push(() =>
					app
						.request("PUT", "/api/v1/auth/profile", { token: admin.token, body: { name: `Admin ${round}` } })
						.then((r) => statuses.push(r.status)),
				);
			}
		}
		// 24 requests in flight at a time, far more than the pool.
		const queue = [...work];
		await Promise.all(
			Array.from({ length: 24 }, async () => {
				for (let job = queue.shift(); job; job = queue.shift()) await job();
			}),
		);
		sampling = false;
		await sampler;

		const max = Math.max(...samples);
		console.log(
			`db-pool: ${work.length} requests over ${services.size} services, ${samples.length} samples of pg_stat_activity, at most ${max} connections (DB_POOL_MAX=${POOL_MAX})`,
		);
		expect(statuses.filter((s) => s >= 500)).toEqual([]);
		expect(samples.length).toBeGreaterThan(5);
		expect(max).toBeGreaterThan(1);
		expect(max).toBeLessThanOrEqual(POOL_MAX);
	}, 120_000);
});
