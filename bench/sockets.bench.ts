/**
 * Chat fan-out over sockets, as a ratio against a bare socket.io relay measured
 * in the same run, with the same clients and the same message pattern.
 *
 *   npm run bench:sockets   (BENCH_SOCKETS=1000 BENCH_MEMBERS=50 BENCH_MESSAGES=400 BENCH_WARMUP=300 BENCH_CONCURRENCY=8 BENCH_ACK=1,
 *                            BENCH_SECONDS caps each phase; REDIS_URL as in production, default redis://127.0.0.1:6379)
 *
 * The clients run in a child process (like autocannon for the HTTP benches), so the
 * server's CPU and event loop are its own, as in production; latency is stamped and
 * read in the clients' process.
 * 1. Starts the backend in-process (gateway + moleculer-io, auth, communications) on
 *    a fresh database; creates BENCH_MEMBERS users and one GROUP conversation of all
 *    of them; the clients' process opens BENCH_SOCKETS socket.io clients on loopback
 *    (the members, each joined to the conversation room, plus idle authenticated sockets).
 * 2. BENCH_WARMUP messages, not measured (JIT warm-up), then the server settles (the
 *    connections' own work, presence and redelivery, done), then
 *    BENCH_CONCURRENCY senders in a closed loop: a random member sends a message with
 *    the socket `call` communications.chat.sendMessage (JWT re-check, authorization,
 *    PostgreSQL transaction with outbox and audit, push to the rooms); the message
 *    counts as done when every other member has received NEW_MESSAGE. Members ack
 *    NEW_MESSAGE as the documented client does, so the delivery receipts are part of
 *    the cost (BENCH_ACK=0: clients that never ack, as before the receipts existed).
 * 3. The same clients, pattern and payload against a bare socket.io server that
 *    relays `send` to the room (no auth, no storage). With acks on it asks every
 *    recipient for one, as the backend does, and counts them (socket.io's own
 *    broadcast with acks): both sides then carry the same 49 acks per message, so the
 *    ratio measures the backend, not the protocol the clients speak.
 * 4. The same bare relay, but each message is first stored by one committed INSERT
 *    (pg, autocommit): the floor of a relay that stores what it relays.
 * Prints fan-out latency p50/p99 (send → each recipient), messages/s, the server's CPU
 * ms per message and the clients' of each phase, their ratio, and the target: backend
 * p99 ≤ 2 × bare p99 + the p99 of one committed INSERT. Bounded: every phase has a deadline.
 */
import http from "node:http";
import { fork, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import type { AddressInfo } from "node:net";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { randomUUID } from "node:crypto";
import { Server } from "socket.io";
import { io as connect, type Socket } from "socket.io-client";
import { startTestApp } from "../test/helpers/app";
import { Pool } from "pg";
import { signAccessToken } from "../lib/tokens";
import { createTestDatabase } from "../test/helpers/db";
import { benchSeconds, percentile } from "./stats";

const SOCKETS = Number(process.env.BENCH_SOCKETS ?? 1000);
const MEMBERS = Math.min(100, Number(process.env.BENCH_MEMBERS ?? 50));
const ACK = process.env.BENCH_ACK !== "0";
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 400);
/** Messages sent before each measured phase, not measured (JIT warm-up, as the other benches do). */
const WARMUP = Number(process.env.BENCH_WARMUP ?? 300);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const MESSAGE_TIMEOUT_MS = 10_000;
// BENCH_SECONDS bounds each phase (CI's smoke run); otherwise a phase ends after BENCH_MESSAGES.
const PHASE_DEADLINE_MS = benchSeconds(120) * 1000;
const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379";

/** What the clients' process measured in one phase. */
interface ClientStats {
	messages: number;
	lost: number;
	seconds: number;
	latencies: number[];
	clientCpuMsPerMessage: number;
}

interface Stats extends ClientStats {
	name: string;
	/** The server process's CPU over the messaging window (the backend with its database client; or the bare relay). */
	serverCpuMsPerMessage: number;
	/** How late the server's event loop ran its timers over the messaging window (queueing behind other work). */
	serverLoopDelayMs: { p50: number; p99: number; max: number };
}

