/**
 * Builds a broker and loads service folders: every folder under services/ in
 * one process, or the node's own (SERVICES=sales) in a cluster. Here, not in
 * lib/, because it reads moleculer.config.ts and the services: lib/ is the floor below them.
 */
import { ServiceBroker, type BrokerOptions, type ServiceSchema } from "moleculer";
import { brokerConfig } from "../moleculer.config";
import type { Config } from "../lib/config";
import { availableServices, serviceFiles } from "../lib/app";
import { applyRuntimeFlags } from "../lib/runtime";

applyRuntimeFlags();

/** A service module exports its schema, or a factory when the schema depends on configuration. */
type ServiceModule = { default: ServiceSchema | (() => ServiceSchema) };

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
