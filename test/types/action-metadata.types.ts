/**
 * Type tests, checked by `tsc` (npm run build): each `@ts-expect-error` must
 * meet an error, or the build fails. They pin down that the action metadata
 * is typed (lib/action-schema.d.ts) and that handlers see the service's `this`.
 */
import type { Service } from "moleculer";
import { defineService } from "../../lib/service";
import type { Ctx } from "../../lib/types";

interface CounterThis extends Service {
	count(): number;
}

export const typed = defineService<Record<string, never>, CounterThis>({
	name: "type-test",
	actions: {
		ok: {
			rest: "GET /ok",
			roles: ["CLERK", "ADMIN"],
			status: 200,
			audit: true,
			summary: "A well-declared action",
			handler(ctx: Ctx<{ id: string }>) {
				// `this` is the service's declared This, without an annotation.
				return { id: ctx.params.id, n: this.count() };
			},
		},
		misspelledRole: {
			// @ts-expect-error "CLERC" is not a Role
			roles: ["CLERC"],
			handler() {
				return null;
			},
		},
		unknownStatus: {
			// @ts-expect-error 203 is not a success status an action may declare
			status: 203,
			handler() {
				return null;
			},
		},
		badAuth: {
			// @ts-expect-error auth is "public" or "required"
			auth: "anonymous",
			handler() {
				return null;
			},
		},
		unknownMethod: {
			handler() {
				// @ts-expect-error count() is the service's method, typed: it returns a number
				const n: string = this.count();
				return n;
			},
		},
	},
	methods: {
		count() {
			return this.name.length;
		},
	},
});
