/** The tests' HTTP client: JSON in, parsed JSON (or text) out, status and headers kept. */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test responses are asserted field by field
export interface HttpResult<T = any> {
	status: number;
	body: T;
	headers: Headers;
}

export interface RequestOptions {
	token?: string;
	body?: unknown;
	headers?: Record<string, string>;
	timeoutMs?: number;
}

export async function httpRequest<T>(baseUrl: string, method: string, path: string, opts: RequestOptions = {}): Promise<HttpResult<T>> {
	const headers: Record<string, string> = { ...opts.headers };
	if (opts.token) headers.authorization = `Bearer ${opts.token}`;
	let body: string | undefined;
	if (opts.body !== undefined) {
		headers["content-type"] ??= "application/json";
		body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
	}
	const res = await fetch(baseUrl + path, {
		method,
		headers,
		body,
		signal: opts.timeoutMs ? AbortSignal.timeout(opts.timeoutMs) : undefined,
	});
	const text = await res.text();
	let parsed: unknown = text;
	try {
		parsed = text ? JSON.parse(text) : null;
	} catch {
		/* not JSON */
	}
	return { status: res.status, body: parsed as T, headers: res.headers };
}
