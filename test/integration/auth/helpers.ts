/** Small helpers shared by the auth and gateway tests (not a test file itself). */
import http from "node:http";
import { Client } from "pg";
import { freePort } from "../../helpers/cluster";

export interface RawResponse {
	status: number;
	headers: http.IncomingHttpHeaders;
	body: Buffer;
}

/** A raw HTTP request (no automatic decompression, exact headers), for header-level assertions. */
export function rawRequest(
	baseUrl: string,
	method: string,
	path: string,
	headers: Record<string, string> = {},
	body?: string | Buffer,
): Promise<RawResponse> {
	const url = new URL(path, baseUrl);
	return new Promise((resolve, reject) => {
		const req = http.request(
			{ host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers, agent: false },
			(res) => {
				const chunks: Buffer[] = [];
				res.on("data", (c: Buffer) => chunks.push(c));
				res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
				res.on("error", reject);
			},
		);
		req.on("error", reject);
		if (body !== undefined) req.write(body);
		req.end();
	});
}

/** Runs one SQL query against a test database. */
export async function sqlQuery<T = Record<string, unknown>>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
	const client = new Client({ connectionString: url });
	await client.connect();
	try {
		return (await client.query(text, values)).rows as T[];
	} finally {
		await client.end();
	}
}

/** A TCP port nothing listens on (bound then released). */
export const closedPort = freePort;

/** Base64url JSON, for hand-made JWT parts. */
export function b64url(value: unknown): string {
	return Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
}

/** Decodes a JWT's payload without verifying it. */
export function jwtPayload(token: string): Record<string, unknown> {
	return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8")) as Record<string, unknown>;
}

/** A random documentation-range IP, so rate-limit keys of parallel runs never collide. */
export function randomIp(): string {
	const n = () => Math.floor(Math.random() * 250) + 1;
	return `10.${n()}.${n()}.${n()}`;
}
