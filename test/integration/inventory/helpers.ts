/** Shared helpers for the inventory tests. */
import { Client } from "pg";
import type { TestApp } from "../../helpers/app";

/** Runs one SQL query against the test app's database. */
export async function sqlRows<T>(app: TestApp, text: string, params: unknown[] = []): Promise<T[]> {
	const client = new Client({ connectionString: app.db.url });
	await client.connect();
	try {
		return (await client.query(text, params)).rows as T[];
	} finally {
		await client.end();
	}
}

export const UNKNOWN_ID = "00000000-0000-4000-8000-000000000000";

/** `YYYY-MM-DD`, `days` from today (UTC). */
export function day(days: number): string {
	const d = new Date();
	d.setUTCHours(0, 0, 0, 0);
	d.setUTCDate(d.getUTCDate() + days);
	return d.toISOString().slice(0, 10);
}

/** Creates a flavor through the API as `token`; returns its id. */
export async function createFlavor(app: TestApp, token: string, body: Record<string, unknown>): Promise<string> {
	const res = await app.request("POST", "/api/v1/inventory/flavors", { token, body: { category: "CREAM", price: 100, ...body } });
	if (res.status !== 201) throw new Error(`flavor create: ${res.status} ${JSON.stringify(res.body)}`);
	return res.body.id as string;
}

/** Creates a factory through the API as an executive; returns its id. */
export async function createFactory(
	app: TestApp,
	execToken: string,
	managerId: string,
	body: Record<string, unknown> = {},
): Promise<string> {
	const res = await app.request("POST", "/api/v1/inventory/factories", {
		token: execToken,
		body: { name: `Factory ${Math.random().toString(36).slice(2, 8)}`, location: "Somewhere", managerId, budgetAllocated: 0, ...body },
	});
	if (res.status !== 201) throw new Error(`factory create: ${res.status} ${JSON.stringify(res.body)}`);
	return res.body.id as string;
}

/** Registers a batch through the API; returns its id. */
export async function registerBatch(app: TestApp, token: string, factoryId: string, body: Record<string, unknown>): Promise<string> {
	const res = await app.request("POST", `/api/v1/inventory/factories/${factoryId}/stock-items`, { token, body });
	if (res.status !== 201) throw new Error(`batch register: ${res.status} ${JSON.stringify(res.body)}`);
	return res.body.id as string;
}
