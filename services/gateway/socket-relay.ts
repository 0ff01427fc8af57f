/**
 * Broker events → moleculer-io → sockets (ARCHITECTURE.md "Events"): the gateway
 * service, which carries moleculer-io, subscribes to the catalog events that
 * concern clients and emits them to the rooms of the users they concern.
 *
 * - MESSAGE_RECEIVED → NEW_MESSAGE to each socket of each recipient (`user:<id>`),
 *   with a socket.io acknowledgement. Acks are collected for DELIVERY_FLUSH_MS and
 *   recorded in one call (`communications.chat.markDelivered`: one statement, one
 *   MESSAGE_DELIVERED per message to its sender listing who acked): a message to a
 *   50-member group is 49 acks, and one write each queued behind the next messages.
 *   Messages not acked yet are sent again when the user's socket connects
 *   (`communications.chat.undelivered`), and acked then; an ack still in the buffer
 *   when the node dies is such a message.
 * - NOTIFICATION_SENT → NOTIFICATION_RECEIVED to the user's room.
 * - USER_ROLE_CHANGED → RECONNECT_REQUIRED `{ reason: "ROLE_CHANGED", role }`, then
 *   the user's sockets opened with the old role close (their token no longer
 *   works); the client signs in again and its new socket joins `role:<new role>`.
 *
 * The emitting service sends the client's view (the whole message, the notification
 * row) as `ctx.meta.live` beside the catalog payload (lib/events.ts `emitEvent`).
 * The events are balanced (one gateway node gets each): with REDIS_URL the socket.io
 * Redis adapter carries the emit to every node (room emits, and server-side events
 * for what each node does with its own sockets: acked NEW_MESSAGE, role changes);
 * without it, a node that is not the only gateway hands the push to all of them
 * (`sockets.push`, NEW_MESSAGE then unacked: delivered again on the next connect).
 */
import type { Context } from "moleculer";
import type { Namespace, Socket } from "socket.io";
import { config } from "../../lib/config";
import { SOCKET_EVENTS, type EventEnvelope, type EventName, type SocketPush } from "../../lib/events";
import { pushToSockets, userRoom } from "../../lib/presence";
import { defineMixin } from "../../lib/service";
import { call, type MessageView } from "../../lib/contracts";
import type { NotificationView } from "../communications/notifications.service";
import type { AppSocket, SocketThis } from "./socket.mixin";

/** socket.io server-side events (through the Redis adapter): every gateway node handles its own sockets. */
const ROLE_CHANGED_SERVER_EVENT = "eislager:role-changed";
const NEW_MESSAGE_SERVER_EVENT = "eislager:new-message";

type RoleChange = EventEnvelope<"USER_ROLE_CHANGED">["data"];

/** How long acks are collected before they are recorded together; a receipt is at most this much later. */
const DELIVERY_FLUSH_MS = 20;
/** Recorded at once when this many acks are waiting (the call's limit is 1,000). */
const DELIVERY_BATCH_MAX = 500;

/** Acks waiting to be recorded, deduplicated (two sockets of one user ack the same message). */
export class DeliveryBuffer {
	private pending = new Map<string, { messageId: string; userId: string }>();
	private timer: NodeJS.Timeout | null = null;

	constructor(private readonly record: (deliveries: { messageId: string; userId: string }[]) => void) {}

	add(messageId: string, userId: string): void {
		this.pending.set(`${messageId}:${userId}`, { messageId, userId });
		if (this.pending.size >= DELIVERY_BATCH_MAX) this.flush();
		else this.timer ??= setTimeout(() => this.flush(), DELIVERY_FLUSH_MS);
	}

	flush(): void {
		if (this.timer) clearTimeout(this.timer);
		this.timer = null;
		if (this.pending.size === 0) return;
		const deliveries = [...this.pending.values()];
		this.pending.clear();
		this.record(deliveries);
	}
}

/** socket.io-parser's PacketType.EVENT (the parser is socket.io's own dependency, not ours). */
const EVENT_PACKET = 2;

interface AckTarget {
	socket: Socket;
	onAck: () => void;
}

