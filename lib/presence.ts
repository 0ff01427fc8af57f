/**
 * Presence: which users have at least one live socket. Kept in Redis when
 * REDIS_URL is set (every gateway node agrees), in this process's memory
 * otherwise (the one-process default).
 *
 * Each user has a sorted set of "connection ids" scored by last-seen time; a
 * gateway node refreshes its sockets every `PRESENCE_HEARTBEAT_MS`, so the
 * sockets of a node that died stop counting after `PRESENCE_TTL_MS`. A user is
 * online while any of their connections is live (several tabs, several nodes).
 */
import type { Context, ServiceBroker } from "moleculer";
import { config } from "./config";
import { INTERNAL_EVENTS, type SocketPush, type SocketRevocation } from "./events";
import { redisClient } from "./redis";

export const PRESENCE_HEARTBEAT_MS = 30_000;
export const PRESENCE_TTL_MS = 90_000;
const PREFIX = "eislager:presence:";
const ONLINE_SET = `${PREFIX}online`;
const userKey = (userId: string) => `${PREFIX}user:${userId}`;

export type PresenceStatus = "ONLINE" | "OFFLINE";

export interface PresenceStore {
	/** Adds a connection; true when it made the user go from offline to online. */
	connect(userId: string, connectionId: string): Promise<boolean>;
	/** Removes a connection; true when it was the user's last live one. */
	disconnect(userId: string, connectionId: string): Promise<boolean>;
	/** Marks connections as still alive. */
	refresh(entries: { userId: string; connectionId: string }[]): Promise<void>;
	/** The subset of `userIds` that is online. */
	online(userIds: string[]): Promise<string[]>;
	/** Every online user (bounded). */
	allOnline(limit?: number): Promise<string[]>;
}

class MemoryPresence implements PresenceStore {
	private readonly users = new Map<string, Map<string, number>>();

	private live(userId: string): Map<string, number> | undefined {
		const conns = this.users.get(userId);
		if (!conns) return undefined;
		const cutoff = Date.now() - PRESENCE_TTL_MS;
		for (const [id, seen] of conns) if (seen < cutoff) conns.delete(id);
		if (conns.size === 0) {
			this.users.delete(userId);
			return undefined;
		}
		return conns;
	}

	async connect(userId: string, connectionId: string): Promise<boolean> {
		const wasOnline = Boolean(this.live(userId));
		const conns = this.users.get(userId) ?? new Map<string, number>();
		conns.set(connectionId, Date.now());
		this.users.set(userId, conns);
		return !wasOnline;
	}

	async disconnect(userId: string, connectionId: string): Promise<boolean> {
		const conns = this.live(userId);
		if (!conns?.delete(connectionId)) return false;
		if (conns.size > 0) return false;
		this.users.delete(userId);
		return true;
	}

	async refresh(entries: { userId: string; connectionId: string }[]): Promise<void> {
		const now = Date.now();
		for (const { userId, connectionId } of entries) {
			const conns = this.users.get(userId);
			if (conns?.has(connectionId)) conns.set(connectionId, now);
		}
	}

	async online(userIds: string[]): Promise<string[]> {
		return userIds.filter((id) => this.live(id));
	}

	async allOnline(limit = 1000): Promise<string[]> {
		return [...this.users.keys()].filter((id) => this.live(id)).slice(0, limit);
	}
}

/** Live connections of each user key (KEYS) seen since ARGV[1]. */
const COUNT_LIVE = `local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('ZCOUNT', key, ARGV[1], '+inf') end
return out`;

class RedisPresence implements PresenceStore {
	private get redis() {
		const r = redisClient();
		if (!r) throw new Error("REDIS_URL is not set");
		return r;
	}

	async connect(userId: string, connectionId: string): Promise<boolean> {
		const now = Date.now();
		const res = await this.redis
			.multi()
			.zremrangebyscore(userKey(userId), "-inf", now - PRESENCE_TTL_MS)
			.zcard(userKey(userId))
			.zadd(userKey(userId), now, connectionId)
			.pexpire(userKey(userId), PRESENCE_TTL_MS * 2)
			.zadd(ONLINE_SET, now, userId)
			.exec();
		return Number(res?.[1]?.[1] ?? 0) === 0;
	}

