/**
 * Internal actions for the admin service (services/admin/users.service.ts):
 * activate/deactivate a user (a deactivated user can't sign in, refresh, or use
 * any token issued before) and the user figures of GET /api/v1/admin/users/machines.
 */
import { QueryTypes } from "sequelize";
import { defineMixin } from "../../lib/service";
import { conflict } from "../../lib/errors";
import type { Ctx } from "../../lib/types";
import type { AuthThis } from "./auth.types";
import { toPublicUser } from "./auth.model";
import * as P from "./auth.params";
import type { Params, Result } from "../../lib/contracts";

/**
 * An administrator can't demote, deactivate or delete their own account (the last ADMIN would lock
 * everyone out). Checked here, in the auth actions, so /auth/users/... and /admin/users/... (which
 * delegates with the caller's meta) answer alike.
 */
export function assertNotSelf(ctx: Ctx<{ userId: string }>): void {
	if (ctx.meta.user?.id === ctx.params.userId)
		throw conflict("You can't change the role or status of your own account, or delete it", "SELF_MODIFICATION", {
			userId: ctx.params.userId,
		});
}

export const AdminUsersMixin = defineMixin<AuthThis>({
	actions: {
		/** Admin: activate or deactivate; a deactivated user can't sign in and every token they hold stops working. */
		setStatus: {
			visibility: "public",
			audit: true,
			params: P.setStatusParams,
			async handler(ctx: Ctx<Params<"auth.setStatus">>): Promise<Result<"auth.setStatus">> {
				assertNotSelf(ctx);
				return this.transaction(async (t) => {
					const user = await this.findActiveUser(ctx.params.userId, t);
					if (user.status === ctx.params.status) return toPublicUser(user);
					await user.update({ status: ctx.params.status }, { transaction: t });
					if (ctx.params.status === "INACTIVE") await this.invalidateUserTokens(user, t);
					return toPublicUser(user);
				});
			},
		},

		/** Admin: user figures (by role and status, sign-ups per day, recently active). */
		/** Sign-in security figures for the compliance report (the admin service reads no auth table). */
		signInSecurity: {
			visibility: "public",
			params: {},
			async handler(): Promise<Result<"auth.signInSecurity">> {
				const [r] = await this.db.query<{
					withFailures: number;
					failedAttempts: number;
					locked: number;
					inactive: number;
					deleted: number;
				}>(
					`SELECT count(*) FILTER (WHERE failed_logins > 0)::int AS "withFailures", coalesce(sum(failed_logins), 0)::int AS "failedAttempts",
					        count(*) FILTER (WHERE locked_until > now())::int AS locked, count(*) FILTER (WHERE status = 'INACTIVE' AND deleted_at IS NULL)::int AS inactive,
					        count(*) FILTER (WHERE deleted_at IS NOT NULL)::int AS deleted
					   FROM "${this.dbSchema}".users`,
					{ type: QueryTypes.SELECT },
				);
				return {
					accountsWithRecentFailedLogins: r.withFailures,
					failedLoginAttemptsSinceLastSuccess: r.failedAttempts,
					lockedAccounts: r.locked,
					inactiveAccounts: r.inactive,
					softDeletedAccounts: r.deleted,
				};
			},
		},

		userStats: {
			visibility: "public",
			params: { days: { type: "number", integer: true, min: 1, max: 366, default: 30 } },
			async handler(ctx: Ctx<Params<"auth.userStats">>): Promise<Result<"auth.userStats">> {
				const s = this.dbSchema;
				const q = <T extends object>(sql: string) =>
					this.db.query<T>(sql, { type: QueryTypes.SELECT, replacements: { days: ctx.params.days } });
				const [byRole, byStatus, signups, active] = await Promise.all([
					q<{ role: string; count: number }>(
						`SELECT role, count(*)::int AS count FROM "${s}".users WHERE deleted_at IS NULL GROUP BY role ORDER BY role`,
					),
					q<{ status: string; count: number }>(
						`SELECT status, count(*)::int AS count FROM "${s}".users WHERE deleted_at IS NULL GROUP BY status ORDER BY status`,
					),
					q<{ day: string; count: number }>(
						`SELECT to_char(date_trunc('day', created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS day, count(*)::int AS count FROM "${s}".users
						  WHERE created_at >= now() - make_interval(days => :days) GROUP BY 1 ORDER BY 1`,
					),
					q<{ total: number; deleted: number; active7: number; active30: number }>(
						`SELECT count(*) FILTER (WHERE deleted_at IS NULL)::int AS total, count(*) FILTER (WHERE deleted_at IS NOT NULL)::int AS deleted,
						        count(*) FILTER (WHERE deleted_at IS NULL AND last_login_at >= now() - interval '7 days')::int AS active7,
						        count(*) FILTER (WHERE deleted_at IS NULL AND last_login_at >= now() - interval '30 days')::int AS active30
						   FROM "${s}".users`,
					),
				]);
				const a = active[0];
				return {
					total: a.total,
					deleted: a.deleted,
					byRole: Object.fromEntries(byRole.map((r) => [r.role, r.count])),
					byStatus: Object.fromEntries(byStatus.map((r) => [r.status, r.count])),
					signupsPerDay: signups,
					activeLast7Days: a.active7,
					activeLast30Days: a.active30,
				};
			},
		},
	},
});