/** socket.io internals emitWithAcks relies on (the in-memory adapter's `broadcastWithAck` does the same). */
interface PacketInternals {
	nsp: { _ids: number; name: string; adapter: { _encode?(packet: object, opts: object): unknown[] } };
	acks?: Map<number, () => void>;
	client: { _packet?(packets: unknown[], opts: object): void };
}

/**
 * One event to many sockets, each with its own ack, encoded once: the packets share one ack id (the namespace's
 * counter, as socket.io's broadcastWithAck does) and each socket maps it to its own callback. Emitting per socket
 * encoded the same JSON and built the same WebSocket frame once per recipient, the fan-out's largest cost
 * (docs/performance.md). Falls back to one emit per socket where the internals are not there.
 */
export function emitWithAcks(nsp: Namespace, targets: AckTarget[], event: string, data: unknown): void {
	if (targets.length === 0) return;
	const inner = nsp as unknown as PacketInternals["nsp"];
	const encode = inner.adapter._encode;
	const usable = (t: AckTarget) => {
		const s = t.socket as unknown as PacketInternals;
		return s.acks instanceof Map && typeof s.client._packet === "function";
	};
	if (typeof encode !== "function" || targets.length === 1 || !targets.every(usable)) {
		for (const t of targets) t.socket.emit(event, data, t.onAck);
		return;
	}
	const packet = { type: EVENT_PACKET, data: [event, data], nsp: inner.name, id: inner._ids++ };
	const packetOpts = { preEncoded: true, compress: true };
	const encoded = encode.call(inner.adapter, packet, packetOpts);
	for (const { socket, onAck } of targets) {
		const s = socket as unknown as Required<PacketInternals>;
		s.acks.set(packet.id, onAck);
		s.client._packet!(encoded, packetOpts);
	}
}

interface Methods {
	emitToRooms(push: SocketPush): void;
	soleGateway(): boolean;
	sendNewMessage(view: MessageView, recipients: string[]): void;
	sendNewMessageHere(view: MessageView, recipients: string[]): void;
	recordDelivery(messageId: string, userId: string): void;
	deliveries: DeliveryBuffer;
	redeliver(socket: AppSocket): Promise<void>;
	closeForRoleChange(change: RoleChange): void;
}
type This = SocketThis & Methods;
export type RelayThis = This;

type LiveCtx<K extends EventName, V> = Context<EventEnvelope<K>, { live?: V }>;

/** Catalog events the gateway relays (typed keys: no event name outside lib/events.ts's catalog). */
const RELAYED = {
	MESSAGE_RECEIVED: {
		handler(this: This, ctx: LiveCtx<"MESSAGE_RECEIVED", MessageView>) {
			const view = ctx.meta.live;
			// Without the view (an emitter that did not attach it) the recipients still get it on their next connect.
			if (view) this.sendNewMessage(view, ctx.params.data.recipientIds);
		},
	},
	NOTIFICATION_SENT: {
		handler(this: This, ctx: LiveCtx<"NOTIFICATION_SENT", NotificationView>) {
			const { notificationId, userId, type, message } = ctx.params.data;
			const data: NotificationView = ctx.meta.live ?? {
				id: notificationId,
				userId,
				type,
				message,
				data: {},
				read: false,
				readAt: null,
				createdAt: ctx.params.occurredAt,
			};
			this.emitToRooms({ event: "NOTIFICATION_RECEIVED", rooms: [userRoom(userId)], data });
		},
	},
	USER_ROLE_CHANGED: {
		handler(this: This, ctx: Context<EventEnvelope<"USER_ROLE_CHANGED">>) {
			if (!this.io) return;
			this.closeForRoleChange(ctx.params.data);
			// The other gateway nodes close theirs (through the adapter; without Redis there is one node).
			if (config().redisUrl) this.io.serverSideEmit(ROLE_CHANGED_SERVER_EVENT, ctx.params.data);
		},
	},
} satisfies Partial<Record<EventName, unknown>>;