	async disconnect(userId: string, connectionId: string): Promise<boolean> {
		const now = Date.now();
		const res = await this.redis
			.multi()
			.zrem(userKey(userId), connectionId)
			.zremrangebyscore(userKey(userId), "-inf", now - PRESENCE_TTL_MS)
			.zcard(userKey(userId))
			.exec();
		const removed = Number(res?.[0]?.[1] ?? 0) > 0;
		const left = Number(res?.[2]?.[1] ?? 0);
		if (left === 0) await this.redis.zrem(ONLINE_SET, userId);
		return removed && left === 0;
	}

	async refresh(entries: { userId: string; connectionId: string }[]): Promise<void> {
		if (entries.length === 0) return;
		const now = Date.now();
		const multi = this.redis.multi();
		for (const { userId, connectionId } of entries) {
			multi
				.zadd(userKey(userId), "XX", now, connectionId)
				.pexpire(userKey(userId), PRESENCE_TTL_MS * 2)
				.zadd(ONLINE_SET, now, userId);
		}
		await multi.exec();
	}

	async online(userIds: string[]): Promise<string[]> {
		if (userIds.length === 0) return [];
		// One command for the whole list (a chat message asks for every recipient), not one per user.
		const counts = (await this.redis.eval(
			COUNT_LIVE,
			userIds.length,
			...userIds.map(userKey),
			Date.now() - PRESENCE_TTL_MS,
		)) as number[];
		return userIds.filter((_, i) => Number(counts[i] ?? 0) > 0);
	}

	async allOnline(limit = 1000): Promise<string[]> {
		const candidates = await this.redis.zrangebyscore(ONLINE_SET, Date.now() - PRESENCE_TTL_MS, "+inf", "LIMIT", 0, limit);
		return this.online(candidates);
	}
}

let store: PresenceStore | undefined;
let storeKind: "redis" | "memory" | undefined;

export function presence(): PresenceStore {
	const kind = redisClient() ? "redis" : "memory";
	if (!store || storeKind !== kind) {
		store = kind === "redis" ? new RedisPresence() : new MemoryPresence();
		storeKind = kind;
	}
	return store;
}

/** Socket.io rooms: one per user (all their tabs), one per conversation (joined by participants only). */
export const userRoom = (userId: string) => `user:${userId}`;
export const conversationRoom = (conversationId: string) => `conversation:${conversationId}`;
/** One room per role (joined on connect with the token's role; a role change moves the user's sockets). */
export const roleRoom = (role: string) => `role:${role}`;

/** The gateway service group that owns the sockets (moleculer-io mixed into `api`). */
const SOCKET_GATEWAY_GROUP = "api";

/**
 * Asks the socket gateway to deliver an event to rooms. With REDIS_URL the
 * gateways share rooms through the socket.io Redis adapter, so one gateway node
 * (balanced event) emits for all; without it every gateway node gets the event
 * (broadcast) and emits to its own sockets.
 */
export function pushToSockets(emitter: ServiceBroker | Context, push: SocketPush): Promise<void> {
	if (!push.all && push.rooms.length === 0) return Promise.resolve();
	const send = config().redisUrl ? emitter.emit.bind(emitter) : emitter.broadcast.bind(emitter);
	return Promise.resolve(send(INTERNAL_EVENTS.socketPush, push, { groups: [SOCKET_GATEWAY_GROUP] })) as Promise<void>;
}

/** Tells every gateway node to close the user's sockets whose token was revoked (each node closes its own). */
export function closeRevokedSockets(emitter: ServiceBroker | Context, revocation: SocketRevocation): Promise<void> {
	return Promise.resolve(
		emitter.broadcast(INTERNAL_EVENTS.socketRevoke, revocation, { groups: [SOCKET_GATEWAY_GROUP] }),
	) as Promise<void>;
}
