/**
 * Circuit breaker and bulkhead for calls to other nodes only.
 *
 * They protect a caller from a slow or failing remote node. A local, in-process
 * call has no network or remote queue between caller and handler, so guarding it
 * costs per-call work (state lookups, timers, metrics) and buys nothing; and a
 * breaker on the receiving side would let one client's bad requests close an
 * action for everyone. So Moleculer's own middlewares are reused, hooked on
 * `remoteAction` alone, with the options given here (the broker's own
 * `circuitBreaker` / `bulkhead` options stay disabled so the built-ins wrap
 * nothing). Events are never behind the bulkhead: its queue may reject, and an
 * event must not be dropped.
 *
 * Only dependency failures count toward opening the breaker (timeouts, a service
 * with no node, refused connections, a 503 from a store the callee needs):
 * never client errors (4xx, validation) and not bugs (a 500 from a TypeError is
 * the same on every try; opening would turn one bad input into an outage).
 */
import {
	Errors,
	Middlewares,
	type ActionHandler,
	type ActionSchema,
	type BrokerCircuitBreakerOptions,
	type BulkheadOptions,
	type Middleware,
	type ServiceBroker,
} from "moleculer";

const DEPENDENCY_TYPES = new Set([
	"REQUEST_TIMEOUT",
	"SERVICE_NOT_AVAILABLE",
	"SERVICE_UNAVAILABLE",
	"TOKEN_STORE_UNAVAILABLE",
	"REQUEST_REJECTED",
]);
const CONNECTION_FAILURE = /Connection|Timeout|ECONN|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENOTFOUND/;

/** True for a failure of something the callee depends on; false for client errors and for bugs. */
export function isDependencyFailure(err: unknown): boolean {
	if (!err || typeof err !== "object") return false;
	const e = err as { name?: unknown; code?: unknown; type?: unknown; message?: unknown };
	// By type first: Moleculer's "no node serves it" is a 404 by code.
	if (typeof e.type === "string" && DEPENDENCY_TYPES.has(e.type)) return true;
	if (err instanceof Errors.MoleculerClientError) return false;
	if (typeof e.code === "number" && e.code < 500) return false;
	if (e.code === 503 || e.code === 504) return true;
	return CONNECTION_FAILURE.test(`${String(e.name ?? "")} ${typeof e.code === "string" ? e.code : ""}`);
}

export interface RemoteGuardOptions {
	circuitBreaker: BrokerCircuitBreakerOptions;
	bulkhead: BulkheadOptions;
}

type WrapHook = (this: unknown, next: ActionHandler, action: ActionSchema) => ActionHandler;
interface BuiltIn {
	created?(broker: ServiceBroker): void;
	stopped?(): void;
	localAction: WrapHook;
	remoteAction?: WrapHook;
}

export function RemoteGuardsMiddleware(options: RemoteGuardOptions): Middleware {
	let view: ServiceBroker;
	let breaker: BuiltIn;
	let bulkhead: BuiltIn;
	return {
		created(broker: ServiceBroker) {
			// The built-ins read their options from `this.options` / `broker.options`: give them a view with ours, enabled.
			const opts = {
				...broker.options,
				circuitBreaker: { ...options.circuitBreaker, enabled: true },
				bulkhead: { ...options.bulkhead, enabled: true },
			};
			view = Object.create(broker, { options: { value: opts } }) as ServiceBroker;
			const builtIns = Middlewares as unknown as Record<"CircuitBreaker" | "Bulkhead", (b: ServiceBroker) => BuiltIn>;
			breaker = builtIns.CircuitBreaker.call(view, view);
			bulkhead = builtIns.Bulkhead.call(view, view);
			breaker.created?.(view);
			bulkhead.created?.(view);
		},
		remoteAction(next: ActionHandler, action: ActionSchema): ActionHandler {
			// Bulkhead outside the breaker: queued calls wait without counting; the breaker sees what reaches the wire.
			return bulkhead.localAction.call(view, breaker.localAction.call(view, next, action), action);
		},
		stopped() {
			breaker?.stopped?.();
		},
	};
}
