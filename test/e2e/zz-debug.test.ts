import { startTestApp, type TestApp } from "../helpers/app";
it("debug", async () => {
	const app: TestApp = await startTestApp({ env: { LOG_LEVEL: "error" } });
	const exec = await app.createUser("EXECUTIVE");
	const patron = await app.createUser("PATRON");
	for (const [m, p, t, b] of [
		["GET", "/api/v1/inventory/factories/0000000a-58bc-45a5-9be7-19f5fffffff8", exec.token, undefined],
		["GET", "/api/v1/sales/shops?page=99986&sort=-averageRating&status=TEMPORARILY_CLOSED", undefined, undefined],
		["GET", "/api/v1/communications/notifications?page=99986&sort=-createdAt&unread=true", patron.token, undefined],
		["GET", "/api/v1/inventory/suppliers?minRating=2.57e-322", exec.token, undefined],
		["GET", "/api/v1/analytics/dashboard/real-time?minutes=1434", exec.token, undefined],
		["GET", "/api/v1/analytics/dashboard/kpis?from=2000-01-01&to=2000-01-01", exec.token, undefined],
		["POST", "/api/v1/auth/google", undefined, { idToken: "abc" }],
	] as const) {
		const r = await app.request(m, p, { token: t, body: b });
		console.log(m, p, r.status, JSON.stringify(r.body).slice(0, 200));
	}
	await app.stop();
}, 120000);
