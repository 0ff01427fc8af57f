/**
 * The project's action metadata, made part of Moleculer's `ActionSchema` so a
 * misspelled role or status fails `tsc`. Read by middlewares/authorization.middleware.ts
 * (auth, roles), mixins/audit.mixin.ts (audit), the gateway's limiter (rateLimit),
 * middlewares/response-status.middleware.ts (status) and services/gateway/openapi.ts (all).
 */
import type { Access } from "./access";
import type { ActionStatus } from "./actions";
import type { Schema } from "./response";
import type { Role } from "./types";

declare module "moleculer" {
	interface ActionSchema {
		/** "public": anyone may call it from outside; "device": a machine client (freezer sensor) with its own key, not a user token; otherwise ("required", the default) a verified user. */
		auth?: "public" | "required" | "device";
		/** The roles an external caller must have (deny-by-default: unlisted roles get 403). */
		roles?: readonly Role[];
		/** Record the call in the service's audit trail (mixins/audit.mixin.ts). */
		audit?: boolean;
		/** "auth": the stricter per-IP limiter of the sign-in routes. */
		rateLimit?: "auth";
		/** One line for the OpenAPI document. */
		summary?: string;
		description?: string;
		/** Who owns the entity the action acts on (lib/access.ts), checked by middlewares/ownership.middleware.ts. */
		access?: Access;
		/** The success body's schema (lib/response.ts), emitted in the OpenAPI document. */
		response?: Schema<unknown>;
		/** The HTTP success status, declared once (lib/actions.ts). */
		status?: ActionStatus;
	}
}
