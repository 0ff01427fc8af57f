/**
 * The socket `call` event: runs an allow-listed action through `ctx.call` from service
 * `api`, so the Authorization middleware applies the same role policy as HTTP; the
 * token is re-checked (revocation, expiry) and the user's rate limit consumed first.
 */
import type { Context } from "moleculer";
import { RateLimiterRes } from "rate-limiter-flexible";
import { nestedTooDeep, serviceUnavailable, tooManyRequests } from "../../lib/errors";
import { MAX_PARAMS_DEPTH, nestsDeeperThan } from "../../lib/validator";
import { verifyAccessToken } from "../../lib/tokens";
import type { RateLimiters } from "./http";
import type { Ack, AppSocket, SocketThis as This } from "./socket.mixin";

/** Actions a socket may `call` (each still subject to its roles and ownership checks). */
export const SOCKET_ACTIONS = [
	"auth.me",
	"communications.chat.listConversations",
	"communications.chat.createConversation",
	"communications.chat.listMessages",
	"communications.chat.sendMessage",
	"communications.chat.markRead",
	"communications.chat.onlineUsers",
	"communications.notifications.list",
	"communications.notifications.markRead",
	"communications.notifications.markAll",
	"communications.notifications.remove",
	"communications.emails.list",
];

/** The HTTP per-user limit, for socket calls and client events: a 429 ack carries `details.retryAfter` (no headers on a socket). */
export async function consumeSocketCall(limiters: RateLimiters, userId: string): Promise<void> {
	try {
		await limiters.general.consume(`user:${userId}`);
	} catch (rejection) {
		if (rejection instanceof RateLimiterRes)
			throw tooManyRequests("Too many requests, slow down", "RATE_LIMITED", Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)));
		throw serviceUnavailable("Rate limiter unavailable");
	}
}

/**
 * How `call` runs (moleculer-io's `call` action reads this): only allow-listed actions,
 * the token re-checked (revoked or expired since the handshake → 401), the user's rate limit.
 */
const CALL_ITEM = {
	whitelist: SOCKET_ACTIONS,
	async onBeforeCall(
		this: This,
		_ctx: Context,
		socket: AppSocket,
		_action: string,
		_params: unknown,
		opts: { meta: Record<string, unknown> },
	) {
		// The token re-check and the per-user budget (RATE_LIMIT_PER_MIN, as over HTTP) are independent: one wait, not two.
		const [verified, limited] = await Promise.allSettled([verifyAccessToken(socket.data.token), this.spend(socket.data.user)]);
		if (verified.status === "rejected") {
			// Answer the call with the 401 first, then close the socket.
			setTimeout(() => socket.disconnect(true), 100).unref();
			throw verified.reason;
		}
		if (limited.status === "rejected") throw limited.reason;
		opts.meta.user = verified.value;
		opts.meta.ip = socket.handshake.address;
		opts.meta.userAgent = String(socket.handshake.headers["user-agent"] ?? "").slice(0, 256);
		delete opts.meta.$rooms;
	},
};

/**
 * The `call` event: moleculer-io's own handler, minus its per-message metrics, whose
 * labels include every socket's private room (one new series per socket: unbounded).
 */
export function callHandler(this: AppSocket, action: unknown, params: unknown, respond?: Ack): void {
	if (typeof params === "function" && respond === undefined) [params, respond] = [null, params as Ack];
	const svc = this.$service;
	// Refused before anything walks the params recursively (see lib/validator.ts nestsDeeperThan).
	if (nestsDeeperThan(params)) return svc.socketOnError(nestedTooDeep("params", MAX_PARAMS_DEPTH), respond as Ack);
	svc.actions.call({ socket: this, action, params, handlerItem: CALL_ITEM }).then(
		(res) => respond?.(null, res),
		(err: { code?: number; message?: string }) => {
			if (!(Number(err?.code) >= 400 && Number(err?.code) < 500)) svc.logger.error("Socket call failed:", err?.message, err);
			svc.socketOnError(err, respond);
		},
	);
}
