/** A real SMTP server on 127.0.0.1 for tests: every mail it receives lands in `inbox`. */
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

export interface ReceivedMail {
	to: string[];
	raw: string;
}

export interface TestSmtp {
	url: string;
	inbox: ReceivedMail[];
	close(): Promise<void>;
}

export async function startSmtpServer(): Promise<TestSmtp> {
	const inbox: ReceivedMail[] = [];
	const server = new SMTPServer({
		authOptional: true,
		disabledCommands: ["STARTTLS", "AUTH"],
		logger: false,
		onData(stream, session, callback) {
			const chunks: Buffer[] = [];
			stream.on("data", (c: Buffer) => chunks.push(c));
			stream.on("end", () => {
				inbox.push({
					to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
					raw: Buffer.concat(chunks).toString("utf8"),
				});
				callback();
			});
		},
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	return {
		url: `smtp://127.0.0.1:${(server.server.address() as AddressInfo).port}`,
		inbox,
		close: () => new Promise<void>((resolve) => server.close(() => resolve())),
	};
}
