/**
 * V8 settings for a request/response server, applied before the broker allocates.
 *
 * Allocation-site pretenuring off: V8 moves an allocation site's objects straight
 * to the old generation once they survive young-generation collections for a
 * while. A request's objects (its context, params, promises) live exactly as long
 * as the request, so a burst of slow requests can tenure their sites, and from
 * then on every request's garbage goes to the old generation and is freed by
 * full mark-compacts. Measured on `bench:gateway` (docs/performance.md): after a
 * warm-up of 200 sequential `fetch` requests the gateway cost 0.26-0.31 CPU ms per
 * request with pretenuring and 0.16-0.19 without (GC 8.6 % of the profile vs 1.9 %).
 */
import v8 from "node:v8";

/** Idempotent: setting a flag again changes nothing. */
export function applyRuntimeFlags(): void {
	v8.setFlagsFromString("--no-allocation-site-pretenuring");
}
