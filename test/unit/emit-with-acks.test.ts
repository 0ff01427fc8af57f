/** emitWithAcks (services/gateway/socket-relay.ts): one encoding for every recipient, and each ack reaches its own socket's callback. */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Server, type Socket } from "socket.io";
import { io as connect, type Socket as ClientSocket } from "socket.io-client";
import { emitWithAcks } from "../../services/gateway/socket-relay";

describe("emitWithAcks", () => {
	let server: http.Server;
	let io: Server;
	let clients: ClientSocket[] = [];
	const serverSockets: Socket[] = [];

	beforeAll(async () => {
		server = http.createServer();
		io = new Server(server, { serveClient: false });
		io.on("connection", (s) => serverSockets.push(s));
		await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
		const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
		clients = await Promise.all(
			[0, 1, 2].map(
				(i) =>
					new Promise<ClientSocket>((resolve, reject) => {
						const c = connect(url, { transports: ["websocket"], query: { n: String(i) } });
						c.once("connect", () => resolve(c));
						c.once("connect_error", reject);
					}),
			),
		);
		while (serverSockets.length < 3) await new Promise((r) => setTimeout(r, 10));
	});

	afterAll(async () => {
		for (const c of clients) c.close();
		await io.close();
	});

	it("encodes the packet once, delivers it to every socket, and calls each socket's own callback on its ack", async () => {
		const encoder = (io.of("/").adapter as unknown as { encoder: { encode(p: unknown): unknown[] } }).encoder;
		const encode = jest.spyOn(encoder, "encode");
		const acked: string[] = [];
		const received = clients.map(
			(c, i) =>
				new Promise<unknown>((resolve) =>
					c.once("PING_ALL", (data: unknown, ack: () => void) => {
						// The third client never acks: its callback must not run, nor anyone else's on its behalf.
						if (i < 2) ack();
						resolve(data);
					}),
				),
		);
		const byN = (n: string) => serverSockets.find((s) => s.handshake.query.n === n)!;
		emitWithAcks(
			io.of("/"),
			["0", "1", "2"].map((n) => ({ socket: byN(n), onAck: () => acked.push(n) })),
			"PING_ALL",
			{ text: "héllo", n: 1 },
		);
		expect(await Promise.all(received)).toEqual([0, 1, 2].map(() => ({ text: "héllo", n: 1 })));
		const deadline = Date.now() + 5000;
		while (acked.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
		await new Promise((r) => setTimeout(r, 100));
		expect(acked.sort()).toEqual(["0", "1"]);
		expect(encode).toHaveBeenCalledTimes(1);
		encode.mockRestore();
	});

	it("keeps acks of two fan-outs apart (each emit has its own ack id)", async () => {
		const acked: string[] = [];
		for (const c of clients) c.on("TWICE", (tag: string, ack: () => void) => ack());
		for (const tag of ["a", "b"]) {
			emitWithAcks(
				io.of("/"),
				serverSockets.map((s) => ({ socket: s, onAck: () => acked.push(`${tag}${String(s.handshake.query.n)}`) })),
				"TWICE",
				tag,
			);
		}
		const deadline = Date.now() + 5000;
		while (acked.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
		expect(acked.sort()).toEqual(["a0", "a1", "a2", "b0", "b1", "b2"]);
		for (const c of clients) c.off("TWICE");
	});
});
