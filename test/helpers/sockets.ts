/** socket.io-client helpers for tests: connect with a token, collect events, wait for one. */
import { io, type Socket } from "socket.io-client";

export interface TestSocket {
	socket: Socket;
	/** Every event received so far, in order. */
	events: { event: string; data: unknown }[];
	/** Events of one name received so far. */
	received<T = unknown>(event: string): T[];
	/** Resolves with the next (or an already received, unclaimed) event matching `predicate`. */
	next<T = unknown>(event: string, predicate?: (data: T) => boolean, timeoutMs?: number): Promise<T>;
	/** `emitWithAck` with a timeout; resolves with [err, res]. */
	ack<T = unknown>(event: string, ...args: unknown[]): Promise<[unknown, T]>;
	close(): void;
}

/**
 * `ackMessages` (default true): acknowledge every NEW_MESSAGE as a real client does once it
 * has the message (the server then records the delivery); false plays a client that never acks.
 */
export function connectSocket(
	baseUrl: string,
	opts: { token?: string; headers?: Record<string, string>; path?: string; ackMessages?: boolean } = {},
): Promise<TestSocket> {
	const socket = io(baseUrl, {
		path: opts.path ?? "/socket.io",
		transports: ["websocket"],
		reconnection: false,
		forceNew: true,
		auth: opts.token ? { token: opts.token } : {},
		extraHeaders: opts.headers,
	});
	const events: { event: string; data: unknown }[] = [];
	const claimed = new Set<number>();
	socket.onAny((event: string, data: unknown, ...rest: unknown[]) => {
		events.push({ event, data });
		// An event the server wants acked carries the ack function last.
		const ack = rest[rest.length - 1];
		if (event === "NEW_MESSAGE" && opts.ackMessages !== false && typeof ack === "function") ack();
	});
	const ts: TestSocket = {
		socket,
		events,
		received: <T>(event: string) => events.filter((e) => e.event === event).map((e) => e.data as T),
		next<T>(event: string, predicate: (data: T) => boolean = () => true, timeoutMs = 5000): Promise<T> {
			return new Promise<T>((resolve, reject) => {
				const started = Date.now();
				const poll = () => {
					const index = events.findIndex((e, i) => !claimed.has(i) && e.event === event && predicate(e.data as T));
					if (index >= 0) {
						claimed.add(index);
						return resolve(events[index].data as T);
					}
					if (Date.now() - started > timeoutMs)
						return reject(
							new Error(
								`Expected socket event ${event} within ${timeoutMs} ms; got: ${JSON.stringify(events.map((e) => e.event))}`,
							),
						);
					setTimeout(poll, 10);
				};
				poll();
			});
		},
		async ack<T>(event: string, ...args: unknown[]): Promise<[unknown, T]> {
			// The server acknowledges with ack(err, res), the Node callback convention.
			return new Promise((resolve, reject) => {
				const timer = setTimeout(() => reject(new Error(`No ack for ${event} within 5000 ms`)), 5000);
				socket.emit(event, ...args, (err: unknown, res: T) => {
					clearTimeout(timer);
					resolve([err ?? null, res]);
				});
			});
		},
		close: () => void socket.close(),
	};
	return new Promise((resolve, reject) => {
		socket.once("connect", () => resolve(ts));
		socket.once("connect_error", (err) => {
			socket.close();
			reject(err);
		});
	});
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
