/**
 * Email verification and Google sign-in pre-hijacking, with a real SMTP server and the test's
 * own JWKS: registration mails a single-use, hashed, expiring token; `emailVerified` shows in
 * /me; Google links only a verified account (409 ACCOUNT_EXISTS_UNVERIFIED and a mail to the
 * owner otherwise); a password reset by mail verifies the address and evicts a squatter.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT, exportJWK, generateKeyPair, type KeyLike } from "jose";
import { startSmtpServer, type ReceivedMail, type TestSmtp } from "../helpers/smtp";
import { startTestApp, uniqueEmail, type TestApp } from "../helpers/app";
import { sqlQuery } from "../integration/auth/helpers";

const CLIENT_ID = "eislager-verify-test.apps.googleusercontent.com";
const PASSWORD = "a long secret 1";

function decodeQp(raw: string): string {
	return raw.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

function linkToken(mail: ReceivedMail, path: "verify-email" | "reset-password"): string {
	const text = decodeQp(mail.raw);
	const link = new RegExp(`${path}\\?token=([\\w-]+)`).exec(text);
	if (!link) throw new Error(`no ${path} link in mail:\n${text}`);
	return decodeURIComponent(link[1]);
}

describe("email verification and Google pre-hijacking", () => {
	let app: TestApp;
	let smtp: TestSmtp;
	let jwks: http.Server;
	let key: KeyLike;

	const mailsTo = async (to: string, count: number): Promise<ReceivedMail[]> => {
		const deadline = Date.now() + 5000;
		for (;;) {
			const mails = smtp.inbox.filter((m) => m.to.includes(to));
			if (mails.length >= count) return mails;
			if (Date.now() > deadline) throw new Error(`expected ${count} mail(s) to ${to}, got ${mails.length}`);
			await new Promise((r) => setTimeout(r, 25));
		}
	};

	beforeAll(async () => {
		smtp = await startSmtpServer();
		const pair = await generateKeyPair("RS256");
		key = pair.privateKey;
		const jwk = { ...(await exportJWK(pair.publicKey)), kid: "verify-key", alg: "RS256", use: "sig" };
		jwks = http.createServer((_req, res) => {
			res.setHeader("content-type", "application/json");
			res.end(JSON.stringify({ keys: [jwk] }));
		});
		await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
		app = await startTestApp({
			services: ["auth"],
			env: {
				SMTP_URL: smtp.url,
				PUBLIC_URL: "https://shop.example.com",
				GOOGLE_CLIENT_ID: CLIENT_ID,
				GOOGLE_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/certs`,
			},
		});
	});
	afterAll(async () => {
		await app?.stop();
		await smtp?.close();
		await new Promise<void>((resolve) => jwks.close(() => resolve()));
	});

	const register = (email: string) => app.request("POST", "/api/v1/auth/register", { body: { email, password: PASSWORD, name: "Reg" } });
	const verify = (token: string, prefix = "/api/v1/auth") => app.request("POST", `${prefix}/verify-email`, { body: { token } });
	const me = async (token: string) => (await app.request("GET", "/api/v1/auth/me", { token })).body;
	const google = async (email: string, sub: string) => {
		const idToken = await new SignJWT({ email, email_verified: true, name: "Real Owner" })
			.setProtectedHeader({ alg: "RS256", kid: "verify-key" })
			.setIssuer("https://accounts.google.com")
			.setAudience(CLIENT_ID)
			.setSubject(sub)
			.setIssuedAt()
			.setExpirationTime(Math.floor(Date.now() / 1000) + 600)
			.sign(key);
		return app.request("POST", "/api/v1/auth/google", { body: { idToken } });
	};

	it("registration mails a single-use token (stored hashed, expiring) that verifies the address; /me shows it", async () => {
		const email = uniqueEmail("reg");
		const reg = await register(email);
		expect(reg.status).toBe(201);
		expect(reg.body.user.emailVerified).toBe(false);
		expect((await me(reg.body.accessToken)).emailVerified).toBe(false);
		const [mail] = await mailsTo(email, 1);
		expect(decodeQp(mail.raw)).toContain("https://shop.example.com/verify-email?token=");
		const token = linkToken(mail, "verify-email");
		expect(Buffer.from(token, "base64url").length).toBeGreaterThanOrEqual(16);
		const rows = await sqlQuery<{ token_hash: string; expires_at: Date; email: string }>(
			app.db.url,
			"SELECT token_hash, expires_at, email FROM auth.email_verification_tokens WHERE user_id = $1",
			[reg.body.user.id],
		);
		expect(rows).toHaveLength(1);
		expect(rows[0].token_hash).not.toContain(token);
		expect(rows[0].email).toBe(email);
		expect(rows[0].expires_at.getTime()).toBeGreaterThan(Date.now());
		expect(rows[0].expires_at.getTime()).toBeLessThanOrEqual(Date.now() + 48 * 3600 * 1000);

		const ok = await verify(token, "/auth"); // also served at /auth/verify-email
		expect(ok.status).toBe(200);
		expect(ok.body).toMatchObject({ emailVerified: true });
		expect((await me(reg.body.accessToken)).emailVerified).toBe(true);
		const again = await verify(token);
		expect([again.status, again.body.error.code]).toEqual([401, "INVALID_VERIFICATION_TOKEN"]);
		const login = await app.request("POST", "/api/v1/auth/login", { body: { email, password: PASSWORD } });
		expect(login.body.user.emailVerified).toBe(true);
	});

	it("refuses an expired or unknown token, and malformed input", async () => {
		const email = uniqueEmail("exp");
		const reg = await register(email);
		const token = linkToken((await mailsTo(email, 1))[0], "verify-email");
		await sqlQuery(
			app.db.url,
			"UPDATE auth.email_verification_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1",
			[reg.body.user.id],
		);
		expect((await verify(token)).status).toBe(401);
		expect((await verify("x".repeat(43))).status).toBe(401);
		expect((await app.request("POST", "/api/v1/auth/verify-email", { body: {} })).status).toBe(422);
		expect((await me(reg.body.accessToken)).emailVerified).toBe(false);
	});

	it("re-sends the link to the signed-in user: 202, then 429 within a minute, 409 once verified", async () => {
		const email = uniqueEmail("resend");
		const reg = await register(email);
		await mailsTo(email, 1);
		expect((await app.request("POST", "/api/v1/auth/resend-verification", {})).status).toBe(401);
		await sqlQuery(
			app.db.url,
			"UPDATE auth.email_verification_tokens SET created_at = now() - interval '2 minutes' WHERE user_id = $1",
			[reg.body.user.id],
		);
		const res = await app.request("POST", "/api/v1/auth/resend-verification", { token: reg.body.accessToken });
		expect(res.status).toBe(202);
		const mails = await mailsTo(email, 2);
		const soon = await app.request("POST", "/api/v1/auth/resend-verification", { token: reg.body.accessToken });
		expect(soon.status).toBe(429);
		expect(Number(soon.headers.get("retry-after"))).toBeGreaterThan(0);
		expect((await verify(linkToken(mails[1], "verify-email"))).status).toBe(200);
		const done = await app.request("POST", "/api/v1/auth/resend-verification", { token: reg.body.accessToken });
		expect([done.status, done.body.error.code]).toEqual([409, "EMAIL_ALREADY_VERIFIED"]);
	});

	it("Google sign-in never takes over an unverified account; the owner's mailed reset evicts the squatter, then Google links", async () => {
		const victim = uniqueEmail("victim");
		// The attacker registers the victim's address with a password they know, and never verifies it.
		const squatter = await register(victim);
		expect(squatter.status).toBe(201);
		await mailsTo(victim, 1); // the verification mail went to the victim, who ignores it

		const refused = await google(victim, "google-victim");
		expect([refused.status, refused.body.error.code]).toEqual([409, "ACCOUNT_EXISTS_UNVERIFIED"]);
		expect(JSON.stringify(refused.body)).not.toContain("accessToken");
		const [row] = await sqlQuery<{ google_sub: string | null }>(app.db.url, "SELECT google_sub FROM auth.users WHERE email = $1", [
			victim,
		]);
		expect(row.google_sub).toBeNull();
		// The squatter's session did not gain anything either.
		expect((await me(squatter.body.accessToken)).emailVerified).toBe(false);

		// The owner is mailed a reset link; using it proves the mailbox, verifies it and signs the squatter out.
		const mails = await mailsTo(victim, 2);
		expect(decodeQp(mails[1].raw)).toContain("Google");
		const reset = await app.request("POST", "/api/v1/auth/reset-password", {
			body: { token: linkToken(mails[1], "reset-password"), password: "owner's new secret 2" },
		});
		expect(reset.status).toBe(200);
		expect((await app.request("GET", "/api/v1/auth/me", { token: squatter.body.accessToken })).status).toBe(401);
		expect((await app.request("POST", "/api/v1/auth/login", { body: { email: victim, password: PASSWORD } })).status).toBe(401);

		const linked = await google(victim, "google-victim");
		expect(linked.status).toBe(200);
		expect(linked.body.user).toMatchObject({ id: squatter.body.user.id, emailVerified: true });
	});

	it("an account created by Google sign-in is verified", async () => {
		const email = uniqueEmail("gnew");
		const res = await google(email, `g-${email}`);
		expect(res.status).toBe(200);
		expect(res.body.user.emailVerified).toBe(true);
		expect((await me(res.body.accessToken)).emailVerified).toBe(true);
	});
});
