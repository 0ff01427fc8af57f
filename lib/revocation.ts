/**
 * Token revocation at the edge, without a round trip per request.
 *
 * Redis (REDIS_URL) stays the source of truth: `eislager:revoked:<jti>` (logout),
 * `eislager:revoked-family:<fam>` (refresh-token reuse, logout) and
 * `eislager:valid-after:<user>` (role, password or status change), each with a
 * TTL of at most one access-token lifetime. Every process keeps a copy in
 * memory, filled from Redis when its subscription comes up and kept current by
 * a push: the writer sets the key, then publishes the change on one pub/sub
 * channel, and every subscribed process applies it within milliseconds.
 *
 * Fail closed: while the subscription is down (Redis gone, connection dropped)
 * the copy may be missing revocations, so every check answers 503 until the
 * subscription is back and the copy has been refilled from Redis.
 *
 * Without REDIS_URL (one process) the copy is the store: writes apply directly.
 *
 * The same channel carries "user changed" notices for per-node caches of user
 * data (auth's /me): listeners drop that user, or everything after a refill,
 * since notices may have been missed while the subscription was down.
 */
import type Redis from "ioredis";
import { redisClient } from "./redis";
import { serviceUnavailable, unauthorized } from "./errors";

export const REVOCATION_CHANNEL = "eislager:revocations";
const PREFIX = "eislager:";
type Kind = "revoked" | "revoked-family" | "valid-after";
const KINDS: readonly Kind[] = ["revoked", "revoked-family", "valid-after"];

/** One change as published: kind, id, value (valid-after instant in ms, else "1"), expiry in ms since the epoch. */
interface Change {
	k: Kind;
	id: string;
	v: string;
	x: number;
}

export interface RevocationClaims {
	sub: string;
	jti: string;
	fam?: string;
	ims: number;
}

/** A user-changed notice: `id`, or undefined for "anything may have changed". */
type UserListener = (userId: string | undefined) => void;
const userListeners = new Set<UserListener>();

/** Calls `listener` on every user-changed notice of any process; returns the unsubscribe. */
export function onUserChanged(listener: UserListener): () => void {
	userListeners.add(listener);
	return () => userListeners.delete(listener);
}

/** Tells every process (over Redis) that a user's data changed; false without Redis (the caller tells its own peers). */
export async function announceUserChanged(userId: string): Promise<boolean> {
	const client = revocations().client;
	if (!client) return false;
	await client.publish(REVOCATION_CHANNEL, JSON.stringify({ k: "user", id: userId })).catch(() => undefined);
	return true;
}

/** How long the first check waits for the subscription to come up, instead of failing at once. */
const STARTUP_WAIT_MS = 2000;

class RevocationCopy {
	private readonly entries: Record<Kind, Map<string, { v: string; x: number }>> = {
		revoked: new Map(),
		"revoked-family": new Map(),
		"valid-after": new Map(),
	};
	private state: "starting" | "ready" | "down" = "starting";
	private readyWaiters: (() => void)[] = [];
	private generation = 0;
	private sweepTimer: NodeJS.Timeout;

	constructor(
		readonly client: Redis | undefined,
		private readonly subscriber: Redis | undefined,
	) {
		if (!subscriber) this.setState("ready");
		else this.subscribe(subscriber);
		this.sweepTimer = setInterval(() => this.sweep(), 60_000);
		this.sweepTimer.unref();
	}

	apply(change: Change): void {
		if (change.x <= Date.now()) return;
		const map = this.entries[change.k];
		const current = map.get(change.id);
		// valid-after only moves forward (two changes racing: the later instant wins).
		if (change.k === "valid-after" && current && Number(current.v) > Number(change.v)) return;
		map.set(change.id, { v: change.v, x: change.x });
	}

	/** Throws 503 while the copy cannot be trusted, 401 when the token is revoked. Synchronous when ready. */
	async check(claims: RevocationClaims): Promise<void> {
		if (this.state !== "ready") await this.waitForReady();
		const now = Date.now();
		if (this.has("revoked", claims.jti, now) || (claims.fam !== undefined && this.has("revoked-family", claims.fam, now)))
			throw unauthorized("Token revoked", "TOKEN_REVOKED");
		const after = this.live("valid-after", claims.sub, now);
		if (after && claims.ims < Number(after.v)) throw unauthorized("Token revoked", "TOKEN_REVOKED");
	}

	get ready(): boolean {
		return this.state === "ready";
	}

	/** Resolves once the first fill has finished or failed (at most STARTUP_WAIT_MS): start-up waits for it, never fails on it. */
	async settled(): Promise<boolean> {
		await this.waitForReady().catch(() => undefined);
		return this.ready;
	}

	async close(): Promise<void> {
		clearInterval(this.sweepTimer);
		this.generation++;
		this.setState("down");
		const sub = this.subscriber;
		// quit() would wait for a connection that may never come: a connected client quits, any other stops reconnecting.
		if (sub?.status === "ready") await sub.quit().catch(() => sub.disconnect());
		else sub?.disconnect();
	}

	private has(kind: Kind, id: string, now: number): boolean {
		return this.live(kind, id, now) !== undefined;
	}