export const SocketRelayMixin = defineMixin<This>({
	events: RELAYED,

	created() {
		this.deliveries = new DeliveryBuffer((deliveries) => {
			void call(this.broker, "communications.chat.markDelivered", { deliveries }).catch((err: Error) =>
				this.logger.warn(`Recording ${deliveries.length} deliveries failed:`, err.message),
			);
		});
	},

	stopped() {
		// Acks already given are recorded before the broker goes (the next connect would redeliver them otherwise).
		this.deliveries.flush();
	},

	methods: {
		/** Emits to rooms on every gateway node (see the header). */
		emitToRooms(this: This, push: SocketPush) {
			if (!this.io) return;
			if (!config().redisUrl && !this.soleGateway()) {
				void pushToSockets(this.broker, push).catch((err: Error) => this.logger.warn("Socket push failed:", err.message));
				return;
			}
			let target = this.io.to(push.rooms);
			if (push.except?.length) target = target.except(push.except);
			target.emit(SOCKET_EVENTS[push.event], push.data);
		},

		soleGateway(this: This): boolean {
			const list = this.broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true }) as { name: string }[];
			return list.filter((s) => s.name === this.name).length <= 1;
		},

		/** NEW_MESSAGE to each recipient's sockets on every gateway node; an ack records the delivery. */
		sendNewMessage(this: This, view: MessageView, recipients: string[]) {
			if (!this.io) return;
			if (config().redisUrl) this.io.serverSideEmit(NEW_MESSAGE_SERVER_EVENT, view, recipients);
			else if (!this.soleGateway()) {
				// Several gateway nodes without a shared adapter: no acks across them; the next connect delivers again.
				this.emitToRooms({ event: "NEW_MESSAGE", rooms: recipients.map(userRoom), data: view });
				return;
			}
			this.sendNewMessageHere(view, recipients);
		},

		/** This node's sockets of the recipients, each with an ack (no timer: an ack never given goes away with its socket). */
		sendNewMessageHere(this: This, view: MessageView, recipients: string[]) {
			const nsp = this.io.of("/");
			const targets: AckTarget[] = [];
			for (const userId of recipients) {
				for (const id of nsp.adapter.rooms.get(userRoom(userId)) ?? []) {
					const socket = nsp.sockets.get(id);
					if (socket) targets.push({ socket, onAck: () => this.recordDelivery(view.id, userId) });
				}
			}
			emitWithAcks(nsp, targets, SOCKET_EVENTS.NEW_MESSAGE, view);
		},

		recordDelivery(this: This, messageId: string, userId: string) {
			this.deliveries.add(messageId, userId);
		},

		/** Messages the user's clients never acked, sent to this new socket (oldest first). */
		async redeliver(this: This, socket: AppSocket) {
			if (!this.broker.registry.actions.isAvailable("communications.chat.undelivered")) return;
			const userId = socket.data.user.id;
			try {
				const views = await call(this.broker, "communications.chat.undelivered", { userId });
				for (const view of views) {
					if (!socket.connected) return;
					// No timer: an ack still missing when the socket closes is simply dropped with it.
					socket.emit(SOCKET_EVENTS.NEW_MESSAGE, view, () => this.recordDelivery(view.id, userId));
				}
			} catch (err) {
				this.logger.warn("Redelivering messages failed:", (err as Error).message);
			}
		},

		/** This node's sockets of the user still holding the old role: told why, then closed (their token is revoked). */
		closeForRoleChange(this: This, change: RoleChange) {
			const nsp = this.io.of("/");
			for (const id of [...(nsp.adapter.rooms.get(userRoom(change.userId)) ?? [])]) {
				const socket = nsp.sockets.get(id) as AppSocket | undefined;
				if (!socket?.data?.user || socket.data.user.role === change.role) continue;
				socket.emit(SOCKET_EVENTS.RECONNECT_REQUIRED, { reason: "ROLE_CHANGED", role: change.role });
				socket.disconnect(true);
			}
		},
	},
});

/** Registers the handlers of what another gateway node relays to this node's sockets. */
export function listenForRelays(svc: This): void {
	svc.io.on(ROLE_CHANGED_SERVER_EVENT, (change: RoleChange) => svc.closeForRoleChange(change));
	svc.io.on(NEW_MESSAGE_SERVER_EVENT, (view: MessageView, recipients: string[]) => svc.sendNewMessageHere(view, recipients));
}
