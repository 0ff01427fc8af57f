/**
 * services/gateway/write-batching.ts on a real node:http server and real sockets: the answers of one event-loop turn
 * stay in their sockets until the turn ends, then all go out; nothing is lost, reordered or left behind.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import net, { type AddressInfo } from "node:net";
import { batchWritesPerTurn } from "../../services/gateway/write-batching";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function serve(handler: Handler, batching = true): Promise<{ server: http.Server; port: number }> {
	const server = http.createServer((req, res) => handler(req, res));
	if (batching) batchWritesPerTurn(server);
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	return { server, port: (server.address() as AddressInfo).port };
}

/** Raw HTTP/1.1 over one connection: what arrives until the server closes it or `until` matches. */
function raw(port: number, request: string, until?: RegExp): Promise<string> {
	return new Promise((resolve, reject) => {
		const socket = net.connect(port, "127.0.0.1", () => socket.write(request));
		let text = "";
		socket.setEncoding("latin1");
		socket.on("data", (chunk: string) => {
			text += chunk;
			if (until?.test(text)) socket.end();
		});
		socket.on("close", () => resolve(text));
		socket.on("error", reject);
	});
}

const close = (server: http.Server) => new Promise<void>((resolve) => server.close(() => resolve()));

describe("write batching per event-loop turn", () => {
	it("keeps an answer in its socket until the turn ends, then sends it (without batching it is sent at once)", async () => {
		for (const batching of [true, false]) {
			const seen: { afterEnd: number; afterTurn: number }[] = [];
			const { server, port } = await serve((_req, res) => {
				res.setHeader("content-type", "text/plain");
				res.end("hello");
				const socket = res.socket!;
				const afterEnd = socket.writableLength;
				setImmediate(() => seen.push({ afterEnd, afterTurn: socket.writableLength }));
			}, batching);
			try {
				const text = await raw(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
				expect(text).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*\r\n\r\nhello$/);
				expect(seen).toHaveLength(1);
				if (batching) expect(seen[0].afterEnd).toBeGreaterThan(0);
				else expect(seen[0].afterEnd).toBe(0);
				expect(seen[0].afterTurn).toBe(0);
			} finally {
				await close(server);
			}
		}
	});

	it("sends every answer of a turn, on many connections, each complete", async () => {
		const { server, port } = await serve((req, res) => res.end(`answer to ${req.url}`));
		try {
			const texts = await Promise.all(
				Array.from({ length: 20 }, (_, i) => raw(port, `GET /${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)),
			);
			texts.forEach((text, i) => expect(text).toMatch(new RegExp(`\\r\\n\\r\\nanswer to /${i}$`)));
		} finally {
			await close(server);
		}
	});

	it("answers pipelined requests on one keep-alive connection in order", async () => {
		const { server, port } = await serve((req, res) => res.end(`<${req.url}>`));
		try {
			const requests = Array.from({ length: 5 }, (_, i) => `GET /${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join("");
			const text = await raw(port, requests, /<\/4>/);
			expect([...text.matchAll(/<\/(\d)>/g)].map((m) => m[1])).toEqual(["0", "1", "2", "3", "4"]);
		} finally {
			await close(server);
		}
	});

	it("sends answers ended in a later phase (a timer, an immediate) and streamed ones whole", async () => {
		const { server, port } = await serve((req, res) => {
			if (req.url === "/timer") setTimeout(() => res.end("from a timer"), 5);
			else if (req.url === "/immediate") setImmediate(() => res.end("from an immediate"));
			else {
				res.write("part one, ");
				setTimeout(() => {
					res.write("part two, ");
					res.end("the end");
				}, 5);
			}
		});
		try {
			const ask = (path: string) => raw(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
			expect(await ask("/timer")).toMatch(/\r\n\r\nfrom a timer$/);
			expect(await ask("/immediate")).toMatch(/\r\n\r\nfrom an immediate$/);
			expect(await ask("/stream")).toMatch(/part one, [\s\S]*part two, [\s\S]*the end/);
		} finally {
			await close(server);
		}
	});

	it("sends a held answer before its connection is ended or destroyed in the same turn, as node would", async () => {
		const { server, port } = await serve((req, res) => {
			res.end(`answer to ${req.url}`);
			if (req.url === "/destroy") res.socket!.destroy();
			if (req.url === "/end") res.socket!.end();
		});
		try {
			expect(await raw(port, "GET /destroy HTTP/1.1\r\nHost: x\r\n\r\n")).toMatch(/\r\n\r\nanswer to \/destroy$/);
			expect(await raw(port, "GET /end HTTP/1.1\r\nHost: x\r\n\r\n")).toMatch(/\r\n\r\nanswer to \/end$/);
			// The server still answers others afterwards.
			expect(await raw(port, "GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).toMatch(/answer to \/next$/);
		} finally {
			await close(server);
		}
	});

	it("leaves a connection upgraded to a WebSocket to node: its frames go out at once", async () => {
		const { server, port } = await serve((_req, res) => res.end("not upgraded"));
		const buffered: number[] = [];
		server.on("upgrade", (_req: IncomingMessage, socket: net.Socket) => {
			socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
			// ws writes a frame's header and payload this way.
			socket.cork();
			socket.write("frame header|");
			socket.write("frame payload");
			socket.uncork();
			buffered.push(socket.writableLength);
			socket.end();
		});
		try {
			const text = await raw(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
			expect(text).toMatch(/^HTTP\/1\.1 101 [\s\S]*\r\n\r\nframe header\|frame payload$/);
			expect(buffered).toEqual([0]);
		} finally {
			await close(server);
		}
	});
});
