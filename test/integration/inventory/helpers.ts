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
