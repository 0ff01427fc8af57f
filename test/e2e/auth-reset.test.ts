/**
 * Password reset through a real SMTP server started by the test: the mail
 * arrives, its token works once, older tokens (access, refresh, other reset
 * links) stop working, and an unknown email gets the very same answer.
 */
import { startSmtpServer, type ReceivedMail, type TestSmtp } from "../helpers/smtp";
import { startTestApp, uniqueEmail, type TestApp } from "../helpers/app";
import { sqlQuery } from "../integration/auth/helpers";

/** Undo quoted-printable soft breaks and escapes, enough to read a token out of a mail. */
function decodeQp(raw: string): string {
	return raw.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

function tokenFrom(mail: ReceivedMail): string {
	const text = decodeQp(mail.raw);
	const link = /reset-password\?token=([\w-]+)/.exec(text);
	if (!link) throw new Error(`no reset link in mail:\n${text}`);
	return decodeURIComponent(link[1]);
}

describe("password reset by mail", () => {
	let app: TestApp;
	let smtp: TestSmtp;
	let inbox: ReceivedMail[] = [];

	const waitForMail = async (to: string, count = 1): Promise<ReceivedMail[]> => {
		const deadline = Date.now() + 5000;
		for (;;) {
			const mails = inbox.filter((m) => m.to.includes(to));
			if (mails.length >= count) return mails;
			if (Date.now() > deadline) throw new Error(`expected ${count} mail(s) to ${to}, got ${mails.length}`);
			await new Promise((r) => setTimeout(r, 25));
		}
	};

	beforeAll(async () => {
		smtp = await startSmtpServer();
		inbox = smtp.inbox;
		app = await startTestApp({ services: ["auth"], env: { SMTP_URL: smtp.url, PUBLIC_URL: "https://shop.example.com" } });
	});
	afterAll(async () => {
		await app?.stop();
		await smtp?.close();
	});

	const forgot = (email: string) => app.request("POST", "/api/v1/auth/forgot-password", { body: { email } });
	const reset = (token: string, password: string) => app.request("POST", "/api/v1/auth/reset-password", { body: { token, password } });

	it("mails a single-use token (≥128 bits, stored hashed) that resets the password once", async () => {
		const user = await app.createUser("PATRON");
		const res = await forgot(user.email);
		expect(res.status).toBe(202);
		const [mail] = await waitForMail(user.email);
		expect(decodeQp(mail.raw)).toContain("https://shop.example.com/reset-password?token=");
		const token = tokenFrom(mail);
		expect(Buffer.from(token, "base64url").length).toBeGreaterThanOrEqual(16);
		const rows = await sqlQuery<{ token_hash: string; expires_at: Date }>(
			app.db.url,
			"SELECT token_hash, expires_at FROM auth.password_reset_tokens WHERE user_id = $1",
			[user.id],
		);
		expect(rows).toHaveLength(1);
		expect(rows[0].token_hash).not.toContain(token);
		expect(rows[0].expires_at.getTime()).toBeGreaterThan(Date.now());
		expect(rows[0].expires_at.getTime()).toBeLessThanOrEqual(Date.now() + 60 * 60 * 1000);

		// Policy applies to the new password.
		expect((await reset(token, user.email)).status).toBe(422);
		const ok = await reset(token, "fresh-password-1");
		expect(ok.status).toBe(200);
		const reuse = await reset(token, "another-password-2");
		expect(reuse.status).toBe(401);
		expect(reuse.body.error.code).toBe("INVALID_RESET_TOKEN");

		// Older tokens are refused; the old password too; the new one works.
		expect((await app.request("GET", "/api/v1/auth/me", { token: user.token })).status).toBe(401);
		expect((await app.request("POST", "/api/v1/auth/refresh", { body: { refreshToken: user.refreshToken } })).status).toBe(401);
		expect((await app.request("POST", "/api/v1/auth/login", { body: { email: user.email, password: user.password } })).status).toBe(
			401,
		);
		expect(
			(await app.request("POST", "/api/v1/auth/login", { body: { email: user.email, password: "fresh-password-1" } })).status,
		).toBe(200);
	});

	it("a reset voids the user's other outstanding reset links", async () => {
		const user = await app.createUser("PATRON");
		await forgot(user.email);
		await forgot(user.email);
		const [first, second] = (await waitForMail(user.email, 2)).map(tokenFrom);
		expect(first).not.toBe(second);
		expect((await reset(second, "second-link-pass")).status).toBe(200);
		expect((await reset(first, "first-link-pass")).status).toBe(401);
	});

	it("answers an unknown email exactly like a known one, and sends nothing", async () => {
		const user = await app.createUser("PATRON");
		const known = await forgot(user.email);
		const unknownEmail = uniqueEmail("ghost");
		const unknown = await forgot(unknownEmail);
		expect(unknown.status).toBe(known.status);
		expect(unknown.body).toEqual(known.body);
		await waitForMail(user.email);
		await new Promise((r) => setTimeout(r, 200));
		expect(inbox.filter((m) => m.to.includes(unknownEmail))).toHaveLength(0);
	});

	it("rejects a made-up or expired token", async () => {
		expect((await reset("A".repeat(43), "whatever-pass")).status).toBe(401);
		const user = await app.createUser("PATRON");
		await forgot(user.email);
		const [mail] = await waitForMail(user.email);
		await sqlQuery(app.db.url, "UPDATE auth.password_reset_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1", [
			user.id,
		]);
		expect((await reset(tokenFrom(mail), "too-late-pass")).status).toBe(401);
	});
});
