/**
 * Password reset: a single-use token (256 bits, stored hashed, 30 minutes)
 * mailed through SMTP_URL. Forgot-password answers the same whether or not the
 * account exists; resetting invalidates every older token of the user. Using a
 * mailed token proves the mailbox, so it also marks the email verified.
 */
import type { Context } from "moleculer";
import { Op } from "sequelize";
import { config } from "../../lib/config";
import { settingsOf } from "../../lib/settings";
import { defineMixin } from "../../lib/service";
import { unauthorized } from "../../lib/errors";
import type { Meta } from "../../lib/types";
import type { AuthThis, ResetMailReason } from "./auth.types";
import type { User } from "./auth.model";
import * as P from "./auth.params";
import { checkPasswordPolicy, hashPassword } from "./passwords";
import { hashToken, newOpaqueToken } from "./sessions";
import { sendMail } from "../../lib/mailer";

const RESET_TTL_MS = 30 * 60 * 1000;
const ACCEPTED = { message: "If an account exists for this email, a reset link has been sent." };

const INTROS: Record<ResetMailReason, string> = {
	forgot: "Use this link within 30 minutes to choose a new password:",
	googleConflict:
		"Someone just signed in with Google as this address, but an EisLager account with a password already exists for it and its address was never verified, so it was not linked.\n" +
		"Whether or not you created that account (someone else may have registered your address), use this link within 30 minutes to choose a new password. " +
		"That signs everyone else out of the account and verifies the address; after that, Google sign-in works for it:",
};

export const PasswordResetMixin = defineMixin<AuthThis>({
	actions: {
		forgotPassword: {
			rest: "POST /forgot-password",
			status: 202,
			auth: "public",
			rateLimit: "auth",
			summary: "Mail a password reset link (same answer whether or not the account exists)",
			params: P.forgotPasswordParams,
			async handler(ctx: Context<P.ForgotPasswordParams, Meta>) {
				const user = await this.models.User.findOne({ where: { email: ctx.params.email, status: "ACTIVE" } });
				if (!user) return ACCEPTED;
				await this.mailResetLink(user, "forgot");
				return ACCEPTED;
			},
		},

		resetPassword: {
			rest: "POST /reset-password",
			status: 200,
			auth: "public",
			rateLimit: "auth",
			audit: true,
			summary: "Set a new password with a reset token (works once)",
			params: P.resetPasswordParams,
			async handler(ctx: Context<P.ResetPasswordParams, Meta>) {
				const passwordHash = await hashPassword(ctx.params.password);
				await this.transaction(async (t) => {
					const reset = await this.models.PasswordResetToken.findOne({
						where: { tokenHash: hashToken(ctx.params.token), usedAt: null, expiresAt: { [Op.gt]: new Date() } },
						lock: t.LOCK.UPDATE,
						transaction: t,
					});
					if (!reset) throw unauthorized("Reset token is invalid, used or expired", "INVALID_RESET_TOKEN");
					const user = await this.findActiveUser(reset.userId, t);
					checkPasswordPolicy(ctx.params.password, user.email);
					// This link and every other outstanding link of the user stop working.
					await this.models.PasswordResetToken.update(
						{ usedAt: new Date() },
						{ where: { userId: user.id, usedAt: null }, transaction: t },
					);
					// The token came by mail to this address: the mailbox is proven, so the address is verified.
					await user.update(
						{ passwordHash, failedLogins: 0, lockedUntil: null, emailVerifiedAt: user.emailVerifiedAt ?? new Date() },
						{ transaction: t },
					);
					await this.invalidateUserTokens(user, t);
					ctx.locals.auditTarget = user.id;
				});
				return { message: "Password changed. Sign in with the new password." };
			},
		},
	},

	methods: {
		async mailResetLink(user: User, reason: ResetMailReason) {
			const token = newOpaqueToken();
			await this.models.PasswordResetToken.create({
				userId: user.id,
				tokenHash: hashToken(token),
				expiresAt: new Date(Date.now() + RESET_TTL_MS),
				usedAt: null,
			});
			const link = `${config().publicUrl}/reset-password?token=${encodeURIComponent(token)}`;
			const footer =
				reason === "forgot"
					? "If you did not ask for this, ignore this mail."
					: "If you did not just sign in with Google, ignore this mail.";
			// Sent in the background: waiting for SMTP would make a known address answer measurably slower.
			// A mail failure is logged, never returned (the answer must not reveal whether the account exists).
			const { siteName, supportEmail } = settingsOf(this.broker).settings;
			sendMail({
				to: user.email,
				replyTo: supportEmail,
				subject: reason === "forgot" ? `Reset your ${siteName} password` : `Your ${siteName} account and Google sign-in`,
				text: `Hello ${user.name},\n\n${INTROS[reason]}\n${link}\n\nReset token: ${token}\n\n${footer}\n\nQuestions: ${supportEmail}`,
			}).then(
				(sent) => {
					if (!sent) this.logger.warn("SMTP_URL is not set: password reset mail not sent", { userId: user.id });
				},
				(err: unknown) => this.logger.error("Password reset mail failed", { userId: user.id, err: (err as Error).message }),
			);
		},
	},
});
