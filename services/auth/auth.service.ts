/**
 * auth: accounts, passwords, sessions and tokens (docs/spec.md section 1).
 * Served under /api/v1/auth, /api/auth and /auth.
 */
import { randomUUID } from "node:crypto";
import type { ServiceSettingSchema } from "moleculer";
import { Op, type Transaction, type WhereOptions } from "sequelize";
import { DbMixin } from "../../mixins/db.mixin";
import { OutboxMixin } from "../../mixins/outbox.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { SettingsMixin } from "../../mixins/settings.mixin";
import { activeMaintenance, settingsOf } from "../../lib/settings";
import { isExternalCall } from "../../middlewares/authorization.middleware";
import { config } from "../../lib/config";
import { conflict, maintenance, nestedTooDeep, notFound, registrationClosed, unauthorized, validationError } from "../../lib/errors";
import { nestsDeeperThan } from "../../lib/validator";
import { findOptions, toPage } from "../../lib/pagination";
import { respondCreated, respondNoContent } from "../../lib/actions";
import { invalidateTokensBefore, revokeAccessToken, revokeTokenFamily, signAccessToken, verifyAccessToken } from "../../lib/tokens";
import { closeRevokedSockets } from "../../lib/presence";
import type { Role, Ctx } from "../../lib/types";
import type { SocketRevocation } from "../../lib/events";
import { defineAuthModels, toPublicUser, type User } from "./auth.model";
import * as P from "./auth.params";
import { checkPasswordPolicy, hashPassword, verifyPassword } from "./passwords";
import { assertNotLocked, currentLock, recordAccountFailure, recordUnknownFailure } from "./lockout";
import { hashToken, newOpaqueToken } from "./sessions";
import { PasswordResetMixin } from "./password-reset.mixin";
import { EmailVerificationMixin } from "./email-verification.mixin";
import { GoogleLoginMixin } from "./google-login.mixin";
import { AdminUsersMixin, assertNotSelf } from "./admin-users.mixin";
import { MeCacheMixin } from "./me-cache.mixin";
import type { AuthThis, TokenResponse } from "./auth.types";
import { defineService, type ServiceDefinition } from "../../lib/service";
import { TokenResponseSchema, UserViewSchema, type Params, type Result } from "../../lib/contracts";

/** A user's free-form preferences (PUT /auth/profile): at most this much JSON, this deep. */
const PREFERENCES_MAX_BYTES = 4096;
const PREFERENCES_MAX_DEPTH = 4;

