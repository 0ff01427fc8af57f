/**
 * A small key-value store with expiry: Redis when REDIS_URL is set (shared by
 * every node), an in-process map otherwise (the one-process default).
 * Used for token revocation and per-user "tokens valid after" marks.
 */
import { redisClient } from "./redis";
import { serviceUnavailable } from "./errors";

export interface KeyValueStore {
	get(key: string): Promise<string | null>;
	mget(keys: string[]): Promise<(string | null)[]>;
	set(key: string, value: string, ttlSec: number): Promise<void>;
	del(key: string): Promise<void>;
}

class MemoryStore implements KeyValueStore {
	private readonly entries = new Map<string, { value: string; expiresAt: number }>();

	async get(key: string): Promise<string | null> {
		const entry = this.entries.get(key);
		if (!entry) return null;
		if (entry.expiresAt <= Date.now()) {
			this.entries.delete(key);
			return null;
		}
		return entry.value;
	}

	async mget(keys: string[]): Promise<(string | null)[]> {
		return Promise.all(keys.map((k) => this.get(k)));
	}

	async set(key: string, value: string, ttlSec: number): Promise<void> {
		this.entries.set(key, { value, expiresAt: Date.now() + ttlSec * 1000 });
		if (this.entries.size % 1000 === 0) this.sweep();
	}

	async del(key: string): Promise<void> {
		this.entries.delete(key);
	}

	private sweep(): void {
		const now = Date.now();
		for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
	}
}

/** Redis-backed; any Redis failure becomes a 503 so token checks fail closed, never open. */
class RedisStore implements KeyValueStore {
	constructor(private readonly prefix: string) {}

	private async run<T>(op: (r: NonNullable<ReturnType<typeof redisClient>>) => Promise<T>): Promise<T> {
		const redis = redisClient();
		if (!redis) throw serviceUnavailable("Token store unavailable", "TOKEN_STORE_UNAVAILABLE");
		try {
			return await op(redis);
		} catch {
			throw serviceUnavailable("Token store unavailable", "TOKEN_STORE_UNAVAILABLE");
		}
	}

	get(key: string) {
		return this.run((r) => r.get(this.prefix + key));
	}

	mget(keys: string[]) {
		return this.run((r) => r.mget(keys.map((k) => this.prefix + k)));
	}

	async set(key: string, value: string, ttlSec: number) {
		await this.run((r) => r.set(this.prefix + key, value, "EX", Math.max(1, Math.ceil(ttlSec))));
	}

	async del(key: string) {
		await this.run((r) => r.del(this.prefix + key));
	}
}

let store: KeyValueStore | undefined;
let storeKind: "redis" | "memory" | undefined;

export function keyValueStore(): KeyValueStore {
	const kind = redisClient() ? "redis" : "memory";
	if (!store || storeKind !== kind) {
		store = kind === "redis" ? new RedisStore("eislager:") : new MemoryStore();
		storeKind = kind;
	}
	return store;
}
