/**
 * Typing helpers for service schemas and mixins.
 *
 * Moleculer types every handler's `this` as the plain `Service`, so a service
 * that calls its own methods or mixin members would need a `this:` annotation
 * on each handler and a cast of the whole schema. `ServiceDefinition` carries
 * `ThisType<This>` into actions, methods, events, hooks and lifecycle handlers,
 * and `defineService`/`defineMixin` widen the typed schema to Moleculer's, once.
 */
import type {
	ActionHandler,
	ActionSchema,
	Service,
	ServiceEvent,
	ServiceEventHandler,
	ServiceHooks,
	ServiceSchema,
	ServiceSettingSchema,
} from "moleculer";

type Lifecycle<This> = ((this: This) => void | Promise<void>) | ((this: This) => void | Promise<void>)[];

interface Definition<S, This> {
	name: string;
	version?: string | number;
	settings?: S;
	dependencies?: ServiceSchema["dependencies"];
	metadata?: ServiceSchema["metadata"];
	mixins?: Partial<ServiceSchema>[];
	actions?: { [name: string]: ActionSchema | ActionHandler | boolean } & ThisType<This>;
	// eslint-disable-next-line @typescript-eslint/no-explicit-any -- methods take any arguments, as in Moleculer's ServiceMethods
	methods?: { [name: string]: (...args: any[]) => any } & ThisType<This>;
	events?: { [name: string]: ServiceEvent | ServiceEventHandler | ActionHandler<void> } & ThisType<This>;
	hooks?: ServiceHooks & ThisType<This>;
	created?: Lifecycle<This>;
	started?: Lifecycle<This>;
	stopped?: Lifecycle<This>;
	/** Mixin-specific keys (moleculer-db's `adapter`, `model`, …), as Moleculer allows. */
	// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Moleculer's ServiceSchema has the same open index
	[key: string]: any;
}

/** A service schema whose handlers run with `this: This`. */
export type ServiceDefinition<S = ServiceSettingSchema, This = Service<S>> = Definition<S, This> & ThisType<This>;

/** A service typed against the `this` it runs with (`ThisType<This>`), widened to Moleculer's schema. */
export function defineService<S = ServiceSettingSchema, This = Service<S>>(schema: ServiceDefinition<S, This>): ServiceSchema<S> {
	return schema as unknown as ServiceSchema<S>;
}

/** A mixin typed against the `this` it runs with. */
export function defineMixin<This, S = ServiceSettingSchema>(schema: Partial<Definition<S, This>> & ThisType<This>): Partial<ServiceSchema> {
	return schema as unknown as Partial<ServiceSchema>;
}
