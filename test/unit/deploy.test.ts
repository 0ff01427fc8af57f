/**
 * Deployment files, validated black-box since no Docker engine or cluster runs here:
 * docker-compose.yml, k8s/*.yaml, nginx/nginx.conf and scripts/kafka.sh must agree with
 * the node list (lib/topology.ts) and the configuration variables (lib/config.ts).
 *
 * Each check is a function returning the problems it finds. The real files must give
 * none; the "catches mistakes" block feeds each check a broken copy and expects it to
 * complain, so no check can silently pass everything.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import Ajv from "ajv";
import { parse, parseAllDocuments } from "yaml";
import { ENV_VARS, loadConfig } from "../../lib/config";
import { NODES, type NodeSpec } from "../../lib/topology";

const ROOT = resolve(__dirname, "../..");

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const obj = (v: unknown): Obj => (isObj(v) ? v : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : typeof v === "number" ? String(v) : undefined);
function get(v: unknown, path: string): unknown {
	return path.split(".").reduce<unknown>((cur, key) => (isObj(cur) ? cur[key] : undefined), v);
}
const clone = <T>(v: T): T => structuredClone(v);

// ---------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------

/** The environments and their compose override (docker-compose.yml is the base of each). */
const COMPOSE_ENVS = {
	development: "docker-compose.dev.yml",
	staging: "docker-compose.staging.yml",
	production: "docker-compose.prod.yml",
} as const;
type DeployEnv = keyof typeof COMPOSE_ENVS;
const DEPLOY_ENVS = Object.keys(COMPOSE_ENVS) as DeployEnv[];

function loadYaml(file: string): Obj {
	// merge: compose files share blocks with YAML anchors and `<<` merge keys.
	const doc = parse(readFileSync(join(ROOT, file), "utf8"), { merge: true }) as unknown;
	if (!isObj(doc)) throw new Error(`${file} is not a mapping`);
	return doc;
}

/** Compose's merge of -f files: mappings merge key by key, sequences add up, command/entrypoint/healthcheck test are replaced. */
function mergeCompose(base: unknown, over: unknown, key = ""): unknown {
	if (isObj(base) && isObj(over)) {
		const out: Obj = { ...base };
		for (const [k, v] of Object.entries(over)) out[k] = k in base ? mergeCompose(base[k], v, k) : v;
		return out;
	}
	if (Array.isArray(base) && Array.isArray(over) && !["command", "entrypoint", "test"].includes(key)) {
		return [...new Set([...base, ...over].map((x) => JSON.stringify(x)))].map((x) => JSON.parse(x) as unknown);
	}
	return over;
}

/**
 * The Compose Specification's JSON schema (test/helpers/compose-spec.json: schema/compose-spec.json of
 * github.com/compose-spec/compose-spec at 170098ba, Apache-2.0), what `docker compose config` validates against.
 * Formats (durations, port strings) are left to the checks below.
 */
const validateComposeSpec = new Ajv({ strict: false, allErrors: true, validateFormats: false, validateSchema: false }).compile(
	JSON.parse(readFileSync(join(ROOT, "test/helpers/compose-spec.json"), "utf8")) as object,
);

function composeSpecProblems(doc: Obj, what: string): string[] {
	if (validateComposeSpec(doc)) return [];
	return (validateComposeSpec.errors ?? []).map(
		(e) =>
			`${what}: ${e.instancePath || "/"} ${e.message ?? ""}${e.params && "additionalProperty" in e.params ? ` (${String(e.params.additionalProperty)})` : ""}`,
	);
}

function loadCompose(env?: DeployEnv): Obj {
	const base = loadYaml("docker-compose.yml");
	return env ? obj(mergeCompose(base, loadYaml(COMPOSE_ENVS[env]))) : base;
}

interface K8sObject {
	file: string;
	kind: string;
	name: string;
	body: Obj;
}

/** k8s/overlays/<env> rendered as `kubectl apply -k` would: kubectl's built-in kustomize, or a kustomize binary. */
function kustomize(dir: string): string {
	const tools: [string, string[]][] = [
		["kubectl", ["kustomize", dir]],
		["kustomize", ["build", dir]],
	];
	for (const [command, args] of tools) {
		const res = spawnSync(command, args, { encoding: "utf8" });
		if ((res.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT") continue;
		if (res.status !== 0) throw new Error(`${command} ${args.join(" ")}: ${res.stderr.trim()}`);
		return res.stdout;
	}
	throw new Error("k8s/ is checked as rendered by kustomize: install kubectl (it includes kustomize) or kustomize");
}

function loadK8s(env: DeployEnv): K8sObject[] {
	const file = `overlays/${env}`;
	const objects: K8sObject[] = [];
	for (const doc of parseAllDocuments(kustomize(join(ROOT, "k8s", file)))) {
		if (doc.errors.length) throw new Error(`k8s/${file}: ${doc.errors.map((e) => e.message).join("; ")}`);
		const body = doc.toJS() as unknown;
		if (body === null || body === undefined) continue;
		if (!isObj(body)) throw new Error(`k8s/${file}: a document is not a mapping`);
		objects.push({ file, kind: str(body.kind) ?? "", name: str(get(body, "metadata.name")) ?? "", body });
	}
	return objects;
}

/** What an overlay sets for its environment: NODE_ENV and LOG_LEVEL in the ConfigMap, a real SMTP_URL for staging. */
function k8sEnvironmentProblems(objects: K8sObject[], env: DeployEnv): string[] {
	const problems: string[] = [];
	const config = obj(find(objects, "ConfigMap", "eislager-config")?.body.data);
	if (config.NODE_ENV !== env) problems.push(`k8s ${env}: ConfigMap NODE_ENV expected "${env}", got ${JSON.stringify(config.NODE_ENV)}`);
	if (config.LOG_LEVEL !== ENV_EXPECT[env].logLevel)
		problems.push(`k8s ${env}: ConfigMap LOG_LEVEL expected "${ENV_EXPECT[env].logLevel}", got ${JSON.stringify(config.LOG_LEVEL)}`);
	const smtp = str(get(find(objects, "Secret", "eislager-secrets")?.body, "stringData.SMTP_URL")) ?? "";
	if (env === "staging" && !/^smtps?:\/\//.test(smtp))
		problems.push(`k8s staging: Secret SMTP_URL must be a real server (NODE_ENV=staging requires it), got ${JSON.stringify(smtp)}`);
	for (const node of NODES.filter((n) => MAIL_NODES.includes(n.name))) {
		const d = find(objects, "Deployment", node.name);
		const names = d ? containersOf(d).flatMap((c) => envList(c).map((e) => e.name)) : [];
		if (!names.includes("SMTP_URL")) problems.push(`k8s ${env}: Deployment ${node.name} sends mail but gets no SMTP_URL`);
	}
	// Each node's environment as the kubelet would resolve it (the Secret's change-me placeholders as valid secrets), accepted by lib/config.ts.
	const data = (kind: string, name: string) => {
		const body = find(objects, kind, name)?.body;
		return { ...obj(body?.data), ...obj(body?.stringData) };
	};
	for (const node of NODES) {
		const d = find(objects, "Deployment", node.name);
		if (!d) continue;
		const resolved: Record<string, string> = {};
		for (const e of containersOf(d).flatMap(envList)) {
			const cm = get(e, "valueFrom.configMapKeyRef");
			const sec = get(e, "valueFrom.secretKeyRef");
			const value = isObj(cm)
				? data("ConfigMap", str(cm.name) ?? "")[str(cm.key) ?? ""]
				: isObj(sec)
					? data("Secret", str(sec.name) ?? "")[str(sec.key) ?? ""]
					: e.value;
			if (typeof value === "string" && value !== "") resolved[str(e.name) ?? ""] = value === "change-me" ? "p".repeat(48) : value;
		}
		try {
			loadConfig(resolved);
		} catch (err) {
			problems.push(`k8s ${env}: Deployment ${node.name}: lib/config.ts rejects its environment: ${(err as Error).message}`);
		}
	}
	return problems;
}

// ---------------------------------------------------------------------------------------
// docker-compose.yml
// ---------------------------------------------------------------------------------------

/** environment as a map; a key without value (passed through from the host) maps to null. */
function composeEnv(service: Obj): Map<string, string | null> {
	const env = new Map<string, string | null>();
	const raw = service.environment;
	if (Array.isArray(raw)) {
		for (const entry of raw) {
			const s = String(entry);
			const eq = s.indexOf("=");
			if (eq < 0) env.set(s, null);
			else env.set(s.slice(0, eq), s.slice(eq + 1));
		}
	} else {
		for (const [k, v] of Object.entries(obj(raw))) env.set(k, v === null || v === undefined ? null : String(v));
	}
	return env;
}

/** Values a required host variable stands for, valid for lib/config.ts (secrets: 48 characters). */
const HOST_PLACEHOLDER: Record<string, string> = { SMTP_URL: "smtp://mail.example.com:587" };

/** Compose interpolation with the defaults it would use: ${A:-x} → x, ${A:?msg} and ${A} → a placeholder. */
function interpolate(value: string): string {
	return value.replace(/\$\{(\w+)(?:(:?-)([^}]*)|(:?\?)[^}]*)?\}/g, (_m, name: string, dash?: string, def?: string) =>
		dash ? (def ?? "") : (HOST_PLACEHOLDER[name] ?? "p".repeat(48)),
	);
}
const fromHost = (value: string) => /^\$\{\w+:\?[^}]*\}$/.test(value);