const schema: ServiceDefinition<ServiceSettingSchema, AuthThis> = {
	name: "auth",
	mixins: [
		DbMixin({ schema: "auth", models: defineAuthModels }),
		OutboxMixin,
		AuditMixin,
		PasswordResetMixin,
		EmailVerificationMixin,
		GoogleLoginMixin,
		AdminUsersMixin,
		MeCacheMixin,
		SettingsMixin,
	],
	settings: { rest: "/auth" },

	actions: {
		register: {
			rest: "POST /register",
			response: TokenResponseSchema,
			auth: "public",
			rateLimit: "auth",
			audit: true,
			summary: "Create an account (always PATRON, email not yet verified: a verification link is mailed) and sign in",
			params: P.registerParams,
			async handler(ctx: Ctx<P.RegisterParams>) {
				const { email, password, name, phone } = ctx.params;
				if (!settingsOf(this.broker).settings.registrationOpen) throw registrationClosed();
				checkPasswordPolicy(password, email);
				const passwordHash = await hashPassword(password);
				const { tokens, verification } = await this.transaction(async (t) => {
					if (await this.models.User.findOne({ where: { email }, transaction: t }))
						throw conflict("An account with this email already exists", "EMAIL_TAKEN", { field: "email" });
					// A new account speaks the platform's default language until its owner picks one (PUT /profile).
					const preferences = { language: settingsOf(this.broker).settings.defaultLanguage };
					const user = await this.models.User.create(
						{
							email,
							passwordHash,
							name,
							phone: phone ?? null,
							preferences,
							googleSub: null,
							lockedUntil: null,
							lastLoginAt: null,
							deletedAt: null,
						},
						{ transaction: t },
					);
					return {
						tokens: await this.issueTokens(user, ctx, undefined, t),
						verification: await this.issueVerificationToken(user, t),
					};
				});
				this.mailVerificationLink(tokens.user, verification);
				respondCreated(ctx, "/api/v1/auth/me");
				return tokens;
			},
		},

		login: {
			rest: "POST /login",
			response: TokenResponseSchema,
			status: 200,
			auth: "public",
			rateLimit: "auth",
			// Sign-ins and failed attempts are part of the audit trail (compliance report).
			audit: true,
			summary: "Sign in with email and password",
			params: P.loginParams,
			async handler(ctx: Ctx<P.LoginParams>) {
				const { email, password } = ctx.params;
				const user = await this.models.User.findOne({ where: { email } });
				if (user) ctx.locals.auditTarget = user.id;
				assertNotLocked(await currentLock(email, user));
				const ok = await verifyPassword(user?.passwordHash ?? null, password);
				if (!user || !ok || user.status !== "ACTIVE") {
					if (!user) await recordUnknownFailure(email);
					else if (!ok) await recordAccountFailure(this.db, this.dbSchema, user.id);
					// Same answer for an unknown email and a wrong password.
					throw unauthorized("Invalid email or password", "INVALID_CREDENTIALS");
				}
				return this.signIn(user, ctx, "password");
			},
		},

		refresh: {
			rest: "POST /refresh",
			response: TokenResponseSchema,
			status: 200,
			auth: "public",
			audit: true,
			summary: "Exchange a refresh token for new tokens (rotation; reuse revokes the family)",
			params: P.refreshParams,
			async handler(ctx: Ctx<P.RefreshParams>) {
				const outcome = await this.transaction(async (t) => {
					const tokenHash = hashToken(ctx.params.refreshToken);
					const found = await this.models.UserSession.findOne({ where: { tokenHash }, transaction: t });
					if (!found) return { error: "INVALID_REFRESH_TOKEN" as const };
					// The user before the session, as a role change or deactivation locks them: one in flight finishes first
					// (and revokes this session), or waits for this refresh and then revokes the session it creates.
					const user = await this.models.User.findByPk(found.userId, { lock: t.LOCK.SHARE, transaction: t });
					const session = await this.models.UserSession.findOne({ where: { tokenHash }, lock: t.LOCK.UPDATE, transaction: t });
					if (!session) return { error: "INVALID_REFRESH_TOKEN" as const };
					ctx.locals.auditTarget = session.userId;
					if (session.rotatedAt || session.revokedAt) {
						await this.models.UserSession.update(
							{ revokedAt: new Date() },
							{ where: { familyId: session.familyId, revokedAt: null }, transaction: t },
						);
						return { error: "REFRESH_TOKEN_REUSED" as const, familyId: session.familyId, userId: session.userId };
					}
					if (session.expiresAt <= new Date()) return { error: "REFRESH_TOKEN_EXPIRED" as const };
					if (!user || user.status !== "ACTIVE" || session.createdAt < user.tokensValidAfter)
						return { error: "INVALID_REFRESH_TOKEN" as const };
					await session.update({ rotatedAt: new Date() }, { transaction: t });
					return { tokens: await this.issueTokens(user, ctx, session.familyId, t) };
				});
				if ("error" in outcome) {
					// A replayed token means it leaked: the access tokens of that login die too, not only its refresh tokens.
					// Sockets of that login close too: they were opened with its access tokens and would keep receiving pushes.
					if ("familyId" in outcome && outcome.familyId) {
						await revokeTokenFamily(outcome.familyId);
						await closeRevokedSockets(ctx, { userId: outcome.userId, families: [outcome.familyId] });
					}
					throw unauthorized("Refresh token is not valid", outcome.error);
				}
				return outcome.tokens;
			},
		},

		logout: {
			rest: "POST /logout",
			status: 204,
			summary: "Revoke the current access token and its session",
			audit: true,
			params: P.logoutParams,
			async handler(ctx: Ctx<P.LogoutParams>) {
				const user = ctx.meta.user!;
				await revokeAccessToken(user.jti, user.exp);
				const families = new Set<string>();
				if (user.sid) {
					const current = await this.models.UserSession.findByPk(user.sid);
					if (current) families.add(current.familyId);
				}
				if (ctx.params.refreshToken) {
					const given = await this.models.UserSession.findOne({
						where: { tokenHash: hashToken(ctx.params.refreshToken), userId: user.id },
					});
					if (given) families.add(given.familyId);
				}
				if (families.size)
					await this.models.UserSession.update(
						{ revokedAt: new Date() },
						{ where: { familyId: [...families], revokedAt: null } },
					);
				await Promise.all([...families].map((f) => revokeTokenFamily(f)));
				await closeRevokedSockets(ctx, { userId: user.id, jti: user.jti, families: [...families] });
				return respondNoContent(ctx);
			},
		},

		me: {
			rest: "GET /me",
			response: UserViewSchema,
			summary: "The signed-in user's profile",
			// From memory or the cacher, dropped whenever the user row changes (me-cache.mixin.ts).
			handler(ctx: Ctx<Record<string, never>>) {
				return this.cachedMe(ctx.meta.user!.id);
			},
		},

		verify: {
			rest: "POST /verify",
			status: 200,
			auth: "public",
			summary: "Check an access token: 200 with its subject, or 401 with the reason",
			params: P.verifyParams,
			async handler(ctx: Ctx<P.VerifyParams>) {
				const user = await verifyAccessToken(ctx.params.token);
				return { valid: true, userId: user.id, role: user.role, expiresAt: new Date(user.exp * 1000).toISOString() };
			},
		},

		changePassword: {
			rest: "PUT /change-password",
			audit: true,
			summary: "Change the password; older tokens stop working, fresh ones are returned",
			params: P.changePasswordParams,
			async handler(ctx: Ctx<P.ChangePasswordParams>) {
				const user = await this.findActiveUser(ctx.meta.user!.id);
				if (!(await verifyPassword(user.passwordHash, ctx.params.currentPassword)))
					throw validationError("currentPassword", "The current password is wrong.", "wrongPassword");
				checkPasswordPolicy(ctx.params.newPassword, user.email, "newPassword");
				const passwordHash = await hashPassword(ctx.params.newPassword);
				return this.transaction(async (t) => {
					await user.update({ passwordHash }, { transaction: t });
					await this.invalidateUserTokens(user, t);
					return this.issueTokens(user, ctx, undefined, t);
				});
			},
		},

		profile: {
			rest: "PUT /profile",
			audit: true,
			summary: "Update name, phone or preferences",
			params: P.profileParams,
			async handler(ctx: Ctx<P.ProfileParams>) {
				const { name, phone, preferences } = ctx.params;
				// Free-form, but small: it is returned by every /me and cached per user.
				if (preferences !== undefined) {
					if (nestsDeeperThan(preferences, PREFERENCES_MAX_DEPTH)) throw nestedTooDeep("preferences", PREFERENCES_MAX_DEPTH);
					if (Buffer.byteLength(JSON.stringify(preferences)) > PREFERENCES_MAX_BYTES)
						throw validationError(
							"preferences",
							`The 'preferences' field must be at most ${PREFERENCES_MAX_BYTES} bytes as JSON.`,
							"maxBytes",
						);
				}
				const user = await this.findActiveUser(ctx.meta.user!.id);
				await user.update({
					...(name !== undefined && { name }),
					...(phone !== undefined && { phone }),
					...(preferences !== undefined && { preferences }),
				});
				return toPublicUser(user);
			},
		},

		listUsers: {
			rest: "GET /users",
			roles: ["ADMIN"],
			summary: "All users, paginated; filter by role or email",
			params: P.listUsersParams,
			async handler(ctx: Ctx<P.ListUsersParams>): Promise<Result<"auth.listUsers">> {
				const where: WhereOptions = {};
				if (ctx.params.role) Object.assign(where, { role: ctx.params.role });
				if (ctx.params.email) Object.assign(where, { email: { [Op.iLike]: `%${ctx.params.email.replace(/[\\%_]/g, "\\$&")}%` } });
				const { rows, count } = await this.models.User.findAndCountAll({ where, ...findOptions(ctx.params, "-createdAt") });
				return toPage(rows.map(toPublicUser), count, ctx.params);
			},
		},

		setRole: {
			rest: "PUT /users/:userId/role",
			roles: ["ADMIN"],
			audit: true,
			summary: "Change a user's role; their older tokens stop working",
			params: P.setRoleParams,
			async handler(ctx: Ctx<Params<"auth.setRole">>): Promise<Result<"auth.setRole">> {
				assertNotSelf(ctx);
				return this.transaction(async (t) => {
					const user = await this.findActiveUser(ctx.params.userId, t);
					const previousRole = user.role;
					if (previousRole === ctx.params.role) return toPublicUser(user);
					await user.update({ role: ctx.params.role }, { transaction: t });
					await this.invalidateUserTokens(user, t, "ROLE_CHANGED");
					await this.publish(
						t,
						ctx,
						"USER_ROLE_CHANGED",
						{ userId: user.id, previousRole, role: ctx.params.role, changedBy: ctx.meta.user?.id ?? null },
						user.id,
					);
					return toPublicUser(user);
				});
			},
		},

		deleteUser: {
			rest: "DELETE /users/:userId",
			roles: ["ADMIN"],
			audit: true,
			summary: "Soft-delete a user: they can no longer sign in; their data stays",
			params: P.userIdParams,
			async handler(ctx: Ctx<Params<"auth.deleteUser">>): Promise<Result<"auth.deleteUser">> {
				assertNotSelf(ctx);
				await this.transaction(async (t) => {
					const user = await this.findActiveUser(ctx.params.userId, t);
					await this.invalidateUserTokens(user, t);
					await user.destroy({ transaction: t });
				});
				return respondNoContent(ctx);
			},
		},

		// ---- internal actions (no REST route; trusted callers: services, REPL, seeding) ----

		createUser: {
			visibility: "public",
			params: P.createUserParams,
			async handler(ctx: Ctx<P.CreateUserParams>) {
				const { email, password, name, role, phone } = ctx.params;
				const passwordHash = await hashPassword(password);
				if (await this.models.User.findOne({ where: { email } }))
					throw conflict("An account with this email already exists", "EMAIL_TAKEN", { field: "email" });
				const user = await this.models.User.create({
					email,
					passwordHash,
					name,
					role: role as Role,
					phone: phone ?? null,
					googleSub: null,
					lockedUntil: null,
					lastLoginAt: null,
					deletedAt: null,
				});
				return toPublicUser(user);
			},
		},

		getUsers: {
			visibility: "public",
			cache: { keys: ["ids"], ttl: 30 },
			params: P.getUsersParams,
			async handler(ctx: Ctx<Params<"auth.getUsers">>): Promise<Result<"auth.getUsers">> {
				const users = await this.models.User.findAll({ where: { id: ctx.params.ids } });
				return users.map(toPublicUser);
			},
		},

		resolveToken: {
			visibility: "public",
			params: P.verifyParams,
			handler(ctx: Ctx<P.VerifyParams>) {
				return verifyAccessToken(ctx.params.token);
			},
		},
	},

	methods: {
		async issueTokens(user: User, ctx: Ctx<unknown>, familyId?: string, t?: Transaction): Promise<TokenResponse> {
			// During a maintenance window only ADMINs sign in from outside (the gateway lets sign-in through for them).
			const window = activeMaintenance(settingsOf(this.broker));
			if (window && user.role !== "ADMIN" && isExternalCall(ctx)) throw maintenance(window.message, window.endsAt);
			const refreshToken = newOpaqueToken();
			const session = await this.models.UserSession.create(
				{
					userId: user.id,
					familyId: familyId ?? randomUUID(),
					tokenHash: hashToken(refreshToken),
					expiresAt: new Date(Date.now() + config().jwt.refreshTtlSec * 1000),
					ipAddress: ctx.meta.ip ?? null,
					userAgent: ctx.meta.userAgent ?? null,
					rotatedAt: null,
					revokedAt: null,
				},
				{ transaction: t },
			);
			const access = signAccessToken(user, session.id, session.familyId);
			return { accessToken: access.token, refreshToken, tokenType: "Bearer", expiresIn: access.expiresIn, user: toPublicUser(user) };
		},

		async findActiveUser(id: string, t?: Transaction): Promise<User> {
			const user = await this.models.User.findByPk(id, { transaction: t, lock: t ? t.LOCK.UPDATE : undefined });
			if (!user) throw notFound("User", id);
			return user;
		},

		/** Role change, password change, deletion: every older access and refresh token stops working. */
		async invalidateUserTokens(user: User, t: Transaction, reason?: SocketRevocation["reason"]): Promise<void> {
			const at = await invalidateTokensBefore(user.id);
			await user.update({ tokensValidAfter: at }, { transaction: t });
			await this.models.UserSession.update({ revokedAt: at }, { where: { userId: user.id, revokedAt: null }, transaction: t });
			// Open sockets hold tokens too: every gateway node closes the user's older ones.
			t.afterCommit(
				() =>
					void closeRevokedSockets(this.broker, { userId: user.id, issuedBefore: at.getTime(), reason }).catch((err: Error) =>
						this.logger.warn("Closing revoked sockets failed:", err.message),
					),
			);
		},

		/**
		 * Records the sign-in and issues its tokens, with the user re-read under the row lock a role change, a
		 * deactivation or a deletion takes: a token is never signed with a role or status that changed while the
		 * password was checked (one that changes after signs it off by its issue time).
		 */
		async signIn(checked: User, ctx: Ctx<unknown>, method: "password" | "google"): Promise<TokenResponse> {
			return this.transaction(async (t) => {
				const user = await this.models.User.findByPk(checked.id, { lock: t.LOCK.UPDATE, transaction: t });
				if (!user || user.status !== "ACTIVE")
					throw method === "password"
						? unauthorized("Invalid email or password", "INVALID_CREDENTIALS")
						: unauthorized("Account is deactivated", "ACCOUNT_INACTIVE");
				await user.update({ failedLogins: 0, lockedUntil: null, lastLoginAt: new Date() }, { transaction: t });
				await this.publish(t, ctx, "USER_LOGIN", { userId: user.id, role: user.role, method, ip: ctx.meta.ip ?? null }, user.id);
				return this.issueTokens(user, ctx, undefined, t);
			});
		},
	},

	async started() {
		const admin = config().bootstrapAdmin;
		if (!admin) return;
		const passwordHash = await hashPassword(admin.password);
		const [, created] = await this.models.User.findOrCreate({
			where: { email: admin.email },
			defaults: {
				email: admin.email,
				passwordHash,
				name: "Administrator",
				role: "ADMIN",
				phone: null,
				googleSub: null,
				lockedUntil: null,
				lastLoginAt: null,
				deletedAt: null,
			},
		});
		if (created) this.logger.info(`Bootstrap ADMIN ${admin.email} created`);
	},
};

export default defineService(schema);
