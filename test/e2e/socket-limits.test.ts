/**
 * Socket calls share the per-user HTTP rate limit (RATE_LIMIT_PER_MIN); a 429 ack
 * keeps the socket open. A socket is closed when its access token expires.
 */
import { startTestApp, type TestApp } from "../helpers/app";
import { connectSocket, type TestSocket } from "../helpers/sockets";

describe("socket call rate limit", () => {
	let app: TestApp;
	let s: TestSocket | undefined;
	beforeAll(async () => {
		app = await startTestApp({ services: ["auth"], env: { RATE_LIMIT_PER_MIN: "5", JWT_ACCESS_TTL: "5" } });
	});
	afterAll(async () => {
		s?.close();
		await app?.stop();
	});

	it("answers 429 with retryAfter once the user's budget is spent, HTTP and sockets together", async () => {
		const user = await app.createUser("PATRON");
		s = await connectSocket(app.baseUrl, { token: user.token });
		expect((await app.request("GET", "/api/v1/auth/me", { token: user.token })).status).toBe(200);
		for (let i = 0; i < 4; i++) expect((await s.ack("call", "auth.me", {}))[0]).toBeNull();
		const [err] = await s.ack("call", "auth.me", {});
		expect(err).toMatchObject({ code: "RATE_LIMITED", status: 429, details: { retryAfter: expect.any(Number) } });
		expect((await app.request("GET", "/api/v1/auth/me", { token: user.token })).status).toBe(429);
		expect(s.socket.connected).toBe(true);
	});

	it("closes a socket when its access token expires", async () => {
		const user = await app.createUser("PATRON");
		const socket = await connectSocket(app.baseUrl, { token: user.token });
		const reason = await new Promise<string>((resolve) => socket.socket.once("disconnect", resolve));
		expect(reason).toBe("io server disconnect");
		const refused = await connectSocket(app.baseUrl, { token: user.token }).catch((e: { data?: { code: string } }) => e);
		expect((refused as { data?: { code: string } }).data?.code).toBe("TOKEN_EXPIRED");
	});
});