function dependsOn(service: Obj): Map<string, string | undefined> {
	const deps = new Map<string, string | undefined>();
	const raw = service.depends_on;
	if (Array.isArray(raw)) for (const d of raw) deps.set(String(d), undefined);
	else for (const [k, v] of Object.entries(obj(raw))) deps.set(k, str(get(v, "condition")));
	return deps;
}

function healthcheckText(service: Obj): string {
	const test = get(service, "healthcheck.test");
	return Array.isArray(test) ? test.map(String).join(" ") : (str(test) ?? "");
}

const REQUIRED_NODE_ENV = ["TRANSPORTER", "CACHER", "DATABASE_URL", "REDIS_URL", "KAFKA_BROKERS", "JWT_SECRET", "SERVICE_KEY"] as const;
/** Variables whose value names another compose service as host (scheme://[user@]host:port or host:port lists). */
const HOST_ENV = ["TRANSPORTER", "CACHER", "DATABASE_URL", "REDIS_URL", "KAFKA_BROKERS", "SMTP_URL"] as const;
/** What each environment sets on every node: NODE_ENV and LOG_LEVEL's default (lib/config.ts). */
const ENV_EXPECT: Record<DeployEnv, { logLevel: string }> = {
	development: { logLevel: "debug" },
	staging: { logLevel: "debug" },
	production: { logLevel: "info" },
};
const MAIL_NODES = ["auth", "communications"];

function composeNodeProblems(compose: Obj, node: NodeSpec, deployEnv: DeployEnv = "production"): string[] {
	const problems: string[] = [];
	const services = obj(compose.services);
	const svc = services[node.name];
	if (!isObj(svc)) return [`compose: no service "${node.name}"`];
	const where = `compose ${node.name}`;
	if (svc.build === undefined) problems.push(`${where}: has no build (it must run the project's image)`);

	const env = composeEnv(svc);
	if (env.get("SERVICES") !== node.name)
		problems.push(`${where}: SERVICES expected "${node.name}", got ${JSON.stringify(env.get("SERVICES"))}`);
	if (env.get("NODE_ENV") !== deployEnv)
		problems.push(`${where}: NODE_ENV expected "${deployEnv}", got ${JSON.stringify(env.get("NODE_ENV"))}`);
	const logLevel = interpolate(env.get("LOG_LEVEL") ?? "");
	if (logLevel !== ENV_EXPECT[deployEnv].logLevel)
		problems.push(
			`${where}: LOG_LEVEL expected to default to ${ENV_EXPECT[deployEnv].logLevel}, got ${JSON.stringify(env.get("LOG_LEVEL"))}`,
		);
	if (deployEnv === "staging" && MAIL_NODES.includes(node.name) && !fromHost(env.get("SMTP_URL") ?? "")) {
		problems.push(
			`${where}: SMTP_URL must come from the host and be required in staging (\${SMTP_URL:?...}), got ${JSON.stringify(env.get("SMTP_URL"))}`,
		);
	}
	// The app's own validation accepts what this node is given (host variables as valid placeholders, empty = unset).
	try {
		loadConfig(Object.fromEntries([...env].filter(([, v]) => v).map(([k, v]) => [k, interpolate(v ?? "")])));
	} catch (err) {
		problems.push(`${where}: lib/config.ts rejects its environment: ${(err as Error).message}`);
	}
	for (const name of REQUIRED_NODE_ENV) {
		const value = env.get(name);
		if (!value) problems.push(`${where}: ${name} is not set`);
	}
	for (const secret of ["JWT_SECRET", "SERVICE_KEY"]) {
		const value = env.get(secret);
		if (value && !new RegExp(`^\\$\\{${secret}:\\?[^}]*\\}$`).test(value))
			problems.push(`${where}: ${secret} must come from the host and be required (\${${secret}:?...}), got "${value}"`);
	}
	// NATS requires credentials: a password from the host in the URL, or a creds/nkey file.
	const transporter = env.get("TRANSPORTER") ?? "";
	if (transporter && !env.get("NATS_CREDENTIALS") && !/^nats:\/\/[^@/]*\$\{NATS_PASSWORD:\?[^}]*\}@/.test(transporter)) {
		problems.push(
			`${where}: TRANSPORTER must carry the NATS credentials (nats://user:\${NATS_PASSWORD:?...}@nats:4222) or NATS_CREDENTIALS be set, got "${transporter}"`,
		);
	}
	for (const name of HOST_ENV) {
		const value = env.get(name);
		if (!value || fromHost(value)) continue;
		const hosts =
			name === "KAFKA_BROKERS"
				? interpolate(value)
						.split(",")
						.map((b) => b.trim().split(":")[0])
				: [safeHostname(interpolate(value))];
		for (const host of hosts) {
			if (!host || !isObj(services[host])) problems.push(`${where}: ${name} points at host "${host}", which is no compose service`);
		}
	}
	if (env.get("METRICS_PORT") !== String(node.port))
		problems.push(`${where}: METRICS_PORT expected "${node.port}", got ${JSON.stringify(env.get("METRICS_PORT"))}`);
	if (node.publicPort !== undefined && env.get("PORT") !== String(node.publicPort))
		problems.push(`${where}: PORT expected "${node.publicPort}", got ${JSON.stringify(env.get("PORT"))}`);

	const hc = healthcheckText(svc);
	const hcPorts = [...hc.matchAll(/127\.0\.0\.1:(\d+)\/health\b/g)].map((m) => Number(m[1]));
	if (hcPorts.length !== 1 || hcPorts[0] !== node.port) {
		problems.push(`${where}: healthcheck expected http://127.0.0.1:${node.port}/health, got "${hc}"`);
	}
	const deps = dependsOn(svc);
	for (const infra of ["postgres", "redis", "nats"]) {
		if (deps.get(infra) !== "service_healthy")
			problems.push(`${where}: depends_on ${infra} expected condition service_healthy, got ${JSON.stringify(deps.get(infra))}`);
	}
	return problems;
}

const KNOWN_ENV = new Set<string>(ENV_VARS);
const PUBLISHING = new Set(["gateway", "nginx"]);
/** Operator tools that publish on the loopback interface only. */
const LOOPBACK_PUBLISHING = new Set(["grafana", "mailpit"]);

