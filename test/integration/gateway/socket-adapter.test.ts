/**
 * The socket.io Redis adapter that skips its publish while its node is alone
 * (services/gateway/socket-adapter.ts), against the real Redis: a lone server
 * publishes nothing, and a server that starts later receives the first server's
 * very next broadcast (its hello, not the once-a-second peer count, turns
 * publishing back on).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import Redis from "ioredis";
import { Server } from "socket.io";
import { io as connect, type Socket } from "socket.io-client";
import { createSoloAwareAdapter, helloFirst } from "../../../services/gateway/socket-adapter";

const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

interface Node {
	io: Server;
	pub: Redis;
	url: string;
	published: () => number;
	stop(): Promise<void>;
}

async function startNode(key: string): Promise<Node> {
	const pub = new Redis(REDIS_URL);
	const sub = pub.duplicate();
	let published = 0;
	const publish = pub.publish.bind(pub);
	pub.publish = ((channel: string, message: string | Buffer) => {
		if (!channel.endsWith("-hello")) published++;
		return publish(channel, message);
	}) as typeof pub.publish;
	const server = http.createServer();
	const io = new Server(server, { adapter: createSoloAwareAdapter(pub, sub, key) });
	io.use(helloFirst(io));
	io.on("connection", (s) => void s.join("room"));
	await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
	return {
		io,
		pub,
		url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
		published: () => published,
		async stop() {
			await io.close();
			await Promise.all([pub, sub].map((c) => (c.status === "ready" ? c.quit() : c.disconnect())));
		},
	};
}

function client(url: string): Promise<Socket> {
	return new Promise((resolve, reject) => {
		const s = connect(url, { transports: ["websocket"], reconnection: false, forceNew: true });
		s.once("connect", () => resolve(s));
		s.once("connect_error", reject);
	});
}

describe("solo-aware socket.io Redis adapter", () => {
	const key = `test-socket.io:${randomBytes(4).toString("hex")}`;
	const nodes: Node[] = [];
	const clients: Socket[] = [];
	afterAll(async () => {
		for (const c of clients) c.close();
		for (const n of nodes) await n.stop();
	});

	it("publishes nothing alone, and reaches a node that started a moment ago", async () => {
		const a = await startNode(key);
		nodes.push(a);
		const onA = await client(a.url);
		clients.push(onA);
		// Past the first peer counts: A knows it is alone.
		await new Promise((r) => setTimeout(r, 1500));
		const got: string[] = [];
		onA.on("hi", (m: string) => got.push(`a:${m}`));
		a.io.to("room").emit("hi", "1");
		a.io.serverSideEmit("no-one-to-tell", "x");
		await new Promise((r) => setTimeout(r, 100));
		expect(got).toEqual(["a:1"]);
		expect(a.published()).toBe(0);

		// B starts; its first socket is in the room long before A counts peers again.
		const b = await startNode(key);
		nodes.push(b);
		const onB = await client(b.url);
		clients.push(onB);
		await (b.io.of("/").adapter as unknown as { announced: Promise<void> }).announced;
		const received = new Promise<string>((resolve) => onB.once("hi", resolve));
		const told = new Promise<string>((resolve) => b.io.once("peer-event", resolve));
		a.io.to("room").emit("hi", "2");
		a.io.serverSideEmit("peer-event", "3");
		expect(a.published()).toBe(2);
		await expect(received).resolves.toBe("2");
		await expect(told).resolves.toBe("3");
	});

	it("a broadcast after its Redis connection closed is dropped, not an unhandled rejection", async () => {
		const peerKey = `${key}-closing`;
		const [a, b] = [await startNode(peerKey), await startNode(peerKey)];
		nodes.push(a, b);
		await (b.io.of("/").adapter as unknown as { announced: Promise<void> }).announced;
		// A has read B's hello (it arrives on A's own subscriber connection, after B's PUBLISH was answered).
		const aAdapter = a.io.of("/").adapter as unknown as { alone: boolean };
		for (let i = 0; aAdapter.alone && i < 100; i++) await new Promise((r) => setTimeout(r, 20));
		const unhandled: unknown[] = [];
		const onUnhandled = (reason: unknown) => void unhandled.push(reason);
		process.on("unhandledRejection", onUnhandled);
		try {
			a.pub.disconnect(); // the node is stopping: its sockets' last broadcasts come after
			a.io.to("room").emit("hi", "cut off");
			expect(a.published()).toBe(1);
			await new Promise((r) => setTimeout(r, 200));
			expect(unhandled).toEqual([]);
		} finally {
			process.off("unhandledRejection", onUnhandled);
		}
	});
});
