/** Outgoing mail through SMTP_URL (nodemailer). Without SMTP_URL mail is logged as skipped, never sent. */
import nodemailer, { type Transporter } from "nodemailer";
import { config } from "./config";

let transport: Transporter | undefined;
let transportUrl: string | undefined;

export interface Mail {
	to: string;
	subject: string;
	text: string;
	/** Where replies go (the `supportEmail` setting for the platform's own mails). */
	replyTo?: string;
}

/** Sends a mail; returns false when no SMTP server is configured. */
export async function sendMail(mail: Mail): Promise<boolean> {
	const url = config().smtpUrl;
	if (!url) return false;
	if (!transport || transportUrl !== url) {
		transport = nodemailer.createTransport(url);
		transportUrl = url;
	}
	await transport.sendMail({ from: config().mailFrom, ...mail });
	return true;
}