function composeProblems(compose: Obj): string[] {
	const problems: string[] = [];
	const services = obj(compose.services);
	const declaredVolumes = new Set(Object.keys(obj(compose.volumes)));
	const nodeNames = new Set(NODES.map((n) => n.name));
	for (const [name, raw] of Object.entries(services)) {
		const svc = obj(raw);
		for (const [dep, condition] of dependsOn(svc)) {
			if (!isObj(services[dep])) problems.push(`compose ${name}: depends_on "${dep}", which is no service`);
			else if (condition === "service_healthy" && !isObj(get(services[dep], "healthcheck"))) {
				problems.push(`compose ${name}: waits for ${dep} to be healthy, but ${dep} has no healthcheck`);
			}
		}
		if (LOOPBACK_PUBLISHING.has(name)) {
			for (const p of arr(svc.ports))
				if (!String(p).startsWith("127.0.0.1:"))
					problems.push(`compose ${name}: publishes ${JSON.stringify(p)} beyond the loopback interface`);
		} else if (arr(svc.ports).length > 0 && !PUBLISHING.has(name))
			problems.push(`compose ${name}: publishes ports ${JSON.stringify(svc.ports)}; only gateway and nginx may`);
		for (const v of arr(svc.volumes)) {
			const source = typeof v === "string" ? v.split(":")[0] : str(get(v, "source"));
			if (!source) continue;
			if (source.startsWith(".") || source.startsWith("/")) {
				if (!existsSync(resolve(ROOT, source))) problems.push(`compose ${name}: mounts ${source}, which does not exist`);
			} else if (!declaredVolumes.has(source)) problems.push(`compose ${name}: uses volume "${source}", not declared under volumes:`);
		}
		if (svc.build !== undefined) {
			// A container of the project's image: it is a node of lib/topology.ts and reads only known variables.
			if (!nodeNames.has(name)) problems.push(`compose ${name}: builds the project image but is no node of lib/topology.ts`);
			for (const key of composeEnv(svc).keys()) {
				if (!KNOWN_ENV.has(key))
					problems.push(`compose ${name}: environment ${key} is not a variable the app reads (lib/config.ts ENV_VARS)`);
			}
		}
	}
	const publishedTarget = (svcName: string) =>
		arr(get(services[svcName], "ports")).map((p) => (typeof p === "string" ? Number(p.split(":").pop()) : Number(get(p, "target"))));
	if (!publishedTarget("gateway").includes(3000))
		problems.push(`compose gateway: expected to publish container port 3000, got ${JSON.stringify(publishedTarget("gateway"))}`);
	for (const node of NODES) {
		if (publishedTarget(node.name).includes(node.port))
			problems.push(`compose ${node.name}: publishes its operator port ${node.port} (/ready, /metrics are operator data)`);
	}
	if (!publishedTarget("nginx").includes(80))
		problems.push(`compose nginx: expected to publish container port 80, got ${JSON.stringify(publishedTarget("nginx"))}`);

	const image = (s: string) => str(get(services[s], "image")) ?? "";
	if (!/^postgres:17\b/.test(image("postgres")))
		problems.push(`compose postgres: image expected postgres:17, got "${image("postgres")}"`);
	if (!/^redis:7\b/.test(image("redis"))) problems.push(`compose redis: image expected redis:7, got "${image("redis")}"`);
	if (!/^nats:2\b/.test(image("nats"))) problems.push(`compose nats: image expected nats:2, got "${image("nats")}"`);
	const natsCommand = arr(get(services.nats, "command"))
		.map(String)
		.concat(str(get(services.nats, "command"))?.split(/\s+/) ?? []);
	if (!natsCommand.includes("-js"))
		problems.push(`compose nats: JetStream (-js) expected in command, got ${JSON.stringify(get(services.nats, "command"))}`);
	problems.push(...composeNatsAuthProblems(obj(services.nats), natsCommand));
	if (image("kafka") !== "apache/kafka:3.9.1") problems.push(`compose kafka: image expected apache/kafka:3.9.1, got "${image("kafka")}"`);
	const kafkaRoles = composeEnv(obj(services.kafka)).get("KAFKA_PROCESS_ROLES") ?? "";
	if (kafkaRoles.split(",").sort().join(",") !== "broker,controller")
		problems.push(`compose kafka: KRaft (KAFKA_PROCESS_ROLES=broker,controller) expected, got "${kafkaRoles}"`);
	if (!/^nginx\b/.test(image("nginx"))) problems.push(`compose nginx: image expected nginx, got "${image("nginx")}"`);
	return problems;
}