/** One phase as the clients' process runs it: connect, join, wait for "go", send, report, close on "close". */
interface PhaseOrder {
	url: string;
	/** One per socket: the first BENCH_MEMBERS are the members; undefined connects without a token (bare). */
	tokens: (string | undefined)[];
	conversationId: string;
	/** "call": the backend's socket `call` of sendMessage; "send": the bare relay's `send`. */
	via: "call" | "send";
}

type ToClients = { kind: "phase"; order: PhaseOrder } | { kind: "go" } | { kind: "close" };
type FromClients =
	| { kind: "connected"; sockets: number; seconds: number }
	| { kind: "ready" }
	| { kind: "done"; stats: ClientStats }
	| { kind: "closed" };

/** Opens sockets `batch` at a time; resolves when all are connected. */
async function openSockets(url: string, tokens: (string | undefined)[], batch = 100): Promise<Socket[]> {
	const sockets: Socket[] = [];
	for (let i = 0; i < tokens.length; i += batch) {
		const chunk = tokens.slice(i, i + batch).map(
			(token) =>
				new Promise<Socket>((resolve, reject) => {
					const s = connect(url, {
						transports: ["websocket"],
						reconnection: false,
						forceNew: true,
						auth: token ? { token } : {},
					});
					s.once("connect", () => resolve(s));
					s.once("connect_error", (err) => reject(err));
				}),
		);
		sockets.push(...(await Promise.all(chunk)));
	}
	return sockets;
}

/**
 * Closed-loop senders: each picks a random member, stamps the message, sends it with
 * `send(socket, content)`, and waits until every other member received it.
 */
async function run(members: Socket[], send: (s: Socket, content: string) => Promise<void>, count: number): Promise<ClientStats> {
	const latencies: number[] = [];
	const pending = new Map<string, { left: number; done: () => void }>();
	for (const s of members) {
		s.on("NEW_MESSAGE", (m: { content: string }, ack?: () => void) => {
			// As a client app does (docs/communications.md): the ack makes it delivered (the bare relay asks for none).
			if (ACK) ack?.();
			const { id, t } = JSON.parse(m.content) as { id: string; t: number };
			latencies.push(performance.now() - t);
			const p = pending.get(id);
			if (p && --p.left === 0) p.done();
		});
	}
	let issued = 0;
	let lost = 0;
	const deadline = Date.now() + PHASE_DEADLINE_MS;
	const cpu = process.cpuUsage();
	const started = performance.now();
	const worker = async () => {
		while (issued < count && Date.now() < deadline) {
			issued++;
			const id = randomUUID();
			const sender = members[Math.floor(Math.random() * members.length)];
			const done = new Promise<boolean>((resolve) => {
				const timer = setTimeout(() => resolve(false), MESSAGE_TIMEOUT_MS);
				pending.set(id, { left: members.length - 1, done: () => (clearTimeout(timer), resolve(true)) });
			});
			await send(sender, JSON.stringify({ id, t: performance.now() }));
			if (!(await done)) lost++;
			pending.delete(id);
		}
	};
	await Promise.all(Array.from({ length: CONCURRENCY }, worker));
	const seconds = (performance.now() - started) / 1000;
	const used = process.cpuUsage(cpu);
	for (const s of members) s.off("NEW_MESSAGE");
	return {
		messages: issued,
		lost,
		seconds,
		latencies: latencies.sort((a, b) => a - b),
		clientCpuMsPerMessage: (used.user + used.system) / 1000 / Math.max(1, issued),
	};
}

