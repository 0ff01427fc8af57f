/**
 * The `this` of the auth service and its mixins, in a file of its own so the
 * mixins don't import auth.service.ts (which imports them).
 */
import type { Service } from "moleculer";
import type { Transaction } from "sequelize";
import type { DbThis } from "../../mixins/db.mixin";
import type { OutboxThis } from "../../mixins/outbox.mixin";
import type { Ctx } from "../../lib/types";
import type { TokenResponseBody } from "../../lib/contracts";
import type { AuthModels, PublicUser, User } from "./auth.model";
import type { SocketRevocation } from "../../lib/events";

/** Why a reset link is mailed: asked for, or a Google sign-in met this unverified account (google-login.mixin.ts). */
export type ResetMailReason = "forgot" | "googleConflict";

/** What sign-in, sign-up and refresh answer: the type of the declared response schema. */
export type TokenResponse = TokenResponseBody;

export interface AuthMethods {
	issueTokens(user: User, ctx: Ctx, familyId?: string, t?: Transaction): Promise<TokenResponse>;
	findActiveUser(id: string, t?: Transaction): Promise<User>;
	invalidateUserTokens(user: User, t: Transaction, reason?: SocketRevocation["reason"]): Promise<void>;
	signIn(user: User, ctx: Ctx, method: "password" | "google"): Promise<TokenResponse>;
}

export interface PasswordResetMethods {
	/** Stores a reset token for the user and mails the link in the background (a mail failure is logged, never thrown). */
	mailResetLink(user: User, reason: ResetMailReason): Promise<void>;
}

export interface EmailVerificationMethods {
	/** Stores a verification token for the user's current address (in `t` when given); returns the token to mail. */
	issueVerificationToken(user: User, t?: Transaction): Promise<string>;
	/** Mails the verification link in the background (a mail failure is logged, never thrown). */
	mailVerificationLink(user: Pick<User, "id" | "email" | "name">, token: string): void;
}

export type AuthThis = Service & DbThis<AuthModels> & OutboxThis & AuthMethods & PasswordResetMethods & EmailVerificationMethods;

export interface MeCacheThis extends AuthThis {
	cachedMe(userId: string): Promise<PublicUser>;
	forgetMe(userId: string): Promise<void>;
	forgetLocal(userId: string | undefined): void;
	meCache: {
		local: Map<string, { user: PublicUser; until: number }>;
		versions: Map<string, number>;
		hook: string;
		unlisten?: () => void;
	};
}