/** nats-server must require credentials: a mounted config with an authorization block fed from the host's NATS_PASSWORD. */
function composeNatsAuthProblems(nats: Obj, command: string[]): string[] {
	const at = command.findIndex((a) => a === "-c" || a === "--config");
	if (at < 0 || !command[at + 1])
		return [`compose nats: no config file (-c) with an authorization block, got ${JSON.stringify(command)}`];
	const target = command[at + 1];
	const mount = arr(nats.volumes)
		.map(String)
		.find((v) => v.split(":")[1] === target);
	const source = mount?.split(":")[0];
	if (!source || !existsSync(resolve(ROOT, source))) return [`compose nats: ${target} is not mounted from a file of the project`];
	const conf = readFileSync(resolve(ROOT, source), "utf8").replace(/#[^\n]*/g, "");
	const problems: string[] = [];
	if (!/authorization\s*\{[\s\S]*password:\s*\$NATS_PASSWORD\b/.test(conf))
		problems.push(`compose nats: ${source} has no authorization block with password: $NATS_PASSWORD`);
	const password = composeEnv(nats).get("NATS_PASSWORD") ?? "";
	if (!/^\$\{NATS_PASSWORD:\?[^}]*\}$/.test(password))
		problems.push(`compose nats: NATS_PASSWORD must come from the host and be required, got "${password}"`);
	return problems;
}

/** A bind mount of `source` (a project path) in a compose service: its container target, if any. */
function mountTarget(service: Obj, source: string): string | undefined {
	const norm = (p: string) => p.replace(/^\.\//, "").replace(/\/$/, "");
	for (const v of arr(service.volumes)) {
		const [from, to] = typeof v === "string" ? v.split(":") : [str(get(v, "source")), str(get(v, "target"))];
		if (from && to && (from.startsWith(".") || from.startsWith("/")) && norm(from) === norm(source)) return to;
	}
	return undefined;
}

/** Prometheus scrapes every node's operator port and loads the alert rules; Grafana is provisioned from deploy/grafana/. */
function monitoringProblems(compose: Obj): string[] {
	const problems: string[] = [];
	const services = obj(compose.services);
	const prometheus = obj(services.prometheus);
	if (!/^prom\/prometheus:/.test(str(prometheus.image) ?? ""))
		problems.push(`compose prometheus: image expected prom/prometheus, got ${JSON.stringify(prometheus.image)}`);
	const confDir = mountTarget(prometheus, "./deploy/prometheus");
	const configFlag = arr(prometheus.command)
		.map(String)
		.find((a) => a.startsWith("--config.file="))
		?.slice("--config.file=".length);
	if (!confDir) problems.push("compose prometheus: ./deploy/prometheus is not mounted");
	else if (configFlag !== `${confDir}/prometheus.yml`)
		problems.push(`compose prometheus: --config.file expected ${confDir}/prometheus.yml, got ${JSON.stringify(configFlag)}`);
	const promFile = join(ROOT, "deploy/prometheus/prometheus.yml");
	if (!existsSync(promFile)) problems.push("deploy/prometheus/prometheus.yml does not exist");
	else {
		const prom = obj(parse(readFileSync(promFile, "utf8")));
		// Static targets ("sales:3004") or DNS discovery of the compose service name on the port (every replica).
		const targets = new Set(
			arr(prom.scrape_configs).flatMap((sc) => [
				...arr(get(sc, "static_configs")).flatMap((st) => arr(get(st, "targets")).map(String)),
				...arr(get(sc, "dns_sd_configs")).flatMap((d) => arr(get(d, "names")).map((n) => `${String(n)}:${String(get(d, "port"))}`)),
			]),
		);
		for (const node of NODES)
			if (!targets.has(`${node.name}:${node.port}`))
				problems.push(`deploy/prometheus/prometheus.yml: no scrape target ${node.name}:${node.port} (the node's operator port)`);
		const rules = arr(prom.rule_files).map(String);
		if (!rules.some((r) => /alerts\.ya?ml$/.test(r)))
			problems.push(`deploy/prometheus/prometheus.yml: rule_files does not load alerts.yml, got ${JSON.stringify(rules)}`);
		for (const r of rules)
			if (confDir && !existsSync(join(ROOT, "deploy/prometheus", r.replace(`${confDir}/`, ""))))
				problems.push(`deploy/prometheus/prometheus.yml: rule file ${r} is not in deploy/prometheus/`);
	}
	const grafana = obj(services.grafana);
	if (!/^grafana\/grafana:/.test(str(grafana.image) ?? ""))
		problems.push(`compose grafana: image expected grafana/grafana, got ${JSON.stringify(grafana.image)}`);
	if (mountTarget(grafana, "./deploy/grafana/provisioning") !== "/etc/grafana/provisioning")
		problems.push("compose grafana: ./deploy/grafana/provisioning is not mounted at /etc/grafana/provisioning");
	const dashboards = mountTarget(grafana, "./deploy/grafana/dashboards");
	if (!dashboards) problems.push("compose grafana: ./deploy/grafana/dashboards is not mounted");
	if (!fromHost(composeEnv(grafana).get("GF_SECURITY_ADMIN_PASSWORD") ?? ""))
		problems.push("compose grafana: GF_SECURITY_ADMIN_PASSWORD must come from the host and be required");
	// The provisioning: a Prometheus datasource at the compose service, dashboard providers reading the mounted folder.
	const provisioning = (sub: string) => {
		const dir = join(ROOT, "deploy/grafana/provisioning", sub);
		return existsSync(dir)
			? readdirSync(dir)
					.filter((f) => /\.ya?ml$/.test(f))
					.map((f) => obj(parse(readFileSync(join(dir, f), "utf8"))))
			: [];
	};
	const sources = provisioning("datasources").flatMap((d) => arr(d.datasources));
	if (!sources.some((d) => get(d, "type") === "prometheus" && /\/\/prometheus:9090\b/.test(str(get(d, "url")) ?? "")))
		problems.push("deploy/grafana/provisioning/datasources: no prometheus datasource at http://prometheus:9090");
	const providers = provisioning("dashboards").flatMap((d) => arr(d.providers));
	if (!providers.some((p) => str(get(p, "options.path")) === dashboards))
		problems.push(`deploy/grafana/provisioning/dashboards: no provider reading ${dashboards}`);
	if (
		!existsSync(join(ROOT, "deploy/grafana/dashboards")) ||
		!readdirSync(join(ROOT, "deploy/grafana/dashboards")).some((f) => f.endsWith(".json"))
	)
		problems.push("deploy/grafana/dashboards: no dashboard JSON");
	return problems;
}

function safeHostname(url: string): string {
	try {
		return new URL(url).hostname;
	} catch {
		return "";
	}
}

// ---------------------------------------------------------------------------------------
// k8s/
// ---------------------------------------------------------------------------------------

const NAMESPACE = "eislager";

function find(objects: K8sObject[], kind: string, name: string): K8sObject | undefined {
	return objects.find((o) => o.kind === kind && o.name === name);
}

function containersOf(deployment: K8sObject): Obj[] {
	return arr(get(deployment.body, "spec.template.spec.containers")).map(obj);
}

/** A probe or targetPort given as a number or as the name of a container port. */
function resolvePort(containers: Obj[], port: unknown): number | undefined {
	if (typeof port === "number") return port;
	if (typeof port === "string" && /^\d+$/.test(port)) return Number(port);
	for (const c of containers) {
		for (const p of arr(c.ports)) if (get(p, "name") === port) return Number(get(p, "containerPort"));
	}
	return undefined;
}

function envList(container: Obj): Obj[] {
	return arr(container.env).map(obj);
}

function labelsMatch(selector: Obj, labels: Obj): boolean {
	const entries = Object.entries(selector);
	return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

function k8sNodeProblems(objects: K8sObject[], node: NodeSpec): string[] {
	const problems: string[] = [];
	const deployment = find(objects, "Deployment", node.name);
	const service = find(objects, "Service", node.name);
	if (!deployment) problems.push(`k8s: no Deployment "${node.name}"`);
	if (!service) problems.push(`k8s: no Service "${node.name}"`);
	if (!deployment || !service) return problems;
	const where = `k8s Deployment ${node.name} (${deployment.file})`;

	const containers = containersOf(deployment);
	const app = containers.find((c) => envList(c).some((e) => e.name === "SERVICES"));
	if (!app) return [...problems, `${where}: no container sets SERVICES`];
	const env = new Map(envList(app).map((e) => [str(e.name) ?? "", e]));
	const value = (name: string) => str(env.get(name)?.value);
	if (value("SERVICES") !== node.name)
		problems.push(`${where}: SERVICES expected "${node.name}", got ${JSON.stringify(value("SERVICES"))}`);
	if (value("METRICS_PORT") !== String(node.port))
		problems.push(`${where}: METRICS_PORT expected "${node.port}", got ${JSON.stringify(value("METRICS_PORT"))}`);
	if (node.publicPort !== undefined && value("PORT") !== String(node.publicPort))
		problems.push(`${where}: PORT expected "${node.publicPort}", got ${JSON.stringify(value("PORT"))}`);
	for (const name of REQUIRED_NODE_ENV) if (!env.has(name)) problems.push(`${where}: ${name} is not set`);
	for (const name of ["JWT_SECRET", "SERVICE_KEY", "TRANSPORTER"]) {
		if (env.has(name) && !isObj(get(env.get(name), "valueFrom.secretKeyRef")))
			problems.push(`${where}: ${name} must come from a Secret (secretKeyRef)`);
	}

	const containerPorts = arr(app.ports).map((p) => Number(get(p, "containerPort")));
	for (const port of [node.port, node.publicPort ?? node.port]) {
		if (!containerPorts.includes(port))
			problems.push(`${where}: containerPort expected ${port}, got ${JSON.stringify(containerPorts)}`);
	}
	for (const [probe, path] of [
		["livenessProbe", "/health"],
		["readinessProbe", "/ready"],
	] as const) {
		const got = { path: get(app, `${probe}.httpGet.path`), port: resolvePort(containers, get(app, `${probe}.httpGet.port`)) };
		if (got.path !== path || got.port !== node.port) {
			problems.push(`${where}: ${probe} expected GET ${path} on ${node.port}, got ${JSON.stringify(got)}`);
		}
	}
	for (const key of ["requests.cpu", "requests.memory", "limits.cpu", "limits.memory"]) {
		if (get(app, `resources.${key}`) === undefined) problems.push(`${where}: resources.${key} missing`);
	}

	const podLabels = obj(get(deployment.body, "spec.template.metadata.labels"));
	if (!labelsMatch(obj(get(deployment.body, "spec.selector.matchLabels")), podLabels)) {
		problems.push(`${where}: spec.selector.matchLabels does not match the pod template labels`);
	}
	if (!labelsMatch(obj(get(service.body, "spec.selector")), podLabels)) {
		problems.push(
			`k8s Service ${node.name}: selector ${JSON.stringify(get(service.body, "spec.selector"))} does not select the pods of Deployment ${node.name} ${JSON.stringify(podLabels)}`,
		);
	}
	const servicePorts = arr(get(service.body, "spec.ports")).map((p) => ({
		port: Number(get(p, "port")),
		target: resolvePort(containers, get(p, "targetPort") ?? get(p, "port")),
	}));
	if (!servicePorts.some((p) => p.port === node.port && p.target === node.port)) {
		problems.push(
			`k8s Service ${node.name}: expected port ${node.port} → targetPort ${node.port}, got ${JSON.stringify(servicePorts)}`,
		);
	}
	return problems;
}

function k8sProblems(objects: K8sObject[]): string[] {
	const problems: string[] = [];
	if (!find(objects, "Namespace", NAMESPACE)) problems.push(`k8s: no Namespace "${NAMESPACE}"`);
	for (const o of objects) {
		const namespace = get(o.body, "metadata.namespace");
		if (o.kind !== "Namespace" && namespace !== NAMESPACE)
			problems.push(`k8s ${o.kind} ${o.name} (${o.file}): namespace expected "${NAMESPACE}", got ${JSON.stringify(namespace)}`);
	}
	const keysOf = (kind: "Secret" | "ConfigMap", name: string): Set<string> | undefined => {
		const o = find(objects, kind, name);
		if (!o) return undefined;
		return new Set([...Object.keys(obj(o.body.data)), ...Object.keys(obj(o.body.stringData))]);
	};
	const deployments = objects.filter((o) => o.kind === "Deployment");
	const workloads = objects.filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet");
	const nodeNames = new Set(NODES.map((n) => n.name));
	for (const d of deployments) {
		if (!nodeNames.has(d.name)) problems.push(`k8s Deployment ${d.name} (${d.file}): is no node of lib/topology.ts`);
		for (const c of containersOf(d)) {
			for (const e of envList(c)) {
				const name = str(e.name) ?? "";
				if (!KNOWN_ENV.has(name))
					problems.push(`k8s Deployment ${d.name}: env ${name} is not a variable the app reads (lib/config.ts ENV_VARS)`);
				for (const [refKind, kind] of [
					["secretKeyRef", "Secret"],
					["configMapKeyRef", "ConfigMap"],
				] as const) {
					const ref = get(e, `valueFrom.${refKind}`);
					if (!isObj(ref)) continue;
					const keys = keysOf(kind, str(ref.name) ?? "");
					if (!keys) problems.push(`k8s Deployment ${d.name}: env ${name} refers to ${kind} "${ref.name}", which is not defined`);
					else if (!keys.has(str(ref.key) ?? "") && ref.optional !== true) {
						problems.push(
							`k8s Deployment ${d.name}: env ${name} refers to key "${ref.key}" of ${kind} ${ref.name}, which has no such key`,
						);
					}
				}
			}
			for (const from of arr(c.envFrom)) {
				for (const [refKind, kind] of [
					["secretRef", "Secret"],
					["configMapRef", "ConfigMap"],
				] as const) {
					const ref = get(from, refKind);
					if (isObj(ref) && !keysOf(kind, str(ref.name) ?? "") && ref.optional !== true) {
						problems.push(`k8s Deployment ${d.name}: envFrom refers to ${kind} "${ref.name}", which is not defined`);
					}
				}
			}
		}
	}
	const services = objects.filter((o) => o.kind === "Service");
	for (const s of services) {
		const selector = obj(get(s.body, "spec.selector"));
		if (!workloads.some((d) => labelsMatch(selector, obj(get(d.body, "spec.template.metadata.labels"))))) {
			problems.push(`k8s Service ${s.name} (${s.file}): selector ${JSON.stringify(selector)} matches no Deployment's pod labels`);
		}
	}

	const gatewayNode = NODES.find((n) => n.name === "gateway");
	const gatewayService = find(objects, "Service", "gateway");
	const ingresses = objects.filter((o) => o.kind === "Ingress");
	if (ingresses.length === 0) problems.push("k8s: no Ingress");
	for (const ing of ingresses) {
		const backends = [
			get(ing.body, "spec.defaultBackend"),
			...arr(get(ing.body, "spec.rules")).flatMap((r) => arr(get(r, "http.paths")).map((p) => get(p, "backend"))),
		].filter(isObj);
		if (backends.length === 0) problems.push(`k8s Ingress ${ing.name}: has no backend`);
		for (const b of backends) {
			const name = get(b, "service.name");
			const byNumber = get(b, "service.port.number");
			const byName = get(b, "service.port.name");
			const port =
				byNumber !== undefined
					? Number(byNumber)
					: Number(
							arr(get(gatewayService?.body, "spec.ports"))
								.map(obj)
								.find((p) => p.name === byName)?.port,
						);
			// Only the public API port: the operator port (/ready, /metrics) is never exposed.
			if (name !== "gateway" || port !== gatewayNode?.publicPort) {
				problems.push(
					`k8s Ingress ${ing.name}: backend expected service gateway port ${gatewayNode?.publicPort}, got ${JSON.stringify(get(b, "service"))}`,
				);
			}
		}
	}

	problems.push(...k8sNatsProblems(objects, keysOf("Secret", "eislager-secrets")));

	for (const target of ["gateway", "sales"]) {
		const hpa = objects.find((o) => o.kind === "HorizontalPodAutoscaler" && get(o.body, "spec.scaleTargetRef.name") === target);
		const deployment = find(objects, "Deployment", target);
		if (!hpa) problems.push(`k8s: no HorizontalPodAutoscaler for ${target}`);
		else if (get(hpa.body, "spec.scaleTargetRef.kind") !== "Deployment" || !deployment)
			problems.push(`k8s HPA ${hpa.name}: scaleTargetRef is not the Deployment ${target}`);
		else if (get(deployment.body, "spec.replicas") !== undefined)
			problems.push(`k8s Deployment ${target}: sets spec.replicas, which fights its HorizontalPodAutoscaler on every apply`);
	}
	for (const hpa of objects.filter((o) => o.kind === "HorizontalPodAutoscaler")) {
		if (!find(objects, "Deployment", str(get(hpa.body, "spec.scaleTargetRef.name")) ?? ""))
			problems.push(`k8s HPA ${hpa.name}: scales a Deployment that does not exist`);
	}
	return problems;
}

/** nats-server runs in k8s/ with an authorization block; its password and the nodes' credentials come from the Secret. */
function k8sNatsProblems(objects: K8sObject[], secretKeys: Set<string> | undefined): string[] {
	const problems: string[] = [];
	const nats = objects.find(
		(o) => (o.kind === "StatefulSet" || o.kind === "Deployment") && containersOf(o).some((c) => /^nats:2\b/.test(str(c.image) ?? "")),
	);
	if (!nats) return ["k8s: no workload runs nats-server (image nats:2...)"];
	const container = containersOf(nats).find((c) => /^nats:2\b/.test(str(c.image) ?? "")) ?? {};
	const configMaps = arr(get(nats.body, "spec.template.spec.volumes"))
		.map((v) => str(get(v, "configMap.name")))
		.filter(Boolean);
	const conf = configMaps
		.map((name) => Object.values(obj(find(objects, "ConfigMap", name ?? "")?.body.data)).join("\n"))
		.join("\n")
		.replace(/#[^\n]*/g, "");
	if (!/authorization\s*\{[\s\S]*password:\s*\$NATS_PASSWORD\b/.test(conf))
		problems.push(`k8s ${nats.kind} ${nats.name}: its config has no authorization block with password: $NATS_PASSWORD`);
	const password = envList(container).find((e) => e.name === "NATS_PASSWORD");
	if (!isObj(get(password, "valueFrom.secretKeyRef")))
		problems.push(`k8s ${nats.kind} ${nats.name}: NATS_PASSWORD must come from a Secret`);
	for (const key of ["NATS_PASSWORD", "TRANSPORTER", "SERVICE_KEY"])
		if (!secretKeys?.has(key)) problems.push(`k8s Secret eislager-secrets: no key ${key}`);
	const transporter = str(get(find(objects, "Secret", "eislager-secrets")?.body, "stringData.TRANSPORTER")) ?? "";
	if (transporter && !/^nats:\/\/[^@/]+@/.test(transporter))
		problems.push(`k8s Secret eislager-secrets: TRANSPORTER carries no NATS credentials, got "${transporter}"`);
	return problems;
}

// ---------------------------------------------------------------------------------------
// nginx/nginx.conf: a small parser for nginx's block syntax
// ---------------------------------------------------------------------------------------

interface Directive {
	name: string;
	args: string[];
	block?: Directive[];
}

function parseNginx(text: string): Directive[] {
	const tokens: string[] = [];
	const re = /\s+|#[^\n]*|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([{};])|([^\s{};"'#][^\s{};]*)/gy;
	for (let pos = 0; pos < text.length; pos = re.lastIndex) {
		re.lastIndex = pos;
		const m = re.exec(text);
		if (!m) throw new Error(`nginx.conf: cannot read "${text.slice(pos, pos + 30)}"`);
		if (m[1] !== undefined) tokens.push(`\u0000${m[1]}`);
		else if (m[2] !== undefined) tokens.push(`\u0000${m[2]}`);
		else if (m[3] !== undefined) tokens.push(m[3]);
		else if (m[4] !== undefined) tokens.push(m[4]);
	}
	let i = 0;
	const unquote = (t: string) => (t.startsWith("\u0000") ? t.slice(1) : t);
	const block = (depth: number): Directive[] => {
		const out: Directive[] = [];
		let words: string[] = [];
		while (i < tokens.length) {
			const t = tokens[i++];
			if (t === ";") {
				if (!words.length) throw new Error("nginx.conf: empty directive");
				out.push({ name: words[0], args: words.slice(1) });
				words = [];
			} else if (t === "{") {
				if (!words.length) throw new Error("nginx.conf: block without a name");
				out.push({ name: words[0], args: words.slice(1), block: block(depth + 1) });
				words = [];
			} else if (t === "}") {
				if (depth === 0) throw new Error("nginx.conf: unbalanced braces: unexpected }");
				if (words.length) throw new Error(`nginx.conf: unterminated directive "${words.join(" ")}"`);
				return out;
			} else words.push(unquote(t));
		}
		if (words.length) throw new Error(`nginx.conf: unterminated directive "${words.join(" ")}"`);
		if (depth > 0) throw new Error("nginx.conf: unbalanced braces: missing }");
		return out;
	};
	return block(0);
}

function nginxProblems(text: string): string[] {
	const problems: string[] = [];
	let conf: Directive[];
	try {
		conf = parseNginx(text);
	} catch (err) {
		return [String(err)];
	}
	const all = (ds: Directive[], name: string): Directive[] =>
		ds.flatMap((d) => [...(d.name === name ? [d] : []), ...all(d.block ?? [], name)]);
	const http = conf.find((d) => d.name === "http")?.block ?? [];
	if (!all(conf, "server_tokens").some((d) => d.args[0] === "off")) problems.push("nginx: server_tokens off missing");
	if (!all(conf, "gzip").some((d) => d.args[0] === "on")) problems.push("nginx: gzip on missing");

	const upstreams = new Map(all(http, "upstream").map((u) => [u.args[0], all(u.block ?? [], "server").map((s) => s.args[0])]));
	const server = all(http, "server").find((d) => d.block)?.block ?? [];
	const bodySize = (ds: Directive[]) => ds.find((d) => d.name === "client_max_body_size")?.args[0];
	if (bodySize(server) !== "1m")
		problems.push(`nginx: server client_max_body_size expected 1m (the JSON limit), got ${JSON.stringify(bodySize(server))}`);

	// Walk the locations, with nginx's inheritance: proxy_set_header and proxy_http_version
	// apply from the enclosing level only when a location sets none of its own.
	interface Loc {
		args: string[];
		block: Directive[];
		headers: Map<string, string>;
		httpVersion?: string;
	}
	const headersOf = (ds: Directive[], inherited: Map<string, string>) => {
		const own = ds.filter((d) => d.name === "proxy_set_header");
		return own.length ? new Map(own.map((d) => [d.args[0].toLowerCase(), d.args[1] ?? ""])) : inherited;
	};
	const serverHeaders = headersOf(server, headersOf(http, new Map()));
	const serverVersion = server.find((d) => d.name === "proxy_http_version")?.args[0];
	const locations: Loc[] = server
		.filter((d) => d.name === "location" && d.block)
		.map((d) => ({
			args: d.args,
			block: d.block ?? [],
			headers: headersOf(d.block ?? [], serverHeaders),
			httpVersion: (d.block ?? []).find((x) => x.name === "proxy_http_version")?.args[0] ?? serverVersion,
		}));
	const proxying = locations.filter((l) => l.block.some((d) => d.name === "proxy_pass"));
	if (proxying.length === 0) problems.push("nginx: no location proxies anywhere");
	for (const loc of proxying) {
		const where = `nginx location ${loc.args.join(" ")}`;
		const target = loc.block.find((d) => d.name === "proxy_pass")?.args[0] ?? "";
		const hostPort = target.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
		const servers = upstreams.get(hostPort) ?? [hostPort];
		if (servers.length === 0 || !servers.every((s) => /:3000$/.test(s)))
			problems.push(`${where}: proxies to ${target} (${servers.join(", ")}), expected the gateway on port 3000`);
		for (const [header, value] of [
			["x-forwarded-for", "$proxy_add_x_forwarded_for"],
			["x-real-ip", "$remote_addr"],
		]) {
			if (loc.headers.get(header) !== value)
				problems.push(`${where}: ${header} expected ${value}, got ${JSON.stringify(loc.headers.get(header))}`);
		}
		if (!loc.headers.has("x-request-id")) problems.push(`${where}: X-Request-Id is not passed`);
	}
	const io = locations.find((l) => l.args.join(" ").includes("/socket.io/"));
	if (!io) problems.push("nginx: no location for /socket.io/");
	else {
		if (io.headers.get("upgrade") !== "$http_upgrade")
			problems.push(`nginx /socket.io/: Upgrade header expected $http_upgrade, got ${JSON.stringify(io.headers.get("upgrade"))}`);
		const connection = io.headers.get("connection") ?? "";
		const upgradeMap = all(http, "map").find((d) => d.args[1] === connection);
		const mapsToUpgrade = (upgradeMap?.block ?? []).some((d) => d.args[0] === "upgrade");
		if (connection.toLowerCase() !== "upgrade" && !(upgradeMap?.args[0] === "$http_upgrade" && mapsToUpgrade)) {
			problems.push(
				`nginx /socket.io/: Connection header must be "upgrade" (or a map of $http_upgrade to it), got ${JSON.stringify(connection)}`,
			);
		}
		if (io.httpVersion !== "1.1")
			problems.push(`nginx /socket.io/: proxy_http_version 1.1 expected, got ${JSON.stringify(io.httpVersion)}`);
	}
	// Operator data is never proxied: /metrics and /ready are caught by a location that answers itself.
	for (const path of ["/metrics", "/ready"]) {
		const matches = (l: Loc) =>
			l.args[0] === "="
				? l.args[1] === path
				: l.args[0] === "~" || l.args[0] === "~*"
					? new RegExp(l.args[1], l.args[0] === "~*" ? "i" : "").test(path)
					: false;
		const loc = locations.find(matches);
		const answers = loc?.block.find((d) => d.name === "return")?.args[0];
		if (!loc || loc.block.some((d) => d.name === "proxy_pass") || answers !== "404")
			problems.push(
				`nginx: ${path} must be answered 404 by nginx itself (operator data), got ${loc ? `location ${loc.args.join(" ")}` : "the proxy"}`,
			);
	}
	const uploads = locations.filter((l) => /upload/.test(l.args.join(" ")));
	if (uploads.length === 0 || uploads.some((l) => bodySize(l.block) !== "10m")) {
		problems.push(
			`nginx: upload locations with client_max_body_size 10m expected, got ${JSON.stringify(uploads.map((l) => [l.args.join(" "), bodySize(l.block)]))}`,
		);
	}
	return problems;
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

const compose = loadCompose();
const k8sByEnv = Object.fromEntries(DEPLOY_ENVS.map((env) => [env, loadK8s(env)])) as Record<DeployEnv, K8sObject[]>;
const k8s = k8sByEnv.production;
const nginxConf = readFileSync(join(ROOT, "nginx/nginx.conf"), "utf8");

describe("docker-compose.yml with each environment's override", () => {
	const cases = DEPLOY_ENVS.flatMap((env) => NODES.map((n) => [env, n.name, n] as const));
	test.each(cases)(
		"%s, node %s: service, SERVICES, NODE_ENV, LOG_LEVEL, env accepted by lib/config.ts, healthcheck port, depends_on",
		(env, _name, node) => {
			expect(composeNodeProblems(loadCompose(env), node, env)).toEqual([]);
		},
	);

	test.each(DEPLOY_ENVS)("%s: depends_on, published ports, volumes, known env variables, infrastructure images", (env) => {
		expect(composeProblems(loadCompose(env))).toEqual([]);
	});

	test.each(DEPLOY_ENVS)("%s: overrides only services of the base (or adds its own with an image)", (env) => {
		const base = obj(compose.services);
		for (const [name, svc] of Object.entries(obj(loadYaml(COMPOSE_ENVS[env]).services))) {
			expect([name, isObj(base[name]) || typeof get(svc, "image") === "string"]).toEqual([name, true]);
		}
	});

	test.each(["docker-compose.yml", ...Object.values(COMPOSE_ENVS)])("%s is valid against the compose-spec schema", (file) => {
		expect(composeSpecProblems(loadYaml(file), file)).toEqual([]);
	});

	test.each(DEPLOY_ENVS)("%s: the merged file is valid against the compose-spec schema", (env) => {
		expect(composeSpecProblems(loadCompose(env), env)).toEqual([]);
	});

	test("the base alone is production", () => {
		for (const node of NODES) expect(composeNodeProblems(compose, node, "production")).toEqual([]);
	});

	test("prometheus scrapes every node's operator port and loads alerts.yml; grafana is provisioned from deploy/grafana/", () => {
		expect(monitoringProblems(compose)).toEqual([]);
	});
});

describe("k8s/ (kustomize base + per-node patches, an overlay per environment)", () => {
	test.each(DEPLOY_ENVS)("%s: renders into objects with kind and name", (env) => {
		expect(k8sByEnv[env].length).toBeGreaterThan(0);
		expect(k8sByEnv[env].filter((o) => !o.kind || !o.name).map((o) => o.file)).toEqual([]);
	});

	const cases = DEPLOY_ENVS.flatMap((env) => NODES.map((n) => [env, n.name, n] as const));
	test.each(cases)("%s, node %s: Deployment + Service, ports, probes, SERVICES", (env, _name, node) => {
		expect(k8sNodeProblems(k8sByEnv[env], node)).toEqual([]);
	});

	test.each(DEPLOY_ENVS)("%s: namespace, secret/config references, selectors, Ingress backend, autoscalers, environment", (env) => {
		expect([...k8sProblems(k8sByEnv[env]), ...k8sEnvironmentProblems(k8sByEnv[env], env)]).toEqual([]);
	});

	test("every node of lib/topology.ts has its patch in the base, and nothing else sits beside base/ and overlays/", () => {
		expect(readdirSync(join(ROOT, "k8s/base/nodes")).sort()).toEqual(NODES.map((n) => n.name).sort());
		expect(readdirSync(join(ROOT, "k8s")).sort()).toEqual(["base", "overlays"]);
		expect(readdirSync(join(ROOT, "k8s/overlays")).sort()).toEqual([...DEPLOY_ENVS].sort());
	});
});

describe("nginx/nginx.conf", () => {
	test("proxies to the gateway on 3000, websocket upgrade on /socket.io/, headers, limits", () => {
		expect(nginxProblems(nginxConf)).toEqual([]);
	});
});

describe("scripts/kafka.sh", () => {
	const script = join(ROOT, "scripts/kafka.sh");

	test("is executable and bash -n clean", () => {
		expect((statSync(script).mode & 0o111) !== 0).toBe(true);
		expect(() => execFileSync("bash", ["-n", script], { stdio: "pipe" })).not.toThrow();
	});

	test("is strict and offers start, stop and status", () => {
		const text = readFileSync(script, "utf8");
		expect(text).toMatch(/^set -euo pipefail$/m);
		for (const command of ["start", "stop", "status"]) expect(text).toMatch(new RegExp(`^\\s*${command}\\)`, "m"));
	});
});

describe("the checks catch mistakes", () => {
	const sales = NODES.find((n) => n.name === "sales") ?? NODES[NODES.length - 1];
	const gateway = NODES.find((n) => n.name === "gateway") ?? NODES[0];
	const composeService = (c: Obj, name: string) => obj(obj(c.services)[name]);
	const composeEnvOf = (c: Obj, name: string) => obj(composeService(c, name).environment);
	const k8sObject = (objects: K8sObject[], kind: string, name: string) => {
		const o = find(objects, kind, name);
		if (!o) throw new Error(`fixture: no ${kind} ${name}`);
		return o;
	};
	const appContainer = (objects: K8sObject[], name: string) => containersOf(k8sObject(objects, "Deployment", name))[0];

	const composeCases: [string, (c: Obj) => void, RegExp][] = [
		[
			"a mistyped healthcheck port",
			(c) => {
				const hc = obj(composeService(c, sales.name).healthcheck);
				hc.test = arr(hc.test).map((t) => String(t).replace(`:${sales.port}/`, `:${sales.port + 1}/`));
			},
			/healthcheck expected/,
		],
		[
			"a wrong SERVICES",
			(c) => {
				composeEnvOf(c, sales.name).SERVICES = "inventory";
			},
			/SERVICES expected "sales"/,
		],
		[
			"a missing TRANSPORTER",
			(c) => {
				delete composeEnvOf(c, sales.name).TRANSPORTER;
			},
			/TRANSPORTER is not set/,
		],
		[
			"a hard-coded JWT_SECRET",
			(c) => {
				composeEnvOf(c, sales.name).JWT_SECRET = "secret";
			},
			/JWT_SECRET must come from the host/,
		],
		[
			"a hard-coded SERVICE_KEY",
			(c) => {
				composeEnvOf(c, sales.name).SERVICE_KEY = "k".repeat(40);
			},
			/SERVICE_KEY must come from the host/,
		],
		[
			"no SERVICE_KEY",
			(c) => {
				delete composeEnvOf(c, sales.name).SERVICE_KEY;
			},
			/SERVICE_KEY is not set/,
		],
		[
			"NATS without credentials",
			(c) => {
				composeEnvOf(c, sales.name).TRANSPORTER = "nats://nats:4222";
			},
			/TRANSPORTER must carry the NATS credentials/,
		],
		[
			"a URL to a host that is no service",
			(c) => {
				composeEnvOf(c, sales.name).CACHER = "redis://cache:6379";
			},
			/CACHER points at host "cache"/,
		],
		[
			"a wrong METRICS_PORT",
			(c) => {
				composeEnvOf(c, sales.name).METRICS_PORT = "3999";
			},
			/METRICS_PORT expected/,
		],
		[
			"a missing healthy condition",
			(c) => {
				delete obj(composeService(c, sales.name).depends_on).nats;
			},
			/depends_on nats/,
		],
		[
			"a node service that is missing",
			(c) => {
				delete obj(c.services)[sales.name];
			},
			/no service "sales"/,
		],
		[
			"a value lib/config.ts rejects",
			(c) => {
				composeEnvOf(c, sales.name).RATE_LIMIT_PER_MIN = "lots";
			},
			/lib\/config.ts rejects its environment: Invalid configuration: RATE_LIMIT_PER_MIN/,
		],
		[
			"a LOG_LEVEL default of another environment",
			(c) => {
				composeEnvOf(c, sales.name).LOG_LEVEL = "${LOG_LEVEL:-debug}";
			},
			/LOG_LEVEL expected to default to info/,
		],
	];
	test.each<[string, (c: Obj) => void, RegExp]>([
		[
			"a misspelled healthcheck key",
			(c) => {
				obj(composeService(c, sales.name).healthcheck).intervall = "5s";
			},
			/healthcheck must NOT have additional properties \(intervall\)/,
		],
		[
			"a service key compose does not know",
			(c) => {
				composeService(c, sales.name).enviroment = {};
			},
			/services\/sales must NOT have additional properties \(enviroment\)/,
		],
		[
			"depends_on with an unknown condition",
			(c) => {
				obj(obj(composeService(c, sales.name).depends_on).nats).condition = "healthy";
			},
			/condition must be equal to one of the allowed values/,
		],
	])("compose-spec schema: %s", (_what, mutate, expected) => {
		const broken = clone(compose);
		mutate(broken);
		expect(composeSpecProblems(broken, "broken").join("\n")).toMatch(expected);
	});

	test("staging: a mail node without a required SMTP_URL", () => {
		const broken = loadCompose("staging");
		composeEnvOf(broken, "auth").SMTP_URL = null;
		const auth = NODES.find((n) => n.name === "auth") ?? sales;
		expect(composeNodeProblems(broken, auth, "staging").join("\n")).toMatch(
			/SMTP_URL must come from the host[\s\S]*Invalid configuration: SMTP_URL/,
		);
	});

	const monitoringCases: [string, (c: Obj) => void, RegExp][] = [
		[
			"prometheus without its config mount",
			(c) => {
				composeService(c, "prometheus").volumes = ["prometheusdata:/prometheus"];
			},
			/deploy\/prometheus is not mounted/,
		],
		[
			"prometheus reading another config file",
			(c) => {
				composeService(c, "prometheus").command = ["--config.file=/etc/prometheus/other.yml"];
			},
			/--config.file expected/,
		],
		[
			"grafana without dashboards",
			(c) => {
				composeService(c, "grafana").volumes = ["./deploy/grafana/provisioning:/etc/grafana/provisioning:ro"];
			},
			/dashboards is not mounted/,
		],
		[
			"a hard-coded grafana password",
			(c) => {
				obj(composeService(c, "grafana").environment).GF_SECURITY_ADMIN_PASSWORD = "admin";
			},
			/GF_SECURITY_ADMIN_PASSWORD must come from the host/,
		],
	];
	test.each(monitoringCases)("monitoring: %s", (_what, mutate, expected) => {
		const broken = clone(compose);
		mutate(broken);
		expect(monitoringProblems(broken).join("\n")).toMatch(expected);
	});

	test.each(composeCases)("compose node: %s", (_what, mutate, expected) => {
		const broken = clone(compose);
		mutate(broken);
		expect(composeNodeProblems(broken, sales).join("\n")).toMatch(expected);
	});

	const composeGlobalCases: [string, (c: Obj) => void, RegExp][] = [
		[
			"depends_on an unknown service",
			(c) => {
				obj(composeService(c, sales.name).depends_on).natz = { condition: "service_healthy" };
			},
			/depends_on "natz", which is no service/,
		],
		[
			"a published port on redis",
			(c) => {
				composeService(c, "redis").ports = ["6379:6379"];
			},
			/compose redis: publishes ports/,
		],
		[
			"a published port on a node",
			(c) => {
				composeService(c, sales.name).ports = [`${sales.port}:${sales.port}`];
			},
			/compose sales: publishes ports/,
		],
		[
			"an env variable the app does not read",
			(c) => {
				composeEnvOf(c, sales.name).DATABSE_URL = "x";
			},
			/DATABSE_URL is not a variable/,
		],
		[
			"an undeclared volume",
			(c) => {
				composeService(c, "postgres").volumes = ["pgdta:/var/lib/postgresql/data"];
			},
			/volume "pgdta"/,
		],
		[
			"a node that topology does not know",
			(c) => {
				obj(c.services).billing = { build: "." };
			},
			/billing: builds the project image but is no node/,
		],
		[
			"nats without JetStream",
			(c) => {
				composeService(c, "nats").command = ["-m", "8222"];
			},
			/JetStream/,
		],
		[
			"nats without authorization",
			(c) => {
				composeService(c, "nats").command = ["-js", "-sd", "/data", "-m", "8222"];
			},
			/compose nats: no config file \(-c\) with an authorization block/,
		],
		[
			"a hard-coded NATS password",
			(c) => {
				obj(composeService(c, "nats").environment).NATS_PASSWORD = "secret";
			},
			/NATS_PASSWORD must come from the host/,
		],
		[
			"the gateway's operator port published",
			(c) => {
				arr(composeService(c, gateway.name).ports).push(`127.0.0.1:${gateway.port}:${gateway.port}`);
			},
			/gateway: publishes its operator port/,
		],
		[
			"the gateway not published",
			(c) => {
				delete composeService(c, "gateway").ports;
			},
			/gateway: expected to publish container port 3000/,
		],
		[
			"grafana published on every interface",
			(c) => {
				composeService(c, "grafana").ports = ["3030:3000"];
			},
			/grafana: publishes "3030:3000" beyond the loopback/,
		],
	];
	test.each(composeGlobalCases)("compose: %s", (_what, mutate, expected) => {
		const broken = clone(compose);
		mutate(broken);
		expect(composeProblems(broken).join("\n")).toMatch(expected);
	});

	const k8sNodeCases: [string, (o: K8sObject[]) => void, RegExp][] = [
		[
			"a mistyped containerPort",
			(o) => {
				obj(arr(appContainer(o, sales.name).ports)[0]).containerPort = sales.port + 10;
			},
			/containerPort expected/,
		],
		[
			"readiness on /health",
			(o) => {
				obj(get(appContainer(o, sales.name), "readinessProbe.httpGet")).path = "/health";
			},
			/readinessProbe expected GET \/ready/,
		],
		[
			"liveness on another port",
			(o) => {
				obj(get(appContainer(o, sales.name), "livenessProbe.httpGet")).port = 3999;
			},
			/livenessProbe expected GET \/health/,
		],
		[
			"a wrong SERVICES",
			(o) => {
				obj(envList(appContainer(o, sales.name)).find((e) => e.name === "SERVICES")).value = "auth";
			},
			/SERVICES expected "sales"/,
		],
		[
			"a literal SERVICE_KEY",
			(o) => {
				const e = obj(envList(appContainer(o, sales.name)).find((x) => x.name === "SERVICE_KEY"));
				delete e.valueFrom;
				e.value = "k".repeat(40);
			},
			/SERVICE_KEY must come from a Secret/,
		],
		[
			"a Service targetPort typo",
			(o) => {
				obj(arr(get(k8sObject(o, "Service", sales.name).body, "spec.ports"))[0]).targetPort = sales.port + 1;
			},
			/expected port \d+ → targetPort \d+/,
		],
		[
			"a Service selecting other pods",
			(o) => {
				obj(get(k8sObject(o, "Service", sales.name).body, "spec.selector"))["app.kubernetes.io/component"] = "sale";
			},
			/does not select the pods/,
		],
		[
			"a missing Deployment",
			(o) => {
				o.splice(o.indexOf(k8sObject(o, "Deployment", sales.name)), 1);
			},
			/no Deployment "sales"/,
		],
		[
			"missing resource limits",
			(o) => {
				delete obj(appContainer(o, sales.name).resources).limits;
			},
			/resources.limits.cpu missing/,
		],
	];
	test.each(k8sNodeCases)("k8s node: %s", (_what, mutate, expected) => {
		const broken = clone(k8s);
		mutate(broken);
		expect(k8sNodeProblems(broken, sales).join("\n")).toMatch(expected);
	});

	const k8sGlobalCases: [string, (o: K8sObject[]) => void, RegExp][] = [
		[
			"a secretKeyRef to a missing key",
			(o) => {
				const jwt = envList(appContainer(o, sales.name)).find((e) => e.name === "JWT_SECRET");
				obj(get(jwt, "valueFrom.secretKeyRef")).key = "JWT_SECRT";
			},
			/key "JWT_SECRT" of Secret/,
		],
		[
			"a configMapKeyRef to a missing ConfigMap",
			(o) => {
				const ref = envList(appContainer(o, sales.name))
					.map((e) => get(e, "valueFrom.configMapKeyRef"))
					.find(isObj);
				obj(ref).name = "eislager-cfg";
			},
			/ConfigMap "eislager-cfg", which is not defined/,
		],
		[
			"a Service whose selector matches nothing",
			(o) => {
				obj(get(k8sObject(o, "Service", sales.name).body, "spec.selector"))["app.kubernetes.io/component"] = "nobody";
			},
			/matches no Deployment/,
		],
		[
			"an Ingress to the wrong port",
			(o) => {
				const ing = o.find((x) => x.kind === "Ingress");
				const backend = get(arr(get(arr(get(ing?.body, "spec.rules"))[0], "http.paths"))[0], "backend.service.port");
				obj(backend).number = 3001;
			},
			/backend expected service gateway port 3000/,
		],
		[
			"an Ingress to the gateway's operator port",
			(o) => {
				const ing = o.find((x) => x.kind === "Ingress");
				const backend = get(arr(get(arr(get(ing?.body, "spec.rules"))[0], "http.paths"))[0], "backend.service.port");
				obj(backend).number = gateway.port;
			},
			/backend expected service gateway port 3000/,
		],
		[
			"nats without authorization",
			(o) => {
				const cm = k8sObject(o, "ConfigMap", "eislager-nats");
				obj(cm.body.data)["nats.conf"] = "port: 4222\njetstream { store_dir: /data }\n";
			},
			/no authorization block/,
		],
		[
			"no SERVICE_KEY in the Secret",
			(o) => {
				delete obj(k8sObject(o, "Secret", "eislager-secrets").body.stringData).SERVICE_KEY;
			},
			/no key SERVICE_KEY/,
		],
		[
			"an Ingress to another Service",
			(o) => {
				const ing = o.find((x) => x.kind === "Ingress");
				obj(get(arr(get(arr(get(ing?.body, "spec.rules"))[0], "http.paths"))[0], "backend.service")).name = "auth";
			},
			/backend expected service gateway/,
		],
		[
			"an object outside the namespace",
			(o) => {
				obj(k8sObject(o, "Service", sales.name).body.metadata).namespace = "default";
			},
			/namespace expected "eislager"/,
		],
		[
			"an env variable the app does not read",
			(o) => {
				arr(appContainer(o, sales.name).env).push({ name: "DEBUG_MODE", value: "1" });
			},
			/DEBUG_MODE is not a variable/,
		],
		[
			"no autoscaler for sales",
			(o) => {
				o.splice(
					o.findIndex((x) => x.kind === "HorizontalPodAutoscaler" && get(x.body, "spec.scaleTargetRef.name") === "sales"),
					1,
				);
			},
			/no HorizontalPodAutoscaler for sales/,
		],
	];
	const k8sEnvCases: [string, DeployEnv, (o: K8sObject[]) => void, RegExp][] = [
		[
			"staging with development's NODE_ENV",
			"staging",
			(o) => {
				obj(k8sObject(o, "ConfigMap", "eislager-config").body.data).NODE_ENV = "development";
			},
			/NODE_ENV expected "staging"/,
		],
		[
			"staging without SMTP",
			"staging",
			(o) => {
				obj(k8sObject(o, "Secret", "eislager-secrets").body.stringData).SMTP_URL = "";
			},
			/SMTP_URL must be a real server/,
		],
		[
			"production logging debug",
			"production",
			(o) => {
				obj(k8sObject(o, "ConfigMap", "eislager-config").body.data).LOG_LEVEL = "debug";
			},
			/LOG_LEVEL expected "info"/,
		],
		[
			"a ConfigMap value lib/config.ts rejects",
			"staging",
			(o) => {
				obj(k8sObject(o, "ConfigMap", "eislager-config").body.data).TRUST_PROXY = "yes";
			},
			/Deployment gateway: lib\/config.ts rejects its environment: Invalid configuration: TRUST_PROXY/,
		],
	];
	test.each(k8sEnvCases)("k8s environment: %s", (_what, env, mutate, expected) => {
		const broken = clone(k8sByEnv[env]);
		mutate(broken);
		expect(k8sEnvironmentProblems(broken, env).join("\n")).toMatch(expected);
	});

	test.each(k8sGlobalCases)("k8s: %s", (_what, mutate, expected) => {
		const broken = clone(k8s);
		mutate(broken);
		expect(k8sProblems(broken).join("\n")).toMatch(expected);
	});

	const nginxCases: [string, (t: string) => string, RegExp][] = [
		["the upstream on another port", (t) => t.replace(/(server\s+[\w.-]+):3000;/, "$1:3001;"), /expected the gateway on port 3000/],
		[
			"no Upgrade header for socket.io",
			(t) => t.replace(/proxy_set_header\s+Upgrade\s+\$http_upgrade;/, ""),
			/Upgrade header expected/,
		],
		[
			"Connection not upgraded for socket.io",
			(t) => t.replace(/(location \/socket\.io\/[\s\S]*?proxy_set_header\s+Connection\s+)\S+;/, '$1"";'),
			/Connection header must be "upgrade"/,
		],
		["no /socket.io/ location", (t) => t.replace(/location \/socket\.io\//, "location /sockets/"), /no location for \/socket\.io\//],
		[
			"no X-Forwarded-For",
			(t) => t.replace(/proxy_set_header\s+X-Forwarded-For\s+\$proxy_add_x_forwarded_for;/g, ""),
			/x-forwarded-for expected/,
		],
		["server tokens on", (t) => t.replace(/server_tokens off;/, "server_tokens on;"), /server_tokens off missing/],
		[
			"a small upload limit",
			(t) => t.replace(/client_max_body_size 10m;/, "client_max_body_size 1m;"),
			/upload locations with client_max_body_size 10m/,
		],
		["unbalanced braces", (t) => t.replace(/\}\s*$/, ""), /unbalanced braces/],
		[
			"/metrics proxied",
			(t) => t.replace(/location ~ \^\/\(metrics\|ready\)\(\/\|\$\) \{/, "location ~ ^/(status)(/|$) {"),
			/\/metrics must be answered 404 by nginx itself/,
		],
	];
	test.each(nginxCases)("nginx: %s", (_what, mutate, expected) => {
		const broken = mutate(nginxConf);
		expect(broken).not.toBe(nginxConf); // the fixture edit applied
		expect(nginxProblems(broken).join("\n")).toMatch(expected);
	});
});