/** The clients' process: runs each phase the parent orders (`--clients`). */
function clientsMain(): void {
	const send = (m: FromClients) => process.send!(m);
	let go: (() => void) | undefined;
	let close: (() => void) | undefined;
	process.on("message", (m: ToClients) => {
		if (m.kind === "go") go?.();
		else if (m.kind === "close") close?.();
		else void phase(m.order).catch((err: unknown) => (console.error(err), process.exit(1)));
	});
	async function phase(order: PhaseOrder): Promise<void> {
		const t0 = performance.now();
		const sockets = await openSockets(order.url, order.tokens);
		send({ kind: "connected", sockets: sockets.length, seconds: (performance.now() - t0) / 1000 });
		const members = sockets.slice(0, MEMBERS);
		const { conversationId } = order;
		await Promise.all(members.map((s) => s.timeout(10_000).emitWithAck("JOIN_CONVERSATION", { conversationId })));
		const sendVia = (s: Socket, content: string) =>
			order.via === "call"
				? new Promise<void>((resolve, reject) =>
						s.emit("call", "communications.chat.sendMessage", { id: conversationId, content }, (err: unknown) =>
							err ? reject(new Error(`sendMessage failed: ${JSON.stringify(err)}`)) : resolve(),
						),
					)
				: new Promise<void>((resolve) => s.emit("send", { conversationId, content }, () => resolve()));
		// Not measured: the same pattern first, so the JIT has compiled every path (the POS bench warms up likewise).
		await run(members, sendVia, WARMUP);
		const started = new Promise<void>((resolve) => (go = resolve));
		send({ kind: "ready" });
		await started;
		const stats = await run(members, sendVia, MESSAGES);
		const closing = new Promise<void>((resolve) => (close = resolve));
		send({ kind: "done", stats });
		await closing;
		for (const s of sockets) s.close();
		send({ kind: "closed" });
	}
}

/** The parent's handle on the clients' process. */
class Clients {
	private readonly child: ChildProcess = fork(__filename, ["--clients"], { stdio: "inherit" });
	private readonly inbox: FromClients[] = [];
	private waiter: { kind: FromClients["kind"]; resolve: (m: FromClients) => void; reject: (e: Error) => void } | undefined;

	constructor() {
		this.child.on("message", (m: FromClients) => {
			if (this.waiter?.kind === m.kind) {
				const w = this.waiter;
				this.waiter = undefined;
				w.resolve(m);
			} else this.inbox.push(m);
		});
		this.child.once("exit", (code) => this.waiter?.reject(new Error(`the clients' process exited (${code})`)));
	}

	send(m: ToClients): void {
		this.child.send(m);
	}

	next<K extends FromClients["kind"]>(kind: K): Promise<Extract<FromClients, { kind: K }>> {
		const queued = this.inbox.findIndex((m) => m.kind === kind);
		if (queued >= 0) return Promise.resolve(this.inbox.splice(queued, 1)[0] as Extract<FromClients, { kind: K }>);
		return new Promise((resolve, reject) => (this.waiter = { kind, resolve: resolve as (m: FromClients) => void, reject }));
	}

	/** One phase against the server at `order.url`; the server's CPU is this process's over the messaging window. */
	async measure(name: string, label: string, order: PhaseOrder, profile = false): Promise<Stats> {
		this.send({ kind: "phase", order });
		const connected = await this.next("connected");
		console.log(`${label.padEnd(8)} ${connected.sockets} sockets connected in ${connected.seconds.toFixed(1)} s`);
		await this.next("ready");
		const quiet = await settle();
		console.log(
			`${label.padEnd(8)} ${quiet ? "server quiet" : "server still busy"} after the connections' own work (presence, redelivery)`,
		);
		const profiler = profile ? await startProfile() : undefined;
		const loop = monitorEventLoopDelay({ resolution: 1 });
		loop.enable();
		const cpu = process.cpuUsage();
		this.send({ kind: "go" });
		const { stats } = await this.next("done");
		const used = process.cpuUsage(cpu);
		loop.disable();
		await profiler?.stop();
		this.send({ kind: "close" });
		await this.next("closed");
		return {
			...stats,
			name,
			serverCpuMsPerMessage: (used.user + used.system) / 1000 / Math.max(1, stats.messages),
			serverLoopDelayMs: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
		};
	}

	stop(): void {
		this.child.kill();
	}
}

