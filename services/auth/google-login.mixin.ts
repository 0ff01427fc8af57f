/**
 * Google sign-in: POST /google { idToken }. The ID token is verified against
 * GOOGLE_JWKS_URL (signature, issuer, audience GOOGLE_CLIENT_ID, expiry); the
 * account is found by Google subject, or created as PATRON (its email verified by Google),
 * or linked by email, but only to an account whose email is verified: otherwise whoever
 * registered that address may not own it (pre-hijacking), so the answer is 409
 * ACCOUNT_EXISTS_UNVERIFIED and the address's owner gets a reset link that settles it.
 */
import type { Context } from "moleculer";
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from "jose";
import { config } from "../../lib/config";
import { defineMixin } from "../../lib/service";
import { conflict, registrationClosed, serviceUnavailable, unauthorized } from "../../lib/errors";
import { settingsOf } from "../../lib/settings";
import type { Meta } from "../../lib/types";
import type { AuthThis } from "./auth.types";
import * as P from "./auth.params";

const GOOGLE_ISSUERS = ["https://accounts.google.com", "accounts.google.com"];

interface GoogleClaims extends JWTPayload {
	email?: string;
	email_verified?: boolean;
	name?: string;
}

const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

async function verifyGoogleIdToken(idToken: string): Promise<GoogleClaims> {
	const { clientId, jwksUrl } = config().google;
	if (!clientId) throw serviceUnavailable("Google sign-in is not configured", "GOOGLE_LOGIN_DISABLED");
	let keys = keySets.get(jwksUrl);
	if (!keys) keySets.set(jwksUrl, (keys = createRemoteJWKSet(new URL(jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 })));
	try {
		const { payload } = await jwtVerify(idToken, keys, { issuer: GOOGLE_ISSUERS, audience: clientId, algorithms: ["RS256"] });
		return payload as GoogleClaims;
	} catch {
		throw unauthorized("Google ID token is not valid", "INVALID_GOOGLE_TOKEN");
	}
}

export const GoogleLoginMixin = defineMixin<AuthThis>({
	actions: {
		google: {
			rest: "POST /google",
			status: 200,
			auth: "public",
			rateLimit: "auth",
			audit: true,
			summary:
				"Sign in with a Google ID token: creates the account, or links one whose email is verified (409 ACCOUNT_EXISTS_UNVERIFIED otherwise)",
			params: P.googleParams,
			async handler(ctx: Context<P.GoogleParams, Meta>) {
				const claims = await verifyGoogleIdToken(ctx.params.idToken);
				const email = claims.email?.toLowerCase();
				if (!claims.sub || !email || claims.email_verified !== true)
					throw unauthorized("Google account has no verified email", "INVALID_GOOGLE_TOKEN");
				const found = await this.transaction(async (t) => {
					const bySub = await this.models.User.findOne({ where: { googleSub: claims.sub }, transaction: t, lock: t.LOCK.UPDATE });
					if (bySub) return { user: bySub, unverified: false };
					const byEmail = await this.models.User.findOne({ where: { email }, transaction: t, lock: t.LOCK.UPDATE });
					if (byEmail && !byEmail.emailVerifiedAt) return { user: byEmail, unverified: true };
					if (byEmail) return { user: await byEmail.update({ googleSub: claims.sub }, { transaction: t }), unverified: false };
					// Signing in links existing accounts; creating a new one is a registration.
					if (!settingsOf(this.broker).settings.registrationOpen) throw registrationClosed();
					const created = await this.models.User.create(
						{
							email,
							passwordHash: null,
							name: (claims.name ?? email.split("@")[0]).slice(0, 120),
							phone: null,
							preferences: { language: settingsOf(this.broker).settings.defaultLanguage },
							googleSub: claims.sub,
							emailVerifiedAt: new Date(),
							lockedUntil: null,
							lastLoginAt: null,
							deletedAt: null,
						},
						{ transaction: t },
					);
					return { user: created, unverified: false };
				});
				const user = found.user;
				if (found.unverified) {
					// The Google user owns this mailbox (Google verified it); the account's password holder may not.
					ctx.locals.auditTarget = user.id;
					if (user.status === "ACTIVE") await this.mailResetLink(user, "googleConflict");
					throw conflict(
						"An account with this email exists but its address was never verified, so it can't be linked to Google. A mail with a link to confirm it was sent to the address.",
						"ACCOUNT_EXISTS_UNVERIFIED",
					);
				}
				if (user.status !== "ACTIVE") throw unauthorized("Account is deactivated", "ACCOUNT_INACTIVE");
				return this.signIn(user, ctx, "google");
			},
		},
	},
});