	private live(kind: Kind, id: string, now: number): { v: string; x: number } | undefined {
		const entry = this.entries[kind].get(id);
		if (entry && entry.x <= now) {
			this.entries[kind].delete(id);
			return undefined;
		}
		return entry;
	}

	private async waitForReady(): Promise<void> {
		if (this.state === "starting") {
			await new Promise<void>((resolve) => {
				const timer = setTimeout(resolve, STARTUP_WAIT_MS);
				this.readyWaiters.push(() => {
					clearTimeout(timer);
					resolve();
				});
			});
		}
		if (this.state !== "ready") throw serviceUnavailable("Token store unavailable", "TOKEN_STORE_UNAVAILABLE");
	}

	private setState(state: RevocationCopy["state"]): void {
		this.state = state;
		if (state !== "starting") for (const wake of this.readyWaiters.splice(0)) wake();
	}

	private subscribe(sub: Redis): void {
		sub.on("message", (channel: string, message: string) => {
			if (channel !== REVOCATION_CHANNEL) return;
			try {
				const change = JSON.parse(message) as Change | { k: "user"; id: string };
				if (change.k === "user") for (const listener of userListeners) listener(change.id);
				else this.apply(change);
			} catch {
				// A malformed message changes nothing.
			}
		});
		// Down at once when the connection goes; a pushed change may have been missed.
		const down = () => {
			this.generation++;
			if (this.state !== "starting") this.setState("down");
		};
		sub.on("close", down);
		sub.on("end", () => this.setState("down"));
		sub.on("error", () => {
			if (this.state === "starting") this.setState("down");
		});
		// (Re)connected: subscribe first, then refill, so no change falls between the two.
		sub.on("ready", () => void this.refill(sub));
		if (sub.status === "ready") void this.refill(sub);
	}

	private async refill(sub: Redis): Promise<void> {
		const generation = ++this.generation;
		try {
			await sub.subscribe(REVOCATION_CHANNEL);
			const client = this.client!;
			const fresh: Change[] = [];
			for (const kind of KINDS) {
				const keys: string[] = [];
				let cursor = "0";
				do {
					const [next, batch] = await client.scan(cursor, "MATCH", `${PREFIX}${kind}:*`, "COUNT", 1000);
					cursor = next;
					keys.push(...batch);
				} while (cursor !== "0");
				for (let i = 0; i < keys.length; i += 500) {
					const slice = keys.slice(i, i + 500);
					const pipeline = client.pipeline();
					for (const key of slice) pipeline.get(key).pttl(key);
					const replies = (await pipeline.exec()) ?? [];
					const now = Date.now();
					slice.forEach((key, j) => {
						const value = replies[2 * j]?.[1] as string | null;
						const ttl = replies[2 * j + 1]?.[1] as number;
						if (value !== null && ttl > 0)
							fresh.push({ k: kind, id: key.slice(PREFIX.length + kind.length + 1), v: value, x: now + ttl });
					});
				}
			}
			if (generation !== this.generation) return; // dropped again meanwhile: the next "ready" refills
			for (const change of fresh) this.apply(change);
			this.setState("ready");
			for (const listener of userListeners) listener(undefined);
		} catch {
			if (generation === this.generation) this.setState("down");
		}
	}

	private sweep(): void {
		const now = Date.now();
		for (const kind of KINDS) for (const [id, entry] of this.entries[kind]) if (entry.x <= now) this.entries[kind].delete(id);
	}
}

let copy: RevocationCopy | undefined;

/** The process's copy, rebuilt when the Redis client changes (tests stop and start apps in one process). */
export function revocations(): RevocationCopy {
	const client = redisClient();
	if (!copy || copy.client !== client) {
		void copy?.close();
		// Named, so an operator (or a test) can find this process's subscription in CLIENT LIST.
		copy = new RevocationCopy(
			client,
			client?.duplicate({
				enableOfflineQueue: true,
				maxRetriesPerRequest: null,
				connectionName: `eislager-revocations-${process.pid}`,
			}),
		);
	}
	return copy;
}

/**
 * Records a revocation: in Redis (with its TTL) and pushed to every process, or
 * directly in this process's copy without Redis. A Redis failure is a 503.
 */
export async function recordRevocation(kind: Kind, id: string, value: string, ttlSec: number): Promise<void> {
	const ttl = Math.max(1, Math.ceil(ttlSec));
	const change: Change = { k: kind, id, v: value, x: Date.now() + ttl * 1000 };
	const state = revocations();
	if (state.client) {
		const replies = await state.client
			.multi()
			.set(`${PREFIX}${kind}:${id}`, value, "EX", ttl)
			.publish(REVOCATION_CHANNEL, JSON.stringify(change))
			.exec()
			.catch(() => null);
		if (!replies || replies.some(([err]) => err)) throw serviceUnavailable("Token store unavailable", "TOKEN_STORE_UNAVAILABLE");
	}
	// This process at once (its own subscription delivers the same change again, harmlessly).
	state.apply(change);
}

export async function closeRevocations(): Promise<void> {
	const current = copy;
	copy = undefined;
	await current?.close();
}
