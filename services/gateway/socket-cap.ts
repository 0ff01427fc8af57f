/**
 * SOCKETS_PER_USER across every gateway node. With REDIS_URL each open socket is a member
 * (`<nodeID>:<socketId>`) of its user's sorted set, scored by when it was last seen:
 * - a handshake claims a place with one script, which refuses when the set is full;
 * - the place is given back when the socket closes;
 * - the node's presence heartbeat refreshes its sockets' places, so the places of a node
 *   that died stop counting after PRESENCE_TTL_MS (as its presence does), and so does the
 *   place of a handshake its client abandoned between the claim and the connection.
 * Without Redis there is one gateway node, and its own count decides (socket.mixin.ts).
 * Keys carry the NAMESPACE: deployments sharing a Redis keep separate counts.
 */
import { config } from "../../lib/config";
import { PRESENCE_TTL_MS } from "../../lib/presence";
import { redisClient } from "../../lib/redis";

const key = (userId: string) => `eislager:${config().namespace}:sockets:${userId}`;

/** KEYS[1] the user's set; ARGV: now, cutoff (older places are dead), cap, member, key TTL ms. 1 = claimed, 0 = full. */
const CLAIM = `redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZSCORE', KEYS[1], ARGV[4]) == false and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`;

export interface SocketPlace {
	userId: string;
	member: string;
}

/**
 * Claims one of the user's `cap` places for `member`: false when every place is taken on some node. Undefined
 * without Redis, or when Redis does not answer: the caller keeps its own node's count (a cap, not a credential).
 */
export async function claimSocketPlace(place: SocketPlace, cap: number): Promise<boolean | undefined> {
	const redis = redisClient();
	if (!redis) return undefined;
	const now = Date.now();
	try {
		const claimed = await redis.eval(CLAIM, 1, key(place.userId), now, now - PRESENCE_TTL_MS, cap, place.member, PRESENCE_TTL_MS * 2);
		return Number(claimed) === 1;
	} catch {
		return undefined;
	}
}

/** Gives the place back (a socket that closed). */
export async function releaseSocketPlace(place: SocketPlace): Promise<void> {
	await redisClient()?.zrem(key(place.userId), place.member);
}

/** Marks this node's open sockets as alive (the presence heartbeat). */
export async function refreshSocketPlaces(places: SocketPlace[]): Promise<void> {
	const redis = redisClient();
	if (!redis || places.length === 0) return;
	const now = Date.now();
	const multi = redis.multi();
	for (const { userId, member } of places) multi.zadd(key(userId), "XX", now, member).pexpire(key(userId), PRESENCE_TTL_MS * 2);
	await multi.exec();
}
