/**
 * nginx/nginx.conf under real nginx, in front of the real gateway: the file compose mounts is
 * what runs here, with only the upstream address, the listen port and the log/pid paths
 * rewritten for a test directory. Needs the `nginx` binary (`apt-get install nginx`; .ci/run
 * installs it): without it this suite fails and says so, since the config would go unchecked.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { startTestApp, type TestApp } from "../helpers/app";
import { freePort, waitUntil } from "../helpers/cluster";
import { connectSocket } from "../helpers/sockets";

const CONF = path.join(__dirname, "..", "..", "nginx", "nginx.conf");
const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"].find((p) => existsSync(p));

/** The shipped config, pointed at this test's gateway and directory. Every rewrite must hit. */
export function renderForTest(conf: string, upstream: string, port: number, dir: string): string {
	const rewrites: [RegExp, string][] = [
		[/^pid .*;$/m, `pid ${dir}/nginx.pid;`],
		[/server gateway:3000;/, `server ${upstream};`],
		[/listen 80 default_server;/, `listen 127.0.0.1:${port} default_server;`],
		[/^\s*listen \[::\]:80 default_server;\n/m, ""],
		[/access_log \/var\/log\/nginx\/access\.log main;/, `access_log ${dir}/access.log main;`],
		[/error_log {2}\/var\/log\/nginx\/error\.log warn;/, `error_log ${dir}/error.log warn;`],
	];
	return rewrites.reduce((text, [pattern, replacement]) => {
		if (!pattern.test(text)) throw new Error(`nginx.conf no longer contains ${pattern}; update this test's rewrite`);
		return text.replace(pattern, replacement);
	}, conf);
}

describe("nginx.conf in front of the gateway (real nginx)", () => {
	let app: TestApp;
	let nginx: ChildProcess | undefined;
	let dir: string;
	let edge: string;

	beforeAll(async () => {
		if (!NGINX) throw new Error("nginx is not installed: apt-get install nginx (nginx/nginx.conf is checked by the real server)");
		app = await startTestApp({ services: ["auth"], env: { TRUST_PROXY: "1", RATE_LIMIT_AUTH_PER_MIN: "3" } });
		dir = mkdtempSync(path.join(tmpdir(), "eislager-nginx-"));
		const port = await freePort();
		const conf = path.join(dir, "nginx.conf");
		writeFileSync(conf, renderForTest(readFileSync(CONF, "utf8"), new URL(app.baseUrl).host, port, dir));
		// `nginx -t` first: a syntax or directive error fails here with nginx's own message.
		execFileSync(NGINX, ["-t", "-q", "-p", dir, "-e", `${dir}/error.log`, "-c", conf], { stdio: "pipe" });
		nginx = spawn(NGINX, ["-p", dir, "-e", `${dir}/error.log`, "-c", conf, "-g", "daemon off;"], { stdio: "ignore" });
		edge = `http://127.0.0.1:${port}`;
		await waitUntil(
			"nginx to listen",
			async () => (await fetch(`${edge}/nginx-health`).catch(() => null))?.status === 200,
			15_000,
			100,
		);
	});

	afterAll(async () => {
		if (nginx && nginx.exitCode === null) {
			const exited = new Promise((r) => nginx!.once("exit", r));
			nginx.kill("SIGQUIT");
			await exited;
		}
		await app?.stop();
		if (dir) rmSync(dir, { recursive: true, force: true });
	});

	it("proxies the API and carries the client's request id through", async () => {
		const res = await fetch(`${edge}/health`, { headers: { "X-Request-Id": "edge-test-42" } });
		expect(res.status).toBe(200);
		expect(res.headers.get("x-request-id")).toBe("edge-test-42");
		expect(res.headers.get("server")).toBe("nginx"); // server_tokens off: no version
	});

	it("makes a request id when the client sends none", async () => {
		const res = await fetch(`${edge}/health`);
		expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f]{32}$/);
	});

	it("never exposes the operator paths", async () => {
		for (const p of ["/metrics", "/ready", "/metrics/x"]) {
			const res = await fetch(`${edge}${p}`);
			expect(res.status).toBe(404);
			expect(((await res.json()) as { error: { code: string } }).error.code).toBe("NOT_FOUND");
		}
	});

	it("answers an oversized body with the API's JSON error shape, not an HTML page", async () => {
		const res = await fetch(`${edge}/api/v1/auth/login`, {
			method: "POST",
			headers: { "content-type": "application/json", "X-Request-Id": "big-body" },
			body: JSON.stringify({ email: "x@example.com", password: "p".repeat(2 * 1024 * 1024) }),
		});
		expect(res.status).toBe(413);
		expect(await res.json()).toEqual({
			error: { code: "PAYLOAD_TOO_LARGE", message: "Request body too large" },
			requestId: "big-body",
		});
	});

	it("compresses large JSON and leaves small answers alone", async () => {
		const big = await fetch(`${edge}/api/v1/openapi.json`, { headers: { "accept-encoding": "gzip" } });
		expect(big.status).toBe(200);
		expect(big.headers.get("content-encoding")).toBe("gzip");
		// fetch decodes transparently; the document must still be whole JSON.
		expect(((await big.json()) as { openapi: string }).openapi).toMatch(/^3\./);
		// The bytes on the wire (fetch would decode them): gzip that inflates to the document.
		const raw = await new Promise<Buffer>((resolve, reject) => {
			http.get(`${edge}/api/v1/openapi.json`, { headers: { "accept-encoding": "gzip" } }, (res) => {
				const chunks: Buffer[] = [];
				res.on("data", (c: Buffer) => chunks.push(c)).on("end", () => resolve(Buffer.concat(chunks)));
			}).on("error", reject);
		});
		expect(JSON.parse(gunzipSync(raw).toString()).openapi).toMatch(/^3\./);
		const small = await fetch(`${edge}/health`, { headers: { "accept-encoding": "gzip" } });
		expect(small.headers.get("content-encoding")).toBeNull();
	});

	it("rate-limits by the hop nginx appends, so a forged X-Forwarded-For buys no fresh bucket", async () => {
		const statuses: number[] = [];
		for (let i = 0; i < 4; i++) {
			const res = await fetch(`${edge}/api/v1/auth/login`, {
				method: "POST",
				headers: { "content-type": "application/json", "X-Forwarded-For": `203.0.113.${i + 1}` },
				body: JSON.stringify({ email: "nobody@example.com", password: "wrong-password" }),
			});
			statuses.push(res.status);
		}
		expect(statuses.slice(0, 3).every((s) => s === 401)).toBe(true);
		expect(statuses[3]).toBe(429);
	});

	it("upgrades socket.io to a websocket through the proxy", async () => {
		const user = await app.createUser("PATRON");
		const socket = await connectSocket(edge, { token: user.token });
		try {
			expect(socket.socket.connected).toBe(true);
			expect(socket.socket.io.engine.transport.name).toBe("websocket");
		} finally {
			socket.close();
		}
	});
});
