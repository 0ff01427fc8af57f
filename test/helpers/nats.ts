/**
 * A private nats-server for one test file, with authorization, on a free port.
 * `stop()` kills it. Needs the nats-server binary (NATS_SERVER_BIN, default /usr/sbin/nats-server).
 */
import { spawn } from "node:child_process";
import net from "node:net";
import { freePort, waitUntil } from "./cluster";

export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server";

export interface NatsServer {
	port: number;
	/** nats://127.0.0.1:<port> without credentials. */
	url: string;
	output: string[];
	stop(): Promise<void>;
}

function accepts(port: number): Promise<boolean> {
	return new Promise((resolve) => {
		const socket = net.connect(port, "127.0.0.1");
		socket.once("connect", () => {
			socket.destroy();
			resolve(true);
		});
		socket.once("error", () => resolve(false));
	});
}

/** Starts nats-server requiring `--user/--pass` (or `--auth <token>`). */
export async function startNatsServer(auth: { user: string; pass: string } | { token: string }): Promise<NatsServer> {
	const port = await freePort();
	const args = [
		"-a",
		"127.0.0.1",
		"-p",
		String(port),
		...("token" in auth ? ["--auth", auth.token] : ["--user", auth.user, "--pass", auth.pass]),
	];
	const child = spawn(NATS_SERVER_BIN, args, { stdio: ["ignore", "pipe", "pipe"] });
	const output: string[] = [];
	const keep = (chunk: Buffer) => output.push(...chunk.toString().split("\n").filter(Boolean));
	child.stdout!.on("data", keep);
	child.stderr!.on("data", keep);
	const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
	const stop = async () => {
		if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
		await exited;
	};
	try {
		await waitUntil(
			`nats-server on ${port}`,
			async () => {
				if (child.exitCode !== null) throw new Error(`nats-server exited: ${output.join("\n")}`);
				return accepts(port);
			},
			10_000,
			50,
		);
	} catch (err) {
		await stop();
		throw err;
	}
	return { port, url: `nats://127.0.0.1:${port}`, output, stop };
}
