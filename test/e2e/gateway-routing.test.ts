/**
 * The gateway's alias index (services/gateway/alias-index.ts) must answer exactly what
 * moleculer-web's own linear lookup answers, for every route the running services publish
 * and for paths that match none.
 */
import ApiGateway from "moleculer-web";
import { startTestApp, type TestApp } from "../helpers/app";

interface Alias {
	fullPath: string;
	method: string;
	action?: string;
}
type Resolved = { alias: Alias; params: Record<string, unknown> } | false;

const ID = "6f1c2b8e-1111-4222-8333-944445555666";
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

describe("gateway alias index", () => {
	let app: TestApp;
	let api: { aliases: Alias[]; resolveAlias(url: string, method: string): Resolved };
	const linear = (url: string, method: string): Resolved =>
		(ApiGateway.methods!.resolveAlias as (u: string, m: string) => Resolved).call(api, url, method);

	beforeAll(async () => {
		app = await startTestApp();
		api = app.broker.getLocalService("api") as unknown as typeof api;
	});
	afterAll(() => app?.stop());

	it("resolves every published route, and every near miss, to what moleculer-web would", () => {
		const urls = new Set<string>([
			"/",
			"/api",
			"/api/v1",
			"/nope",
			"/API/V1/AUTH/ME",
			"/api/v1/auth/me/extra",
			"/api/v2/auth/me",
			"/socket.io",
		]);
		for (const alias of api.aliases) {
			const url = alias.fullPath.replace(/:[A-Za-z]+/g, ID);
			urls.add(url);
			urls.add(url.toUpperCase());
			urls.add(`${url}/x`);
			urls.add(url.replace(/\/[^/]+$/, "/zz"));
		}
		expect(api.aliases.length).toBeGreaterThan(200);
		let compared = 0;
		for (const url of urls) {
			for (const method of METHODS) {
				const expected = linear(url, method);
				const actual = api.resolveAlias(url, method);
				expect({ url, method, alias: actual && actual.alias, params: actual && actual.params }).toEqual({
					url,
					method,
					alias: expected && expected.alias,
					params: expected && expected.params,
				});
				compared++;
			}
		}
		expect(compared).toBeGreaterThan(4000);
	});

	it("serves a request through the index end to end", async () => {
		const res = await app.request("GET", `/api/v1/sales/shops/${ID}`);
		expect(res.status).toBe(404);
		expect((await app.request("GET", "/api/v1/no-such-thing")).status).toBe(404);
		expect((await app.request("GET", "/health")).status).toBe(200);
	});
});
