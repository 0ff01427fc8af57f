/**
 * The socket gateway: moleculer-io mixed into the gateway service `api`, on the
 * same HTTP server as moleculer-web, at /socket.io (and /socket, rewritten).
 *
 * - Handshake: an access JWT in `auth: { token }` or `Authorization: Bearer`,
 *   verified exactly as over HTTP (signature, expiry, revocation). A refused
 *   socket gets `connect_error` with `{ message, data: { code, status } }`.
 * - `call` runs only allow-listed actions (socket-calls.ts), with the same role
 *   policy and rate limit as HTTP; the token is re-checked before every call. The client
 *   events that reach the database or the presence store (USER_ONLINE/OFFLINE, joining a
 *   conversation, relayed typing) spend the same per-user budget.
 * - At most SOCKETS_PER_USER sockets per user, on all gateway nodes together with REDIS_URL
 *   (socket-cap.ts): one more is refused with `connect_error` TOO_MANY_SOCKETS (429), since
 *   every socket costs presence and redelivery work.
 * - A socket closes when its token expires or is revoked (socket-sessions.ts).
 * - Rooms: `user:<id>` and `role:<role>` (joined on connect) and `conversation:<id>`
 *   (joined on JOIN_CONVERSATION after the chat service confirms participation).
 * - MESSAGE_RECEIVED, NOTIFICATION_SENT and USER_ROLE_CHANGED are broker events
 *   this service relays to sockets (socket-relay.ts: NEW_MESSAGE with delivery
 *   acks, NOTIFICATION_RECEIVED, RECONNECT_REQUIRED). Other pushes come through
 *   `pushToSockets()` (lib/presence.ts). With REDIS_URL the socket.io Redis adapter
 *   spans every gateway node (socket-adapter.ts: it publishes only while another
 *   node listens).
 * - Presence (lib/presence.ts): online while any socket of the user is connected.
 */
import type { Server as HttpServer, IncomingMessage } from "node:http";
import type { Context, Service, ServiceSchema } from "moleculer";
import SocketIOMixin from "moleculer-io";
import { Server, type Socket } from "socket.io";
import Redis from "ioredis";
import Validator from "fastest-validator";
import { config } from "../../lib/config";
import { toErrorResponse } from "../../lib/errors";
import { INTERNAL_EVENTS, SOCKET_EVENTS, type SocketEvent, type SocketPush, type SocketRevocation } from "../../lib/events";
import {
	conversationRoom,
	presence,
	PRESENCE_HEARTBEAT_MS,
	pushToSockets,
	roleRoom,
	userRoom,
	type PresenceStatus,
} from "../../lib/presence";
import { bearerToken, verifyAccessToken } from "../../lib/tokens";
import { defineMixin } from "../../lib/service";
import type { AuthUser } from "../../lib/types";
import type { RateLimiters } from "./http";
import { createSoloAwareAdapter, helloFirst } from "./socket-adapter";
import { callHandler, consumeSocketCall } from "./socket-calls";
import { listenForRelays, SocketRelayMixin, type RelayThis } from "./socket-relay";
import { closeRevoked, expiryTimer, tokenFacts, type TokenFacts } from "./socket-sessions";
import { claimSocketPlace, refreshSocketPlaces, releaseSocketPlace, type SocketPlace } from "./socket-cap";
import { call } from "../../lib/contracts";

/** Minimum interval between relayed typing events per socket, conversation and kind. */
export const TYPING_THROTTLE_MS = 1000;

interface SocketData {
	user: AuthUser;
	token: string;
	facts: TokenFacts;
	away: boolean;
	expiryTimer?: NodeJS.Timeout;
	lastTyping: Map<string, number>;
	/** Serializes presence updates of one socket (connect, away, back, disconnect). */
	presenceChain: Promise<unknown>;
	/** Its place among the user's SOCKETS_PER_USER on all nodes (with REDIS_URL), given back when it closes. */
	place?: SocketPlace;
}
/** A socket as moleculer-io hands it over: `$service` is the gateway service. */
export type AppSocket = Socket & { data: SocketData; client: { user?: AuthUser }; $service: This };
export type Ack = ((err: unknown, res?: unknown) => void) | undefined;

