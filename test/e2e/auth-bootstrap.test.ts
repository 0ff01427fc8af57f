/** BOOTSTRAP_ADMIN_EMAIL/PASSWORD create exactly one ADMIN, idempotently across restarts. */
import { startTestApp } from "../helpers/app";
import { createTestDatabase, type TestDatabase } from "../helpers/db";
import { sqlQuery } from "../integration/auth/helpers";

describe("bootstrap ADMIN", () => {
	let db: TestDatabase;
	beforeAll(async () => {
		db = await createTestDatabase();
	});
	afterAll(async () => db?.drop());

	it("creates the ADMIN once; a restart (even with another password) changes nothing", async () => {
		const env = { BOOTSTRAP_ADMIN_EMAIL: "Boss@Example.com", BOOTSTRAP_ADMIN_PASSWORD: "first-boss-pass" };
		const first = await startTestApp({ services: ["auth"], db, env });
		try {
			const login = await first.request("POST", "/api/v1/auth/login", {
				body: { email: "boss@example.com", password: "first-boss-pass" },
			});
			expect(login.status).toBe(200);
			expect(login.body.user.role).toBe("ADMIN");
			expect((await first.request("GET", "/api/v1/auth/users", { token: login.body.accessToken })).status).toBe(200);
		} finally {
			await first.stop();
		}

		const second = await startTestApp({ services: ["auth"], db, env: { ...env, BOOTSTRAP_ADMIN_PASSWORD: "second-boss-pass" } });
		try {
			const rows = await sqlQuery<{ email: string; role: string }>(db.url, "SELECT email, role FROM auth.users");
			expect(rows).toEqual([{ email: "boss@example.com", role: "ADMIN" }]);
			expect(
				(await second.request("POST", "/api/v1/auth/login", { body: { email: "boss@example.com", password: "first-boss-pass" } }))
					.status,
			).toBe(200);
			expect(
				(await second.request("POST", "/api/v1/auth/login", { body: { email: "boss@example.com", password: "second-boss-pass" } }))
					.status,
			).toBe(401);
		} finally {
			await second.stop();
		}
	});
});
