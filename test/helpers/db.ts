/** A fresh PostgreSQL database per test file, dropped afterwards. */
import { randomBytes } from "node:crypto";
import { Client } from "pg";

export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export interface TestDatabase {
	url: string;
	name: string;
	drop(): Promise<void>;
}

async function admin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
	const client = new Client({ connectionString: ADMIN_DATABASE_URL });
	await client.connect();
	try {
		return await fn(client);
	} finally {
		await client.end();
	}
}

export async function createTestDatabase(): Promise<TestDatabase> {
	const name = `eislager_test_${randomBytes(6).toString("hex")}`;
	await admin((c) => c.query(`CREATE DATABASE ${name}`));
	const url = new URL(ADMIN_DATABASE_URL);
	url.pathname = `/${name}`;
	return {
		url: url.toString(),
		name,
		drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
	};
}