function line(s: Stats): string {
	const rate = (s.messages - s.lost) / s.seconds;
	return (
		`${s.name.padEnd(44)} ${rate.toFixed(0).padStart(6)} msg/s  ${(rate * (MEMBERS - 1)).toFixed(0).padStart(7)} deliveries/s   fan-out p50 ${percentile(s.latencies, 50).toFixed(1).padStart(6)} ms   ` +
		`p99 ${percentile(s.latencies, 99).toFixed(1).padStart(7)} ms   CPU server ${s.serverCpuMsPerMessage.toFixed(2)}, clients ${s.clientCpuMsPerMessage.toFixed(2)} ms/msg   ` +
		`server loop delay p99 ${s.serverLoopDelayMs.p99.toFixed(1)} ms (max ${s.serverLoopDelayMs.max.toFixed(0)})   (${s.messages} msgs, ${s.lost} lost)`
	);
}

/**
 * Waits (at most 15 s) until this process, the server, uses under 5 % of a core over 250 ms: each connection's own work
 * (presence to contacts, redelivery of unacked messages: two queries per socket) must not queue in front of the measured
 * messages, which measure the fan-out of a steady state. False when it stayed busy.
 */
async function settle(): Promise<boolean> {
	const deadline = performance.now() + 15_000;
	while (performance.now() < deadline) {
		const cpu = process.cpuUsage();
		await new Promise((r) => setTimeout(r, 250));
		const used = process.cpuUsage(cpu);
		if ((used.user + used.system) / 1000 < 0.05 * 250) return true;
	}
	return false;
}

/** BENCH_PROFILE=<file.cpuprofile>: a CPU profile of the backend's messaging phase only (not the connection storm). */
async function startProfile(): Promise<{ stop(): Promise<void> } | undefined> {
	const file = process.env.BENCH_PROFILE;
	if (!file) return undefined;
	const session = new Session();
	session.connect();
	await session.post("Profiler.enable");
	await session.post("Profiler.start");
	return {
		async stop() {
			const { profile } = await session.post("Profiler.stop");
			writeFileSync(file, JSON.stringify(profile));
			session.disconnect();
		},
	};
}

async function backendPhase(clients: Clients): Promise<Stats> {
	const app = await startTestApp({
		services: ["auth", "communications"],
		env: {
			LOG_LEVEL: process.env.LOG_LEVEL ?? "error",
			RATE_LIMIT_PER_MIN: "100000000",
			REDIS_URL,
			NAMESPACE: `bench-${randomUUID().slice(0, 8)}`,
		},
	});
	try {
		const users = await Promise.all(
			Array.from({ length: MEMBERS }, (_, i) =>
				app.broker.call<{ id: string }, object>("auth.createUser", {
					email: `bench-${i}-${randomUUID().slice(0, 8)}@example.com`,
					password: `pw-${randomUUID()}`,
					name: `Member ${i}`,
					role: "PATRON",
				}),
			),
		);
		const tokens = users.map((u) => signAccessToken({ id: u.id, role: "PATRON" }).token);
		const conv = await app.request("POST", "/api/v1/communications/chat/conversations", {
			token: tokens[0],
			body: { type: "GROUP", name: "Bench", participantIds: users.slice(1).map((u) => u.id) },
		});
		if (conv.status !== 201) throw new Error(`creating the conversation answered ${conv.status}: ${JSON.stringify(conv.body)}`);
		const idle = Array.from(
			{ length: Math.max(0, SOCKETS - MEMBERS) },
			() => signAccessToken({ id: randomUUID(), role: "PATRON" }).token,
		);
		const order: PhaseOrder = { url: app.baseUrl, tokens: [...tokens, ...idle], conversationId: conv.body.id, via: "call" };
		return await clients.measure("EisLager gateway + communications", "backend:", order, true);
	} finally {
		await app.stop();
	}
}

/** Acks the bare relay received (with BENCH_ACK on): its stand-in for recording deliveries. */
let bareAcks = 0;

