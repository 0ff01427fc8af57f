/**
 * The gateway's per-response HTTP features, made cheap per request:
 * - security headers: helmet runs once at start-up against a recording response;
 *   each request then only sets the recorded, constant headers;
 * - compression: only a response body of at least `threshold` bytes, sent in one
 *   `end()` (every JSON answer), to a client that accepts br, gzip or deflate.
 *   Nothing is wrapped for a client that accepts no encoding, and a small body
 *   goes out untouched. Streamed bodies (file downloads: images, already
 *   compressed) pass through as they are.
 */
import zlib from "node:zlib";
import type { IncomingMessage, ServerResponse } from "node:http";
import helmet, { type HelmetOptions } from "helmet";

type Use = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/** Switches for the benchmark's feature-cost table (bench/gateway.bench.ts); always on in the service. */
export const EDGE_FEATURES = { securityHeaders: true, compression: true, writeBatching: true };

/** helmet's headers, computed once: they depend only on the options. */
export function securityHeaders(options: Readonly<HelmetOptions>): Use {
	const headers: [string, string][] = [];
	const recorder = {
		setHeader(name: string, value: unknown) {
			headers.push([name, String(value)]);
		},
		removeHeader() {
			/* X-Powered-By: node:http never sets it */
		},
		getHeader() {
			return undefined;
		},
	};
	helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, () => undefined);
	return (_req, res, next) => {
		for (const [name, value] of headers) res.setHeader(name, value);
		next();
	};
}

const COMPRESSIBLE = /^(application\/(json|javascript|xml|[\w.+-]*\+json)|text\/|image\/svg\+xml)/i;

/** The client's preferred encoding among the ones we produce, or undefined. */
export function negotiateEncoding(header: string | string[] | undefined): "br" | "gzip" | "deflate" | undefined {
	if (typeof header !== "string" || header === "") return undefined;
	let best: { name: "br" | "gzip" | "deflate"; q: number } | undefined;
	const rank = { br: 3, gzip: 2, deflate: 1 } as const;
	for (const part of header.split(",")) {
		const [rawName, ...params] = part.trim().split(";");
		const name = rawName.trim().toLowerCase();
		if (name !== "br" && name !== "gzip" && name !== "deflate") continue;
		const qParam = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
		const q = qParam ? Number(qParam.slice(2)) : 1;
		if (!(q > 0)) continue;
		if (!best || q > best.q || (q === best.q && rank[name] > rank[best.name])) best = { name, q };
	}
	return best?.name;
}

const COMPRESS: Record<"br" | "gzip" | "deflate", (buf: Buffer, cb: (err: Error | null, out: Buffer) => void) => void> = {
	// Quality 4: most of brotli's gain at a fraction of its default (11) CPU.
	br: (buf, cb) =>
		zlib.brotliCompress(
			buf,
			{ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: buf.length } },
			cb,
		),
	gzip: (buf, cb) => zlib.gzip(buf, cb),
	deflate: (buf, cb) => zlib.deflate(buf, cb),
};

export function compressLarge(threshold: number): Use {
	return (req, res, next) => {
		const encoding = negotiateEncoding(req.headers["accept-encoding"]);
		if (!encoding || req.method === "HEAD") return next();
		const end = res.end;
		res.end = function compressedEnd(this: ServerResponse, chunk?: unknown, encodingOrCb?: unknown, cb?: unknown): ServerResponse {
			const charset = typeof encodingOrCb === "string" ? (encodingOrCb as BufferEncoding) : "utf8";
			// Sized before anything is copied: most answers are small and go out as they are.
			const size = typeof chunk === "string" ? Buffer.byteLength(chunk, charset) : Buffer.isBuffer(chunk) ? chunk.length : -1;
			const eligible =
				size >= threshold &&
				!res.headersSent &&
				res.statusCode !== 204 &&
				res.statusCode !== 304 &&
				!res.getHeader("Content-Encoding") &&
				COMPRESSIBLE.test(String(res.getHeader("Content-Type") ?? ""));
			res.end = end;
			if (!eligible) return end.apply(res, [chunk, encodingOrCb, cb] as unknown as Parameters<typeof end>);
			const body = typeof chunk === "string" ? Buffer.from(chunk, charset) : (chunk as Buffer);
			const done = (typeof encodingOrCb === "function" ? encodingOrCb : cb) as (() => void) | undefined;
			const send = end as (this: ServerResponse, chunk: Buffer, cb?: () => void) => ServerResponse;
			COMPRESS[encoding](body, (err, out) => {
				if (err) return void send.call(res, body, done);
				res.setHeader("Content-Encoding", encoding);
				res.setHeader("Vary", "Accept-Encoding");
				res.setHeader("Content-Length", out.length);
				send.call(res, out, done);
			});
			return res;
		} as ServerResponse["end"];
		next();
	};
}
