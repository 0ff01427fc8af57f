/**
 * Email verification: registration mails a single-use token (256 bits, stored hashed,
 * 24 hours, bound to the address it was mailed to); POST /verify-email { token } marks the
 * address verified. Google sign-in links only to verified accounts (google-login.mixin.ts),
 * so registering someone else's address without proving it gains nothing.
 */
import type { Context } from "moleculer";
import { Op, type Transaction } from "sequelize";
import { config } from "../../lib/config";
import { settingsOf } from "../../lib/settings";
import { defineMixin } from "../../lib/service";
import { conflict, tooManyRequests, unauthorized } from "../../lib/errors";
import type { Meta } from "../../lib/types";
import type { AuthThis } from "./auth.types";
import type { User } from "./auth.model";
import * as P from "./auth.params";
import { hashToken, newOpaqueToken } from "./sessions";
import { sendMail } from "../../lib/mailer";

const VERIFY_TTL_MS = 24 * 60 * 60 * 1000;
/** One verification mail per user per minute at most, whatever the client IP (the auth limit is per IP). */
const RESEND_COOLDOWN_MS = 60 * 1000;
let warnedNoSmtp = false;

export const EmailVerificationMixin = defineMixin<AuthThis>({
	actions: {
		verifyEmail: {
			rest: "POST /verify-email",
			status: 200,
			auth: "public",
			rateLimit: "auth",
			audit: true,
			summary: "Verify the account's email address with the mailed token (works once)",
			params: P.verifyEmailParams,
			async handler(ctx: Context<P.VerifyEmailParams, Meta>) {
				await this.transaction(async (t) => {
					const row = await this.models.EmailVerificationToken.findOne({
						where: { tokenHash: hashToken(ctx.params.token), usedAt: null, expiresAt: { [Op.gt]: new Date() } },
						lock: t.LOCK.UPDATE,
						transaction: t,
					});
					const user = row && (await this.models.User.findByPk(row.userId, { transaction: t, lock: t.LOCK.UPDATE }));
					// A token verifies the address it was mailed to, for a live account, once.
					if (!row || !user || user.email !== row.email)
						throw unauthorized("Verification token is invalid, used or expired", "INVALID_VERIFICATION_TOKEN");
					ctx.locals.auditTarget = user.id;
					await this.models.EmailVerificationToken.update(
						{ usedAt: new Date() },
						{ where: { userId: user.id, usedAt: null }, transaction: t },
					);
					if (!user.emailVerifiedAt) await user.update({ emailVerifiedAt: new Date() }, { transaction: t });
				});
				return { message: "Email address verified.", emailVerified: true };
			},
		},

		resendVerification: {
			rest: "POST /resend-verification",
			status: 202,
			rateLimit: "auth",
			audit: true,
			summary: "Mail a new verification link to the signed-in user's address (once a minute; 409 when already verified)",
			params: P.resendVerificationParams,
			async handler(ctx: Context<P.ResendVerificationParams, Meta>) {
				const user = await this.findActiveUser(ctx.meta.user!.id);
				if (user.emailVerifiedAt) throw conflict("This email address is already verified", "EMAIL_ALREADY_VERIFIED");
				const last = await this.models.EmailVerificationToken.findOne({
					where: { userId: user.id },
					order: [["createdAt", "DESC"]],
				});
				const wait = last ? last.createdAt.getTime() + RESEND_COOLDOWN_MS - Date.now() : 0;
				if (wait > 0) throw tooManyRequests("A verification mail was sent a moment ago", "RATE_LIMITED", Math.ceil(wait / 1000));
				this.mailVerificationLink(user, await this.issueVerificationToken(user));
				return { message: "A verification link has been sent." };
			},
		},
	},

	methods: {
		async issueVerificationToken(user: User, t?: Transaction) {
			const token = newOpaqueToken();
			await this.models.EmailVerificationToken.create(
				{
					userId: user.id,
					email: user.email,
					tokenHash: hashToken(token),
					expiresAt: new Date(Date.now() + VERIFY_TTL_MS),
					usedAt: null,
				},
				{ transaction: t },
			);
			return token;
		},

		mailVerificationLink(user: Pick<User, "id" | "email" | "name">, token: string) {
			const link = `${config().publicUrl}/verify-email?token=${encodeURIComponent(token)}`;
			// In the background, like the reset mail: registration must not wait for SMTP.
			const { siteName, supportEmail } = settingsOf(this.broker).settings;
			sendMail({
				to: user.email,
				replyTo: supportEmail,
				subject: `Confirm your ${siteName} email address`,
				text: `Hello ${user.name},\n\nUse this link within 24 hours to confirm this address for your ${siteName} account:\n${link}\n\nVerification token: ${token}\n\nIf you did not create a ${siteName} account, ignore this mail: do not open the link.\n\nQuestions: ${supportEmail}`,
			}).then(
				(sent) => {
					// Once per process: without SMTP (development) every registration would warn.
					if (!sent && !warnedNoSmtp)
						this.logger.warn("SMTP_URL is not set: verification mails are not sent", { userId: user.id });
					warnedNoSmtp ||= !sent;
				},
				(err: unknown) => this.logger.error("Verification mail failed", { userId: user.id, err: (err as Error).message }),
			);
		},
	},
});
