/**
 * Cache cleaning in one place: a service that caches reads subscribes to the
 * `cache.clean.<name>` events of the services whose data its results contain,
 * and writers call `cleanCache(name)` after committing a change.
 */
import type { Service, ServiceSchema } from "moleculer";
import { INTERNAL_EVENTS } from "../lib/events";

export interface CacheCleanerThis {
	/** Tells every node to drop cached results that depend on `name`'s data. */
	cleanCache(name: string): Promise<void>;
}

export function CacheCleaner(dependsOn: string[]): Partial<ServiceSchema> {
	const events: Record<string, (this: Service) => Promise<void>> = {};
	for (const name of dependsOn) {
		events[INTERNAL_EVENTS.cacheClean(name)] = async function (this: Service) {
			// Broadcast events reach each node once; clean this service's cached actions there.
			await this.broker.cacher?.clean(`${this.fullName}.**`);
		};
	}
	return {
		events,
		methods: {
			async cleanCache(this: Service, name: string) {
				await this.broker.broadcast(INTERNAL_EVENTS.cacheClean(name));
			},
		},
	};
}
