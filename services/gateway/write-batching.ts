/**
 * The HTTP answers of one event-loop turn go out together, at the end of the turn.
 *
 * Under load, one turn handles a dozen requests (one `epoll` wake-up, each
 * request's whole handler in turn). node:http sends each answer the moment its
 * `res.end()` runs, so the client (nginx, a load balancer, a test client) is
 * woken once per answer, in between our handlers' work, and on a VM every
 * wake-up of a process on another core is an inter-processor interrupt paid by
 * the sender inside `writev`. Measured on `/me` (bench:gateway, 2 cores): 1.00
 * wake-ups and 0.081–0.086 CPU ms per request, against 0.17 and 0.049 with the
 * answers of a turn sent back to back (docs/performance.md).
 *
 * How: `res.end()` fully uncorks the socket (node sets it corked once, then
 * calls `uncork()`). That last `uncork()` of a socket carrying an HTTP answer is
 * caught and replayed in a `setImmediate`, which runs right after the turn's
 * I/O callbacks. Everything else is node's own: the response is finished, its
 * headers sent, its bytes buffered in the socket in order (and sent at once if
 * the socket is ended or destroyed before the turn ends). A turn that answers
 * one request sends it a few microseconds later than before; nothing waits for
 * another turn. A connection upgraded to a WebSocket carries no HTTP answer, so
 * its frames keep node's behaviour (engine.io sends a socket's next packets only
 * when its last write has completed: held to the end of the turn, they would wait).
 */
import type { Server } from "node:http";
import { Socket } from "node:net";

/** node:http's link from a socket to the response it is writing (null between responses and after an upgrade). */
type HttpSocket = Socket & { _httpMessage?: unknown };

const { uncork: nodeUncork, end: nodeEnd, destroy: nodeDestroy } = Socket.prototype;

/** Sockets whose final uncork waits for the end of this turn. */
const pending = new Set<HttpSocket>();

/** Replays the final uncork of every socket of this turn. */
function flush(): void {
	for (const socket of pending) nodeUncork.call(socket);
	pending.clear();
}

/** Sends what a socket holds now, if anything: before it is ended or destroyed, as node would have sent it already. */
function release(socket: HttpSocket): void {
	if (pending.delete(socket)) nodeUncork.call(socket);
}

function endReleased(this: HttpSocket, ...args: unknown[]): Socket {
	release(this);
	return (nodeEnd as (...a: unknown[]) => Socket).apply(this, args);
}

function destroyReleased(this: HttpSocket, error?: Error): Socket {
	release(this);
	return nodeDestroy.call(this, error);
}

function deferFinalUncork(this: HttpSocket): void {
	// A nested cork, a socket nobody corked, a closed one or one not writing an HTTP answer: node's own.
	if (this.writableCorked !== 1 || this.destroyed || !this._httpMessage) return nodeUncork.call(this);
	if (pending.size === 0) setImmediate(flush);
	pending.add(this);
}

/** Sends each connection's HTTP answers of one event-loop turn together at its end (call once, before `listen`). */
export function batchWritesPerTurn(server: Server): void {
	server.on("connection", (socket: Socket) => {
		socket.uncork = deferFinalUncork;
		socket.end = endReleased as Socket["end"];
		socket.destroy = destroyReleased;
	});
}
