/**
 * Issue 10 item 5: a client's bad requests never open the circuit breaker for
 * everyone. 50 malformed profile updates (a NUL character in `preferences`) from
 * one patron, then another user's profile update still answers 200: in one
 * process, and with the gateway and auth on two brokers (the remote call the
 * breaker guards).
 */
import { randomBytes } from "node:crypto";
import { Errors } from "moleculer";
import { startTestApp, type TestApp } from "../helpers/app";
import { isDependencyFailure } from "../../middlewares/remote-guards.middleware";

const MALFORMED = { preferences: { theme: "dark\u0000" } };

async function hammer(gateway: TestApp, auth: TestApp): Promise<void> {
	const patron = await auth.createUser("PATRON");
	const other = await auth.createUser("PATRON");
	const statuses: Record<number, number> = {};
	for (let i = 0; i < 50; i++) {
		const res = await gateway.request("PUT", "/api/v1/auth/profile", { token: patron.token, body: MALFORMED });
		statuses[res.status] = (statuses[res.status] ?? 0) + 1;
	}
	console.log(`circuit breaker: 50 malformed profile updates answered ${JSON.stringify(statuses)}`);
	expect(statuses[503]).toBeUndefined();
	const res = await gateway.request("PUT", "/api/v1/auth/profile", { token: other.token, body: { name: "Still served" } });
	expect({ status: res.status, name: res.body?.name }).toEqual({ status: 200, name: "Still served" });
}

describe("client errors never open the circuit breaker", () => {
	it("in one process", async () => {
		const app = await startTestApp({ services: ["auth"] });
		try {
			await hammer(app, app);
		} finally {
			await app.stop();
		}
	}, 60_000);

	it("with the gateway calling auth on another node", async () => {
		const env = { TRANSPORTER: "Fake", NAMESPACE: `cb-${randomBytes(4).toString("hex")}`, JWT_SECRET: randomBytes(32).toString("hex") };
		const auth = await startTestApp({ services: ["auth"], gateway: false, env });
		const gateway = await startTestApp({ services: [], env, db: auth.db });
		try {
			// The gateway routes auth once it has seen the auth node.
			const deadline = Date.now() + 15_000;
			while ((await gateway.request("GET", "/api/v1/auth/me")).status !== 401) {
				if (Date.now() > deadline)
					throw new Error(
						`the gateway never routed /api/v1/auth: ${JSON.stringify((await gateway.request("GET", "/api/v1/auth/me")).body)}`,
					);
				await new Promise((r) => setTimeout(r, 100));
			}
			await hammer(gateway, auth);
		} finally {
			await gateway.stop();
			await auth.stop();
		}
	}, 60_000);

	it("counts only dependency failures", () => {
		expect(isDependencyFailure(new Errors.RequestTimeoutError({ action: "auth.me", nodeID: "n1" }))).toBe(true);
		expect(isDependencyFailure(new Errors.ServiceNotAvailableError({ action: "auth.me", nodeID: "n1" }))).toBe(true);
		expect(isDependencyFailure(Object.assign(new Error("connect ECONNREFUSED"), { name: "SequelizeConnectionRefusedError" }))).toBe(
			true,
		);
		expect(isDependencyFailure(new Errors.MoleculerError("Token store unavailable", 503, "TOKEN_STORE_UNAVAILABLE"))).toBe(true);
		expect(isDependencyFailure(new Errors.ValidationError("bad", "VALIDATION_ERROR", []))).toBe(false);
		expect(isDependencyFailure(new Errors.MoleculerClientError("conflict", 409, "CONFLICT"))).toBe(false);
		expect(isDependencyFailure(new Errors.MoleculerError("bug", 500, "INTERNAL"))).toBe(false);
		expect(isDependencyFailure(new TypeError("x is undefined"))).toBe(false);
	});
});
