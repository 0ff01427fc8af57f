/** Param schemas of the auth actions and the types derived from them. */
import { STRICT, email, password, phone, role, trimmed, uuid, type Infer } from "../../lib/params";

export const registerParams = { ...STRICT, email, password, name: trimmed(1, 120), phone } as const;
export const loginParams = { ...STRICT, email, password: { type: "string", min: 1, max: 256 } } as const;
export const refreshParams = { ...STRICT, refreshToken: { type: "string", min: 20, max: 512 } } as const;
export const logoutParams = { ...STRICT, refreshToken: { type: "string", min: 20, max: 512, optional: true } } as const;
export const verifyParams = { ...STRICT, token: { type: "string", min: 10, max: 4096 } } as const;
export const forgotPasswordParams = { ...STRICT, email } as const;
export const verifyEmailParams = { ...STRICT, token: { type: "string", min: 20, max: 512 } } as const;
export const resendVerificationParams = { ...STRICT } as const;
export const resetPasswordParams = { ...STRICT, token: { type: "string", min: 20, max: 512 }, password } as const;
export const changePasswordParams = { ...STRICT, currentPassword: { type: "string", min: 1, max: 256 }, newPassword: password } as const;
export const profileParams = {
	...STRICT,
	name: { ...trimmed(1, 120), optional: true },
	phone,
	preferences: { type: "object", optional: true, maxProps: 50 },
} as const;
// Validated here, forwarded by admin: one schema, in the contract catalog.
export { listUsersParams, setRoleParams, setStatusParams, userIdParams } from "../../lib/contracts";
import { listUsersParams, setRoleParams, setStatusParams, userIdParams } from "../../lib/contracts";
export const googleParams = { ...STRICT, idToken: { type: "string", min: 20, max: 8192 } } as const;
/** Internal: other services and operators create users of any role (never reachable over HTTP). */
export const createUserParams = { ...STRICT, email, password, name: trimmed(1, 120), role: { ...role, default: "PATRON" }, phone } as const;
export const getUsersParams = { ...STRICT, ids: { type: "array", items: uuid, max: 500 } } as const;

export type RegisterParams = Infer<typeof registerParams>;
export type LoginParams = Infer<typeof loginParams>;
export type RefreshParams = Infer<typeof refreshParams>;
export type LogoutParams = Infer<typeof logoutParams>;
export type VerifyParams = Infer<typeof verifyParams>;
export type ForgotPasswordParams = Infer<typeof forgotPasswordParams>;
export type VerifyEmailParams = Infer<typeof verifyEmailParams>;
export type ResendVerificationParams = Infer<typeof resendVerificationParams>;
export type ResetPasswordParams = Infer<typeof resetPasswordParams>;
export type ChangePasswordParams = Infer<typeof changePasswordParams>;
export type ProfileParams = Infer<typeof profileParams>;
export type ListUsersParams = Infer<typeof listUsersParams>;
export type SetRoleParams = Infer<typeof setRoleParams>;
export type UserIdParams = Infer<typeof userIdParams>;
export type SetStatusParams = Infer<typeof setStatusParams>;
export type GoogleParams = Infer<typeof googleParams>;
export type CreateUserParams = Infer<typeof createUserParams>;
export type GetUsersParams = Infer<typeof getUsersParams>;
