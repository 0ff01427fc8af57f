/**
 * Event handlers are never behind the bulkhead. Moleculer's bulkhead also wraps
 * local event handlers and rejects deliveries with QueueIsFullError once its
 * queue is full: for an event that is a silent drop, not an honest 503. Actions
 * keep the bulkhead. (Durable consumers don't depend on broker events at all:
 * they tail the outboxes, lib/event-stream.ts; what is left on the broker is live
 * views: socket pushes, cache cleaning, relay wake-ups, the app log.)
 * Must be registered before the internal middlewares (user middlewares are), so the
 * bulkhead sees `bulkhead.enabled = false` on every event.
 */
import type { ActionHandler, Middleware, ServiceEvent } from "moleculer";

export const EventsUnboundedMiddleware: Middleware = {
	localEvent(next: ActionHandler, event: ServiceEvent) {
		const def = event as ServiceEvent & { bulkhead?: { enabled?: boolean } };
		def.bulkhead = { ...def.bulkhead, enabled: false };
		return next;
	},
};