interface Methods {
	initSocketIO(): void;
	socketAuthorize(socket: AppSocket): Promise<AuthUser>;
	socketOnError(err: unknown, respond: Ack): void;
	socketSaveMeta(): void;
	onSocketConnected(socket: AppSocket): void;
	onClientEvent(socket: AppSocket, event: SocketEvent, payload: unknown, ack: Ack): Promise<void>;
	setPresence(socket: AppSocket, online: boolean): Promise<void>;
	announceStatus(userId: string, status: PresenceStatus): Promise<void>;
	/** This node's open sockets of the user. */
	socketsOf(userId: string): number;
	/** A socket's id across the cluster (`<nodeID>:<socket id>`): its presence entry and its place in the socket count. */
	connectionId(socket: Socket): string;
	/** The user's per-user budget (as over HTTP), when the gateway's limiters are there. */
	spend(user: AuthUser): Promise<void>;
}
interface State {
	io: Server;
	/** The gateway's HTTP rate limiters (api.service.ts creates them). */
	limiters?: RateLimiters;
	server: HttpServer;
	redisAdapterClients?: Redis[];
	presenceTimer?: NodeJS.Timeout;
	/** Set while this node shuts down: its sockets are closed, clients reconnect elsewhere. */
	shuttingDown?: boolean;
}
type This = Service & Methods & State;
export type SocketThis = This;

const validator = new Validator();
type Issues = { field?: string; message?: string; type?: string }[];
type Check = (value: unknown) => true | Issues;
const checkConversation: Check = validator.compile({
	$$root: true,
	type: "object",
	strict: "remove",
	props: { conversationId: { type: "uuid" } },
}) as Check;
const checkEmpty: Check = validator.compile({ $$root: true, type: "object", strict: "remove", optional: true, props: {} }) as Check;

function socketError(message: string, code: string, status: number): Error & { data: { code: string; status: number } } {
	return Object.assign(new Error(message), { data: { code, status } });
}

/** Client → server events handled here (not moleculer actions). */
const CLIENT_EVENTS: SocketEvent[] = [
	"USER_ONLINE",
	"USER_OFFLINE",
	"TYPING_START",
	"TYPING_STOP",
	"JOIN_CONVERSATION",
	"LEAVE_CONVERSATION",
];

function clientEventHandlers(): Record<string, (this: AppSocket, payload: unknown, ack: Ack) => void> {
	const handlers: Record<string, (this: AppSocket, payload: unknown, ack: Ack) => void> = {};
	for (const event of CLIENT_EVENTS) {
		handlers[SOCKET_EVENTS[event]] = function (this: AppSocket, payload: unknown, ack: Ack) {
			if (typeof payload === "function" && ack === undefined) [payload, ack] = [undefined, payload as Ack];
			const svc = this.$service;
			void svc.onClientEvent(this, event, payload, ack);
		};
	}
	return handlers;
}

