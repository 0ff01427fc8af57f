/**
 * The transporter's options. A NATS server that requires credentials gets them
 * from one of:
 *   TRANSPORTER=nats://user:password@host:4222   user and password
 *   TRANSPORTER=nats://token@host:4222           a token (user part without password)
 *   NATS_CREDENTIALS=/path/file                  a creds file (JWT + nkey seed) or an nkey seed file
 * The credentials are taken out of the URL, so they never appear in a log line
 * that prints the server address.
 */
import fs from "node:fs";
import type { BrokerOptions } from "moleculer";
import { credsAuthenticator, nkeyAuthenticator } from "nats";
import type { Config } from "./config";

export interface NatsOptions {
	/** host:port list. Not `url`: Moleculer would re-read the credentials from it and overwrite ours with nothing. */
	servers: string[];
	user?: string;
	pass?: string;
	token?: string;
	authenticator?: ReturnType<typeof credsAuthenticator>;
	maxReconnectAttempts: number;
}

/** Splits credentials from a comma list of nats:// URLs. */
export function natsOptions(transporter: string, credentialsFile?: string): NatsOptions {
	const options: NatsOptions = { servers: [], maxReconnectAttempts: -1 };
	for (const raw of transporter.split(",")) {
		const url = new URL(raw.trim());
		const user = decodeURIComponent(url.username);
		const pass = decodeURIComponent(url.password);
		if (user && pass) Object.assign(options, { user, pass });
		else if (user) options.token = user;
		options.servers.push(url.host);
	}
	if (credentialsFile) {
		const content = fs.readFileSync(credentialsFile);
		// A creds file holds a user JWT and a seed; otherwise the file is a bare nkey seed (SU...).
		options.authenticator = content.includes("BEGIN NATS USER JWT")
			? credsAuthenticator(content)
			: nkeyAuthenticator(new Uint8Array(Buffer.from(content.toString("utf8").trim())));
	}
	return options;
}

export function transporterOptions(cfg: Config): BrokerOptions["transporter"] {
	const transporter = cfg.transporter;
	if (!transporter) return null;
	if (!transporter.startsWith("nats://")) return transporter;
	return { type: "NATS", options: natsOptions(transporter, cfg.natsCredentials) };
}
