/**
 * Proof of origin on every request and event between nodes (lib/service-key.ts).
 *
 * - Outgoing (transitPublish): each REQ and EVENT packet gets a proof in its
 *   meta, made with SERVICE_KEY. The context's own meta is left untouched.
 * - Incoming (transitMessageHandler): a REQ or EVENT from another node is
 *   checked before Moleculer builds a context from it, so no cache, hook,
 *   validator or handler runs for a node without the key. A request without a
 *   valid proof is answered 401 SERVICE_UNAUTHENTICATED; an event is dropped.
 *   Both are logged (node, name, reason; never a key or a proof), at most once
 *   a minute per node and reason.
 *
 * This runs below the authorization middleware: a caller that claims to be the
 * gateway (`ctx.caller === "api"`, a `meta.user`) is believed only because the
 * packet proves it comes from a node holding the key.
 * Without SERVICE_KEY (one process, or a development cluster) nothing is signed or checked.
 */
import type { Middleware, ServiceBroker, Transit } from "moleculer";
import { Errors } from "moleculer";
import { LogThrottle } from "../lib/log-throttle";
import { PROOF_META, ReplayGuard, signProof, verifyProof, type ProofInput, type ServiceKeys } from "../lib/service-key";

interface Payload {
	sender?: string;
	id?: string;
	action?: string;
	event?: string;
	seq?: number;
	meta?: Record<string, unknown> | null;
}

interface PacketLike {
	type: string;
	target: string | null;
	payload: Payload;
}

type Publish = (packet: PacketLike) => Promise<unknown>;
type MessageHandler = (cmd: string, packet: PacketLike) => Promise<boolean>;

const SIGNED = new Set(["REQ", "EVENT"]);

function packetFacts(kind: string, payload: Payload, target: string): ProofInput {
	return { kind, name: (kind === "REQ" ? payload.action : payload.event) ?? "", id: payload.id ?? "", seq: payload.seq, target };
}

/** Names from the packet are the sender's claim: keep log lines to one line of harmless characters. */
function printable(value: unknown): string {
	return String(value)
		.slice(0, 100)
		.replace(/[^\w.$:@/-]/g, "?");
}

export function refusal(reason: string): Errors.MoleculerClientError {
	return new Errors.MoleculerClientError(`Call refused: no valid proof of origin (${reason})`, 401, "SERVICE_UNAUTHENTICATED");
}

export function ServiceKeyMiddleware(keys: { current: string; previous?: string } | undefined): Middleware {
	if (!keys) return {};
	const serviceKeys: ServiceKeys = { current: keys.current, previous: keys.previous };
	const guard = new ReplayGuard();
	const throttle = new LogThrottle();
	let broker: ServiceBroker;

	const middleware = {
		created(b: ServiceBroker) {
			broker = b;
		},

		// Plain functions that pass `this` (the Transit) on: Moleculer's own transit hooks read it.
		transitPublish(next: Publish): Publish {
			return function (this: unknown, packet) {
				if (SIGNED.has(packet.type)) {
					const proof = signProof(serviceKeys.current, packetFacts(packet.type, packet.payload, packet.target ?? ""));
					packet.payload = { ...packet.payload, meta: { ...(packet.payload.meta ?? {}), [PROOF_META]: proof } };
				}
				return next.call(this, packet);
			};
		},

		transitMessageHandler(next: MessageHandler): MessageHandler {
			return function (this: unknown, cmd, packet) {
				const payload = packet?.payload;
				// Even "our own" packets: the sender field is the packet's claim, not a fact.
				if (!SIGNED.has(cmd) || !payload) return next.call(this, cmd, packet);
				const meta = payload.meta ?? {};
				const proof = meta[PROOF_META];
				// Addressed to this node, or to no node in particular (either way, once per node).
				const inputs = [packetFacts(cmd, payload, broker.nodeID), packetFacts(cmd, payload, "")];
				const failure = verifyProof(serviceKeys, proof, inputs, guard);
				if (!failure) {
					delete meta[PROOF_META];
					return next.call(this, cmd, packet);
				}
				const name = printable((cmd === "REQ" ? payload.action : payload.event) ?? "?");
				const sender = printable(payload.sender ?? "?");
				throttle.run(`${sender}|${failure}`, (suppressed) =>
					broker.logger.warn(
						`Refused ${cmd === "REQ" ? "a call to" : "the event"} "${name}" from node "${sender}": ${failure} proof of origin${suppressed ? ` (${suppressed} more refused in the last minute)` : ""}`,
					),
				);
				if (cmd === "REQ" && payload.sender && payload.id) {
					const transit = broker.transit as Transit & {
						sendResponse(nodeID: string, id: string, meta: object, data: unknown, err: Error): Promise<void>;
					};
					return transit.sendResponse(payload.sender, payload.id, {}, null, refusal(failure)).then(() => true);
				}
				// Handled (dropped): a transporter must not redeliver it.
				return Promise.resolve(true);
			};
		},
	};
	// Moleculer's Middleware typing knows only action/event/call hooks, not the transit ones used here.
	return middleware as unknown as Middleware;
}