/** The bare relay; with `store`, each message is first stored by one committed INSERT (its latency goes to `insertMs`). */
async function barePhase(clients: Clients, store?: { pool: Pool; insertMs: number[] }): Promise<Stats> {
	const server = http.createServer();
	const io = new Server(server, { serveClient: false });
	io.on("connection", (socket) => {
		socket.on("JOIN_CONVERSATION", (p: { conversationId: string }, ack?: (e: unknown, r?: unknown) => void) => {
			void socket.join(`conversation:${p.conversationId}`);
			ack?.(null, { joined: p.conversationId });
		});
		socket.on("send", async (p: { conversationId: string; content: string }, ack?: (e: unknown) => void) => {
			const message = { id: randomUUID(), conversationId: p.conversationId, content: p.content, createdAt: new Date().toISOString() };
			if (store) {
				const t0 = performance.now();
				await store.pool.query("INSERT INTO messages (id, conversation_id, content) VALUES ($1, $2, $3)", [
					message.id,
					message.conversationId,
					message.content,
				]);
				store.insertMs.push(performance.now() - t0);
			}
			const room = socket.to(`conversation:${p.conversationId}`);
			if (ACK)
				room.timeout(MESSAGE_TIMEOUT_MS).emit(
					"NEW_MESSAGE",
					message,
					(_err: unknown, acks: unknown[]) => (bareAcks += acks.length),
				);
			else room.emit("NEW_MESSAGE", message);
			ack?.(null);
		});
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	try {
		const order: PhaseOrder = {
			url,
			tokens: Array.from({ length: SOCKETS }, () => undefined),
			conversationId: randomUUID(),
			via: "send",
		};
		return await clients.measure(store ? "bare relay + one committed INSERT" : "bare socket.io relay (same clients)", "bare:", order);
	} finally {
		await io.close();
	}
}

async function main(): Promise<void> {
	process.env.LOG_LEVEL ??= "error";
	console.log(
		`Socket fan-out: ${SOCKETS} sockets on 127.0.0.1, a ${MEMBERS}-member conversation, ${MESSAGES} messages, ${CONCURRENCY} concurrent senders, REDIS_URL ${REDIS_URL}\n`,
	);
	const clients = new Clients();
	const insertMs: number[] = [];
	let backend: Stats, bare: Stats, stored: Stats;
	try {
		backend = await backendPhase(clients);
		if (process.env.BENCH_PROFILE) console.log(`CPU profile of the backend's messaging phase: ${process.env.BENCH_PROFILE}`);
		bare = await barePhase(clients);
		const db = await createTestDatabase();
		const pool = new Pool({ connectionString: db.url, max: CONCURRENCY });
		try {
			await pool.query(
				"CREATE TABLE messages (id UUID PRIMARY KEY, conversation_id UUID NOT NULL, content TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now())",
			);
			stored = await barePhase(clients, { pool, insertMs });
		} finally {
			await pool.end();
			await db.drop();
		}
	} finally {
		clients.stop();
	}
	insertMs.sort((a, b) => a - b);
	console.log("");
	for (const s of [backend, bare, stored]) console.log(line(s));
	const rate = (s: Stats) => (s.messages - s.lost) / s.seconds;
	const p = (s: Stats, q: number) => percentile(s.latencies, q);
	console.log(
		`one committed INSERT (in the last phase): p50 ${percentile(insertMs, 50).toFixed(1)} ms, p99 ${percentile(insertMs, 99).toFixed(1)} ms`,
	);
	console.log(
		`\nratio backend / bare: throughput ${(rate(backend) / rate(bare)).toFixed(3)}x, p50 latency ${(p(backend, 50) / p(bare, 50)).toFixed(1)}x, ` +
			`p99 latency ${(p(backend, 99) / p(bare, 99)).toFixed(1)}x, server CPU ${(backend.serverCpuMsPerMessage / bare.serverCpuMsPerMessage).toFixed(1)}x`,
	);
	const target = 2 * p(bare, 99) + percentile(insertMs, 99);
	const protocol = ACK
		? `every recipient acks on both sides (the bare relays counted ${bareAcks} acks)`
		: "no acks on either side (BENCH_ACK=0)";
	console.log(
		`target p99 ≤ 2 × bare p99 + one INSERT p99 = ${target.toFixed(1)} ms: backend p99 ${p(backend, 99).toFixed(1)} ms = ${(p(backend, 99) / target).toFixed(2)} of the target; ${protocol}`,
	);
	if (backend.lost || bare.lost || stored.lost) process.exitCode = 1;
}

if (process.argv.includes("--clients")) clientsMain();
else
	main().then(
		() => process.exit(process.exitCode ?? 0),
		(err: unknown) => {
			console.error(err);
			process.exit(1);
		},
	);
