/**
 * The socket.io Redis adapter, minus its publish while this gateway node is the
 * only one. Otherwise every broadcast is encoded, published, then read back and
 * decoded by this same node just to be ignored: on one node that cost more CPU than
 * writing the message to its 49 sockets (docs/performance.md, "Sockets").
 *
 * - Server-side events (`io.serverSideEmit`, which only other nodes receive) are not
 *   published either while alone.
 * - Peers are counted with the adapter's own `PUBSUB NUMSUB` once a second.
 * - A node that starts says hello on `<key>-hello` as soon as its subscriptions are
 *   in place, and accepts its first socket only after that (`helloFirst`): Redis
 *   hands the hello to the other nodes before it answers the PUBLISH, so they
 *   publish again before any socket of the new node can miss a broadcast.
 * - Any doubt (not counted yet, Redis error, a hello) means: publish.
 */
import { RedisAdapter } from "@socket.io/redis-adapter";
import type Redis from "ioredis";

const PEER_CHECK_MS = 1000;

type Nsp = ConstructorParameters<typeof RedisAdapter>[0];
type BroadcastOpts = Parameters<RedisAdapter["broadcast"]>[1];

const HELLO_WAIT_MS = 2000;

class SoloAwareRedisAdapter extends RedisAdapter {
	/** True only while the last count saw no other node. */
	private alone = false;
	/** Bumped by each hello: a peer count that started before it is stale. */
	private hellos = 0;
	private peerTimer: NodeJS.Timeout | undefined;
	private readonly onHello: (channel: string) => void;
	/** Settles once this node's hello was published (or gave up on Redis). */
	readonly announced: Promise<void>;

	constructor(
		nsp: Nsp,
		pub: Redis,
		sub: Redis,
		private readonly hello: string,
	) {
		super(nsp, pub, sub, { key: hello.slice(0, -"-hello".length) });
		this.onHello = (channel) => {
			if (channel !== hello) return;
			this.hellos++;
			this.alone = false;
		};
		sub.on("message", this.onHello);
		// Replies come in order: once the subscribe resolves, the adapter's own subscriptions are in place too.
		const hi = sub.subscribe(hello).then(() => pub.publish(hello, String(this.uid)));
		this.announced = Promise.race([hi, new Promise((r) => setTimeout(r, HELLO_WAIT_MS).unref())]).then(
			() => undefined,
			() => undefined,
		);
		this.peerTimer = setInterval(() => void this.countPeers(), PEER_CHECK_MS);
		this.peerTimer.unref();
		// The first count once our hello subscription is in place: a node that subscribed before it is counted, and one
		// that subscribes after it reaches us with its hello. Counted earlier, a node starting at the same moment could
		// be missed both ways, and we would keep our broadcasts to ourselves until the next count.
		void hi.then(
			() => this.countPeers(),
			() => undefined,
		);
	}

	private async countPeers(): Promise<void> {
		const hellos = this.hellos;
		try {
			const count = await this.serverCount();
			if (hellos === this.hellos) this.alone = count <= 1;
		} catch {
			this.alone = false;
		}
	}

	override broadcast(packet: unknown, opts: BroadcastOpts): void {
		super.broadcast(packet, this.alone ? { ...opts, flags: { ...opts.flags, local: true } } : opts);
	}

	/** Server-side events are for the other nodes only: alone, there is no one to tell (one with an ack still goes out: it expects answers). */
	override serverSideEmit(packet: unknown[]): void {
		if (this.alone && typeof packet[packet.length - 1] !== "function") return;
		super.serverSideEmit(packet);
	}

	override close(): ReturnType<RedisAdapter["close"]> {
		clearInterval(this.peerTimer);
		const sub = this.subClient as Redis;
		sub.off("message", this.onHello);
		if (sub.status === "ready") void sub.unsubscribe(this.hello).catch(() => undefined);
		return super.close();
	}
}

const guarded = new WeakSet<Redis>();

/**
 * The upstream adapter publishes without handling the reply, so a PUBLISH on a closed connection (a node
 * stopping: its sockets disconnect and broadcast after the Redis clients quit) was an unhandled rejection,
 * which failed a test suite. It is dropped like a publish nobody hears; a caller that awaits the reply
 * still gets the error.
 */
function toleratePublishErrors(pub: Redis): void {
	if (guarded.has(pub)) return;
	guarded.add(pub);
	const publish = pub.publish.bind(pub) as (...args: unknown[]) => Promise<number>;
	pub.publish = ((...args: unknown[]) => {
		const reply = publish(...args);
		reply.catch(() => undefined);
		return reply;
	}) as Redis["publish"];
}

/** `io.adapter(...)` argument: the Redis adapter under `key`, publishing only when another node listens. */
export function createSoloAwareAdapter(pub: Redis, sub: Redis, key: string): (nsp: Nsp) => RedisAdapter {
	toleratePublishErrors(pub);
	// socket.io calls it with `new`: a function, not an arrow.
	return function (nsp: Nsp) {
		return new SoloAwareRedisAdapter(nsp, pub, sub, `${key}-hello`);
	};
}

/** `io.use(...)`: a socket is accepted only after this node's hello went out (see above). */
export function helloFirst(io: { of(name: string): { adapter: unknown } }): (socket: unknown, next: (err?: Error) => void) => void {
	return (_socket, next) => {
		const adapter = io.of("/").adapter;
		if (adapter instanceof SoloAwareRedisAdapter) void adapter.announced.then(() => next());
		else next();
	};
}
