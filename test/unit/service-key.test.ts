/**
 * Proof of origin between nodes (lib/service-key.ts, middlewares/service-key.middleware.ts):
 * the pure checks, then two brokers over the in-process Fake transporter.
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { ServiceBroker, type Context } from "moleculer";
import { ReplayGuard, signProof, verifyProof, WINDOW_MS, type ProofInput } from "../../lib/service-key";
import { ServiceKeyMiddleware } from "../../middlewares/service-key.middleware";
import { LogThrottle } from "../../lib/log-throttle";

const KEY = "k".repeat(40);
const OLD = "o".repeat(40);
const facts: ProofInput = { kind: "REQ", name: "auth.createUser", id: "ctx-1", target: "auth-1" };

describe("verifyProof", () => {
	test("accepts a fresh proof once, then refuses the replay", () => {
		const guard = new ReplayGuard();
		const proof = signProof(KEY, facts);
		expect(verifyProof({ current: KEY }, proof, [facts], guard)).toBeUndefined();
		expect(verifyProof({ current: KEY }, proof, [facts], guard)).toBe("replayed");
	});

	test("refuses a missing, malformed, expired or foreign proof, and one made for another action, context or node", () => {
		const guard = new ReplayGuard();
		const now = Date.now();
		expect(verifyProof({ current: KEY }, undefined, [facts], guard)).toBe("missing");
		expect(verifyProof({ current: KEY }, 42, [facts], guard)).toBe("malformed");
		expect(verifyProof({ current: KEY }, "v1.abc.def", [facts], guard)).toBe("malformed");
		expect(verifyProof({ current: KEY }, signProof(KEY, facts, now - WINDOW_MS - 1), [facts], guard, now)).toBe("expired");
		expect(verifyProof({ current: KEY }, signProof(KEY, facts, now + WINDOW_MS + 1), [facts], guard, now)).toBe("expired");
		expect(verifyProof({ current: KEY }, signProof("x".repeat(40), facts), [facts], guard)).toBe("bad-signature");
		for (const other of [{ name: "auth.deleteUser" }, { id: "ctx-2" }, { target: "auth-2" }, { kind: "EVENT" }]) {
			expect(verifyProof({ current: KEY }, signProof(KEY, { ...facts, ...other }), [facts], guard)).toBe("bad-signature");
		}
	});

	test("accepts the previous key during a rotation, and not after it", () => {
		expect(verifyProof({ current: KEY, previous: OLD }, signProof(OLD, facts), [facts], new ReplayGuard())).toBeUndefined();
		expect(verifyProof({ current: KEY }, signProof(OLD, facts), [facts], new ReplayGuard())).toBe("bad-signature");
	});

	test("the replay guard forgets MACs after their lifetime", () => {
		const guard = new ReplayGuard(1000);
		expect(guard.firstSeen("a", 0)).toBe(true);
		expect(guard.firstSeen("a", 999)).toBe(false);
		expect(guard.firstSeen("b", 1500)).toBe(true);
		expect(guard.size).toBe(1);
	});
});

test("LogThrottle: one line per key per interval, with the count held back", () => {
	const throttle = new LogThrottle(1000);
	const lines: string[] = [];
	for (const at of [0, 10, 20, 1500]) throttle.run("k", (n) => lines.push(`${at}:${n}`), at);
	throttle.run("other", (n) => lines.push(`other:${n}`), 30);
	expect(lines).toEqual(["0:0", "1500:2", "other:0"]);
});

describe("two brokers over the Fake transporter", () => {
	const brokers: ServiceBroker[] = [];
	const namespace = `sk-${randomBytes(4).toString("hex")}`;
	const received: string[] = [];
	let opened = 0;

	function node(id: string, keys: { current: string; previous?: string } | undefined): ServiceBroker {
		const broker = new ServiceBroker({
			namespace,
			nodeID: id,
			transporter: "Fake",
			logLevel: "fatal",
			middlewares: [ServiceKeyMiddleware(keys)],
		});
		brokers.push(broker);
		return broker;
	}

	let server: ServiceBroker;
	beforeAll(async () => {
		server = node("server", { current: KEY, previous: OLD });
		server.createService({
			name: "vault",
			actions: {
				open: (ctx: Context) => {
					opened++;
					return { meta: Object.keys(ctx.meta as object) };
				},
				// A streamed request: every chunk is its own packet with its own proof.
				upload: async (ctx: Context) => {
					let bytes = 0;
					for await (const chunk of ctx.params as Readable) bytes += (chunk as Buffer).length;
					return { bytes };
				},
			},
			events: {
				"vault.knock"(ctx: Context) {
					received.push(String((ctx.params as { who: string }).who));
				},
			},
		});
		await server.start();
	});
	afterAll(() => Promise.all(brokers.map((b) => b.stop())));

	async function client(id: string, keys: { current: string; previous?: string } | undefined): Promise<ServiceBroker> {
		const broker = node(id, keys);
		await broker.start();
		await broker.waitForServices("vault", 5000);
		return broker;
	}

	test("a node with the key (or the previous key) is served, and the proof never reaches the handler", async () => {
		const good = await client("good", { current: KEY });
		await expect(good.call("vault.open")).resolves.toEqual({ meta: [] });
		const rotating = await client("rotating", { current: OLD });
		await expect(rotating.call("vault.open")).resolves.toEqual({ meta: [] });
	});

	test("a streamed request passes chunk by chunk", async () => {
		const good = await client("good-stream", { current: KEY });
		const chunks = Array.from({ length: 5 }, () => randomBytes(100_000));
		await expect(good.call("vault.upload", Readable.from(chunks))).resolves.toEqual({ bytes: 500_000 });
	});

	test("a node without the key or with another key is refused with 401 SERVICE_UNAUTHENTICATED", async () => {
		const keyless = await client("keyless", undefined);
		await expect(keyless.call("vault.open")).rejects.toMatchObject({ code: 401, type: "SERVICE_UNAUTHENTICATED" });
		const forger = await client("forger", { current: "f".repeat(40) });
		await expect(forger.call("vault.open")).rejects.toMatchObject({ code: 401, type: "SERVICE_UNAUTHENTICATED" });
	});

	test("an unsigned request posing as the receiving node itself is refused too", async () => {
		// Rewrites the sender field of every outgoing packet to the server's own node id.
		const spoofSender = {
			transporterSend:
				(next: (topic: string, data: Buffer, meta: unknown) => Promise<void>) => (topic: string, data: Buffer, meta: unknown) => {
					const packet = JSON.parse(data.toString()) as { sender: string };
					if (topic.includes(".REQ.")) packet.sender = "server";
					return next(topic, Buffer.from(JSON.stringify(packet)), meta);
				},
		};
		const spoofer = new ServiceBroker({
			namespace,
			nodeID: "spoofer",
			transporter: "Fake",
			logLevel: "fatal",
			middlewares: [spoofSender as never],
		});
		brokers.push(spoofer);
		await spoofer.start();
		await spoofer.waitForServices("vault", 5000);
		const before = opened;
		// The refusal goes to the claimed sender, so the spoofer only sees its own timeout.
		await expect(spoofer.call("vault.open", {}, { timeout: 500 })).rejects.toMatchObject({ type: "REQUEST_TIMEOUT" });
		expect(opened).toBe(before);
	});

	test("events: a signed one is handled, an unsigned one dropped", async () => {
		const good = await client("good-events", { current: KEY });
		const keyless = await client("keyless-events", undefined);
		await keyless.emit("vault.knock", { who: "keyless" });
		await good.emit("vault.knock", { who: "good" });
		// Delivered in order: once the signed one is in, the unsigned one was already seen and dropped.
		while (!received.includes("good")) await new Promise((r) => setTimeout(r, 10));
		expect(received).toEqual(["good"]);
	});
});
