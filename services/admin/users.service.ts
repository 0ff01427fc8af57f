/**
 * admin.users: user management for administrators (docs/spec.md section 4, "User Management").
 * The users live in the auth schema: every route delegates to an auth action
 * (auth.listUsers, auth.setRole, auth.setStatus, auth.deleteUser, auth.userStats),
 * so the rules (the SELF_MODIFICATION guard included), token invalidation and events stay in one place.
 * Served under /api/v1/admin and /api/admin.
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { AuditMixin } from "../../mixins/audit.mixin";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { RETRY_READS, respondNoContent } from "../../lib/actions";
import type { Ctx } from "../../lib/types";
import { defineAdminModels, type AdminModels } from "./admin.model";
import * as P from "./admin.params";
import { defineService, type ServiceDefinition } from "../../lib/service";
import { call } from "../../lib/contracts";

type This = Service & DbThis<AdminModels>;

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "admin.users",
	// The admin schema's audit_log records every administrative change made here.
	mixins: [DbMixin({ schema: "admin", models: defineAdminModels }), AuditMixin],
	settings: { rest: "/admin" },

	actions: {
		list: {
			rest: "GET /users",
			roles: ["ADMIN"],
			retryPolicy: RETRY_READS,
			summary: "All users, paginated; filter by role or email",
			params: P.listUsersParams,
			handler(ctx: Ctx<P.ListUsersParams>) {
				return call(ctx, "auth.listUsers", ctx.params);
			},
		},

		// The spec names the route "machines"; it answers user statistics.
		stats: {
			rest: "GET /users/machines",
			roles: ["ADMIN", "EXECUTIVE"],
			retryPolicy: RETRY_READS,
			summary: "User analytics: counts by role and status, sign-ups per day, active users in the last 7/30 days",
			params: P.userStatsParams,
			handler(ctx: Ctx<P.UserStatsParams>) {
				return call(ctx, "auth.userStats", { days: ctx.params.days });
			},
		},

		setRole: {
			rest: "PUT /users/:userId/role",
			roles: ["ADMIN"],
			audit: true,
			summary: "Change a user's role (USER_ROLE_CHANGED); their older tokens stop working",
			params: P.setRoleParams,
			async handler(ctx: Ctx<P.SetRoleParams>) {
				return call(ctx, "auth.setRole", ctx.params);
			},
		},

		setStatus: {
			rest: "PUT /users/:userId/status",
			roles: ["ADMIN"],
			audit: true,
			summary: "Activate or deactivate a user; a deactivated user can't sign in and their tokens stop working",
			params: P.setStatusParams,
			async handler(ctx: Ctx<P.SetStatusParams>) {
				return call(ctx, "auth.setStatus", ctx.params);
			},
		},

		remove: {
			rest: "DELETE /users/:userId",
			roles: ["ADMIN"],
			audit: true,
			status: 204,
			summary: "Soft-delete a user: they can no longer sign in; their data stays",
			params: P.userIdParams,
			async handler(ctx: Ctx<P.UserIdParams>) {
				await call(ctx, "auth.deleteUser", ctx.params);
				return respondNoContent(ctx);
			},
		},
	},
};

export default defineService(schema);