export const SocketMixin = defineMixin<This>({
	mixins: [SocketIOMixin as Partial<ServiceSchema>, SocketRelayMixin as Partial<ServiceSchema>],
	settings: {
		io: {
			namespaces: {
				"/": {
					authorization: true,
					events: {
						call: callHandler,
						...clientEventHandlers(),
					},
				},
			},
		},
	},

	actions: {
		// moleculer-io's helpers stay internal: never reachable from HTTP or sockets.
		broadcast: { visibility: "public" },
		getClients: { visibility: "public" },
	},

	events: {
		[INTERNAL_EVENTS.socketPush]: {
			handler(ctx: Context<SocketPush>) {
				const push = ctx.params;
				if (!this.io) return;
				if (push.all) {
					// Only announcements go to everyone.
					if (push.event === "SYSTEM_ANNOUNCEMENT") this.io.emit(SOCKET_EVENTS[push.event], push.data);
					return;
				}
				let target = this.io.to(push.rooms);
				if (push.except?.length) target = target.except(push.except);
				target.emit(SOCKET_EVENTS[push.event], push.data);
			},
		},
		[INTERNAL_EVENTS.socketRevoke]: {
			handler(ctx: Context<SocketRevocation>) {
				if (this.io) closeRevoked(this.io, ctx.params);
			},
		},
	},

	methods: {
		/** Replaces moleculer-io's: our options, the Redis adapter, connection hooks, and the /socket alias path. */
		initSocketIO() {
			const cfg = config();
			const io = new Server(this.server, {
				path: "/socket.io",
				serveClient: false,
				maxHttpBufferSize: 64 * 1024,
				connectTimeout: 10_000,
				cors: cfg.corsOrigins.length
					? { origin: cfg.corsOrigins.includes("*") ? "*" : cfg.corsOrigins, credentials: !cfg.corsOrigins.includes("*") }
					: undefined,
			});
			if (cfg.redisUrl) {
				const pub = new Redis(cfg.redisUrl, { lazyConnect: false, maxRetriesPerRequest: null });
				const sub = pub.duplicate();
				for (const c of [pub, sub]) c.on("error", (err) => this.logger.warn("Socket.IO Redis adapter:", err.message));
				this.redisAdapterClients = [pub, sub];
				// One channel set per cluster (NAMESPACE): clusters sharing a Redis never see each other's broadcasts.
				io.adapter(createSoloAwareAdapter(pub, sub, `eislager-socket.io:${cfg.namespace}`));
				io.use(helloFirst(io));
			}
			// The spec's gateway table names /socket: rewrite it to the socket.io path before any listener sees it.
			const rewrite = (req: IncomingMessage) => {
				if (req.url?.startsWith("/socket/")) req.url = `/socket.io/${req.url.slice("/socket/".length)}`;
			};
			this.server.prependListener("request", rewrite);
			this.server.prependListener("upgrade", rewrite);
			io.on("connection", (socket) => this.onSocketConnected(socket as AppSocket));
			// moleculer-io's stopped() and ours both close the server: make it idempotent (a second
			// close would unsubscribe the adapter's Redis clients after they quit).
			const close = io.close.bind(io);
			let closing: Promise<void> | undefined;
			io.close = (fn?: (err?: Error) => void) => {
				// With Redis unreachable, the adapter's unsubscribe (and QUIT later) would wait for a connection forever.
				for (const c of this.redisAdapterClients ?? []) if (c.status !== "ready") c.disconnect();
				closing ??= new Promise<void>((resolve) => void close(() => resolve()));
				return closing.then(() => fn?.());
			};
			this.io = io;
			listenForRelays(this as RelayThis);
		},

		async socketAuthorize(socket: AppSocket): Promise<AuthUser> {
			const fromAuth = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
			const header = socket.handshake.headers.authorization;
			const token = typeof fromAuth === "string" && fromAuth ? fromAuth.replace(/^Bearer\s+/i, "") : bearerToken(header);
			if (!token)
				throw socketError(
					"Authentication required: pass an access token in auth.token or an Authorization: Bearer header",
					"UNAUTHORIZED",
					401,
				);
			const user = await verifyAccessToken(token).catch((err: unknown) => {
				const { status, body } = toErrorResponse(err, "");
				throw socketError(body.error.message, body.error.code, status);
			});
			// Counted after the token check, which reads only local state. Without Redis, from here to joining the user's
			// room is one run of the event loop, so handshakes arriving together are counted one after the other; with
			// Redis, the script below counts them one after the other on every node.
			const cap = config().socketsPerUser;
			const tooMany = () => socketError(`At most ${cap} open sockets per user: close one first`, "TOO_MANY_SOCKETS", 429);
			if (this.socketsOf(user.id) >= cap) throw tooMany();
			// Then the count of every node (one script: concurrent handshakes on any nodes take places one at a time).
			const place: SocketPlace = { userId: user.id, member: this.connectionId(socket) };
			const claimed = await claimSocketPlace(place, cap);
			if (claimed === false) throw tooMany();
			socket.data = {
				place: claimed ? place : undefined,
				user,
				token,
				facts: tokenFacts(token),
				away: false,
				lastTyping: new Map(),
				presenceChain: Promise.resolve(),
			};
			return user;
		},

		/** The socket's user is the verified one from the handshake; actions cannot replace it. */
		socketSaveMeta() {
			/* nothing to save */
		},

		/** Errors answer in the HTTP error shape: `ack({ code, message, details?, status })`. */
		socketOnError(err: unknown, respond: Ack) {
			const { status, body } = toErrorResponse(err, "");
			respond?.({ ...body.error, status });
		},

		onSocketConnected(socket: AppSocket) {
			const { user } = socket.data;
			void socket.join([userRoom(user.id), roleRoom(user.role)]);
			socket.data.expiryTimer = expiryTimer(socket);
			socket.on("disconnect", () => {
				clearTimeout(socket.data.expiryTimer);
				void this.setPresence(socket, false);
				const { place } = socket.data;
				if (place)
					releaseSocketPlace(place).catch((err: Error) =>
						this.logger.warn("Giving back a socket's place failed (it expires with the heartbeat):", err.message),
					);
			});
			void this.setPresence(socket, true);
			// What this user's clients never acked (sent while they were away, or not acked in time).
			void (this as RelayThis).redeliver(socket);
		},

		async onClientEvent(socket: AppSocket, event: SocketEvent, payload: unknown, ack: Ack) {
			const reply = (err: unknown, res?: unknown) => {
				if (typeof ack === "function") ack(err, res);
			};
			const { user } = socket.data;
			try {
				if (event === "USER_ONLINE" || event === "USER_OFFLINE") {
					const check = checkEmpty(payload ?? {});
					if (check !== true) return reply(validationAck(check));
					await this.spend(user);
					await this.setPresence(socket, event === "USER_ONLINE");
					return reply(null, { status: event === "USER_ONLINE" ? "ONLINE" : "OFFLINE" });
				}
				const check = checkConversation(payload);
				if (check !== true) return reply(validationAck(check));
				const { conversationId } = payload as { conversationId: string };
				const room = conversationRoom(conversationId);
				if (event === "LEAVE_CONVERSATION") {
					await socket.leave(room);
					return reply(null, { left: conversationId });
				}
				// TYPING_START / TYPING_STOP: relayed, throttled, never stored. A throttled one (the last relay, within the
				// second, proved participation) and a join of a joined room are answered here and cost nothing; what
				// reaches the database or other sockets spends the user's budget.
				const typingKey = `${event}:${conversationId}`;
				if (event !== "JOIN_CONVERSATION" && Date.now() - (socket.data.lastTyping.get(typingKey) ?? 0) < TYPING_THROTTLE_MS)
					return reply(null, { relayed: false, throttled: true });
				if (!(event === "JOIN_CONVERSATION" && socket.rooms.has(room))) await this.spend(user);
				if (!socket.rooms.has(room)) {
					const ok = await call(this.broker, "communications.chat.isParticipant", { conversationId, userId: user.id });
					if (!ok) return reply({ code: "NOT_FOUND", message: "Conversation not found", status: 404 });
					if (event === "JOIN_CONVERSATION") await socket.join(room);
				}
				if (event === "JOIN_CONVERSATION") return reply(null, { joined: conversationId });
				socket.data.lastTyping.set(typingKey, Date.now());
				await pushToSockets(this.broker, {
					event,
					rooms: [room],
					except: [userRoom(user.id)],
					data: { conversationId, userId: user.id },
				});
				return reply(null, { relayed: true });
			} catch (err) {
				this.socketOnError(err, reply);
			}
		},

		socketsOf(userId: string): number {
			return this.io?.of("/").adapter.rooms.get(userRoom(userId))?.size ?? 0;
		},

		connectionId(socket: Socket): string {
			return `${this.broker.nodeID}:${socket.id}`;
		},

		async spend(user: AuthUser) {
			if (this.limiters) await consumeSocketCall(this.limiters, user.id);
		},

		/** Presence of one socket; the user's status changes only with their first/last live socket. */
		setPresence(socket: AppSocket, online: boolean): Promise<void> {
			const data = socket.data;
			const next = data.presenceChain.then(async () => {
				const userId = data.user.id;
				const connectionId = this.connectionId(socket);
				if (online) {
					data.away = false;
					if (await presence().connect(userId, connectionId)) await this.announceStatus(userId, "ONLINE");
				} else {
					data.away = true;
					if (await presence().disconnect(userId, connectionId)) await this.announceStatus(userId, "OFFLINE");
				}
			});
			data.presenceChain = next.catch((err: Error) => this.logger.warn("Presence update failed:", err.message));
			return data.presenceChain as Promise<void>;
		},

		/** USER_STATUS_CHANGE to everyone who may see the user's status (`communications.chat.watchers`). */
		async announceStatus(userId: string, status: PresenceStatus) {
			if (this.shuttingDown) return;
			let watchers: string[] = [];
			if (!this.broker.registry.actions.isAvailable("communications.chat.watchers")) return;
			try {
				watchers = await call(this.broker, "communications.chat.watchers", { userId });
			} catch (err) {
				this.logger.debug("No watchers for presence (communications unavailable?):", (err as Error).message);
			}
			await pushToSockets(this.broker, { event: "USER_STATUS_CHANGE", rooms: watchers.map(userRoom), data: { userId, status } });
		},
	},

	started() {
		// Keep this node's sockets alive in the presence store and in the per-user socket count; a dead node's expire.
		this.presenceTimer = setInterval(() => {
			const open = [...(this.io?.of("/").sockets.values() ?? [])].map((s) => s as AppSocket).filter((s) => s.data?.user);
			const entries = open.filter((s) => !s.data.away).map((s) => ({ userId: s.data.user.id, connectionId: this.connectionId(s) }));
			presence()
				.refresh(entries)
				.catch((err: Error) => this.logger.warn("Presence refresh failed:", err.message));
			refreshSocketPlaces(open.flatMap((s) => (s.data.place ? [s.data.place] : []))).catch((err: Error) =>
				this.logger.warn("Socket count refresh failed:", err.message),
			);
		}, PRESENCE_HEARTBEAT_MS);
		this.presenceTimer.unref();
	},

	async stopped() {
		this.shuttingDown = true;
		clearInterval(this.presenceTimer);
		if (this.io) {
			this.io.local.disconnectSockets(true);
			await this.io.close();
		}
		// QUIT lets the adapter's pending (un)subscribe commands finish first.
		// (Not when Redis is unreachable: QUIT would wait for a connection forever.)
		await Promise.all(
			(this.redisAdapterClients ?? []).map((c) => (c.status === "ready" ? c.quit().catch(() => c.disconnect()) : c.disconnect())),
		);
	},
});

function validationAck(issues: { field?: string; message?: string; type?: string }[]) {
	return {
		code: "VALIDATION_ERROR",
		status: 422,
		message: issues[0]?.message ?? "Invalid payload",
		details: issues.map((i) => ({ field: i.field, message: i.message, type: i.type })),
	};
}
