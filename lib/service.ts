/** Typing helpers for service schemas and mixins. */
import type { ServiceSchema, ServiceSettingSchema } from "moleculer";

/**
 * A mixin typed against the `this` it runs with. Moleculer types lifecycle
 * handlers against the plain Service, so the typed schema is widened here,
 * once, instead of casting `this` in every handler.
 */
export function defineMixin<This, S = ServiceSettingSchema>(schema: Partial<ServiceSchema<S, This>>): Partial<ServiceSchema> {
	return schema as Partial<ServiceSchema>;
}
