/**
 * A socket lives no longer than the token it was opened with: it is closed when
 * the token's `exp` passes (a timer per socket) and when the token is revoked
 * (logout, deactivation, deletion, role or password change: the auth service
 * broadcasts `sockets.revoke` and every gateway node closes its own sockets).
 */
import type { Server } from "socket.io";
import { SOCKET_EVENTS, type SocketRevocation } from "../../lib/events";
import { userRoom } from "../../lib/presence";
import { decodeAccessToken } from "../../lib/tokens";
import type { AppSocket } from "./socket.mixin";

/** What a revocation is matched against: the token's id, login family and issue time (ms). */
export interface TokenFacts {
	jti: string;
	family?: string;
	issuedAt: number;
	exp: number;
}

/** The facts of a token already verified by the handshake. */
export function tokenFacts(token: string): TokenFacts {
	const claims = decodeAccessToken(token);
	return { jti: claims.jti, family: claims.fam, issuedAt: claims.ims, exp: claims.exp };
}

/** Closes the socket when its token expires; the caller clears the timer on disconnect. */
export function expiryTimer(socket: AppSocket): NodeJS.Timeout {
	const msLeft = socket.data.facts.exp * 1000 - Date.now();
	return setTimeout(() => socket.disconnect(true), Math.max(0, Math.min(msLeft, 2 ** 31 - 1)));
}

export function isRevoked(facts: TokenFacts, r: SocketRevocation): boolean {
	if (r.jti !== undefined && facts.jti === r.jti) return true;
	if (facts.family !== undefined && r.families?.includes(facts.family)) return true;
	return r.issuedBefore !== undefined && facts.issuedAt < r.issuedBefore;
}

/** Closes this node's sockets of the user that the revocation covers; returns how many. */
export function closeRevoked(io: Server, r: SocketRevocation): number {
	const nsp = io.of("/");
	let closed = 0;
	for (const id of [...(nsp.adapter.rooms.get(userRoom(r.userId)) ?? [])]) {
		const socket = nsp.sockets.get(id) as AppSocket | undefined;
		if (socket?.data?.facts && isRevoked(socket.data.facts, r)) {
			// The client learns why before the close (a bare disconnect looks like a network fault).
			socket.emit(SOCKET_EVENTS.RECONNECT_REQUIRED, { reason: r.reason ?? "TOKEN_REVOKED" });
			socket.disconnect(true);
			closed++;
		}
	}
	return closed;
}
