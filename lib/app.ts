/**
 * Builds a broker and loads service folders: every folder under services/ in
 * one process, or the node's own (SERVICES=sales) in a cluster.
 */
import fs from "node:fs";
import path from "node:path";
import { ServiceBroker, type BrokerOptions, type ServiceSchema } from "moleculer";
import { brokerConfig } from "../moleculer.config";
import type { Config } from "./config";

export const SERVICES_DIR = path.resolve(__dirname, "..", "services");

/** The project root (holds package.json), from source or from dist/. */
export const PROJECT_ROOT = fs.existsSync(path.resolve(__dirname, "..", "package.json")) ? path.resolve(__dirname, "..") : path.resolve(__dirname, "..", "..");

export function packageVersion(): string {
	return (JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8")) as { version: string }).version;
}

/** A service module exports its schema, or a factory when the schema depends on configuration. */
type ServiceModule = { default: ServiceSchema | (() => ServiceSchema) };

/** Service folders present in this build, e.g. ["auth", "gateway", "sales"]. */
export function availableServices(): string[] {
	return fs
		.readdirSync(SERVICES_DIR, { withFileTypes: true })
		.filter((d) => d.isDirectory() && serviceFiles(d.name).length > 0)
		.map((d) => d.name)
		.sort();
}

function serviceFiles(folder: string): string[] {
	const dir = path.join(SERVICES_DIR, folder);
	return fs
		.readdirSync(dir)
		.filter((f) => /\.service\.(js|ts)$/.test(f) && !f.endsWith(".d.ts"))
		.map((f) => path.join(dir, f));
}

export function createBroker(cfg: Config, overrides: Partial<BrokerOptions> = {}): ServiceBroker {
	return new ServiceBroker(brokerConfig(cfg, overrides));
}

/** Loads the given service folders (all when undefined); an unknown name stops start-up. */
export function loadServices(broker: ServiceBroker, names: string[] | undefined): string[] {
	const available = availableServices();
	const wanted = names ?? available;
	for (const name of wanted) {
		if (!available.includes(name)) throw new Error(`Unknown service "${name}" in SERVICES (available: ${available.join(", ")})`);
		for (const file of serviceFiles(name)) {
			const mod = require(file) as ServiceModule;
			broker.createService(typeof mod.default === "function" ? mod.default() : mod.default);
		}
	}
	return wanted;
}
