/**
 * `npm run cluster`: the whole backend as a local cluster: the gateway and one
 * process per node of lib/topology.ts (`node dist/bin/start.js` with
 * SERVICES=<node>), talking over NATS.
 *
 * Environment passed to every node: DATABASE_URL (unset: one embedded PostgreSQL
 * is started here and shared), TRANSPORTER (default nats://127.0.0.1:4222),
 * CACHER, REDIS_URL, KAFKA_BROKERS, NAMESPACE, LOG_LEVEL, JWT_SECRET and SERVICE_KEY
 * (unset: one random secret each is generated for this run, so every node verifies
 * the same tokens and the same proofs of origin). The gateway listens on PORT (3000);
 * every node serves /health, /ready and /metrics on its operator port from lib/topology.ts.
 * Ctrl-C or SIGTERM stops every node (SIGTERM, they drain in-flight requests;
 * SIGKILL after 20 s).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { availableServices } from "../lib/app";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "../lib/database";
import { NODES } from "../lib/topology";

const START_JS = path.resolve(__dirname, "..", "bin", "start.js");
const STOP_GRACE_MS = 20_000;

interface Running {
	name: string;
	child: ChildProcess;
	exited: Promise<void>;
}

function prefixLines(name: string, stream: NodeJS.ReadableStream, out: NodeJS.WriteStream): void {
	let rest = "";
	const label = `[${name}]`.padEnd(17);
	stream.on("data", (chunk: Buffer) => {
		const lines = (rest + chunk.toString()).split("\n");
		rest = lines.pop() ?? "";
		for (const line of lines) out.write(`${label} ${line}\n`);
	});
	stream.on("end", () => rest && out.write(`${label} ${rest}\n`));
}

async function main(): Promise<void> {
	const env: NodeJS.ProcessEnv = { ...process.env };
	env.TRANSPORTER ||= "nats://127.0.0.1:4222";
	if (!env.JWT_SECRET) {
		env.JWT_SECRET = randomBytes(48).toString("base64url");
		console.warn("cluster: JWT_SECRET is not set: generated one for this run (tokens die with the cluster)");
	}
	// Proof of origin between the nodes (middlewares/service-key.middleware.ts); a REPL needs the same key.
	if (!env.SERVICE_KEY) {
		env.SERVICE_KEY = randomBytes(48).toString("base64url");
		console.warn("cluster: SERVICE_KEY is not set: generated one for this run (set it to attach `npm run repl`)");
	}
	let embedded: EmbeddedDatabase | undefined;
	if (!env.DATABASE_URL) {
		embedded = await startEmbeddedPostgres();
		env.DATABASE_URL = embedded.url;
		console.info(`cluster: no DATABASE_URL: every node uses the embedded PostgreSQL at ${embedded.url.replace(/:[^:@]*@/, ":***@")}`);
	}
	delete env.SERVICES;
	delete env.METRICS_PORT;
	delete env.NODE_ID;

	const available = new Set(availableServices());
	const nodes = NODES.filter((n) => n.services.every((s) => available.has(s)));
	const running: Running[] = [];
	let stopping = false;

	for (const node of nodes) {
		const childEnv: NodeJS.ProcessEnv = { ...env, SERVICES: node.services.join(",") };
		childEnv.METRICS_PORT = String(node.port);
		// Own process group: Ctrl-C reaches only this script, which stops the nodes in order.
		const child = spawn(process.execPath, [START_JS], { env: childEnv, stdio: ["ignore", "pipe", "pipe"], detached: true });
		prefixLines(node.name, child.stdout!, process.stdout);
		prefixLines(node.name, child.stderr!, process.stderr);
		const exited = new Promise<void>((resolve) =>
			child.once("exit", (code, signal) => {
				if (!stopping) console.error(`cluster: node "${node.name}" exited (${signal ?? `code ${code}`}); the others keep running`);
				resolve();
			}),
		);
		running.push({ name: node.name, child, exited });
		const where = `${node.publicPort ? `http://127.0.0.1:${env.PORT || node.publicPort}, ` : ""}http://127.0.0.1:${node.port}/health`;
		console.info(`cluster: started ${node.name} (pid ${child.pid}, ${where})`);
	}

	const stop = async (signal: string) => {
		if (stopping) return;
		stopping = true;
		console.info(`cluster: ${signal}: stopping ${running.length} node(s)`);
		for (const r of running) if (r.child.exitCode === null) r.child.kill("SIGTERM");
		const timer = setTimeout(() => {
			for (const r of running) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill("SIGKILL");
		}, STOP_GRACE_MS);
		await Promise.all(running.map((r) => r.exited));
		clearTimeout(timer);
		await embedded?.stop().catch(() => undefined);
		console.info("cluster: stopped");
		process.exit(0);
	};
	process.on("SIGINT", () => void stop("SIGINT"));
	process.on("SIGTERM", () => void stop("SIGTERM"));
	process.on("SIGHUP", () => void stop("SIGHUP"));
}

main().catch((err: unknown) => {
	console.error(`cluster: ${err instanceof Error ? err.message : String(err)}`);
	process.exit(1);
});
