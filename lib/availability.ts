/**
 * A path of a known service that the gateway cannot route right now answers 503, not 404.
 *
 * moleculer-web rebuilds its auto-aliases a moment after services join or leave
 * the cluster. While no node serves `sales`, `/api/v1/sales/...` has no route;
 * while a new sales node's services arrive one by one, some of its routes exist
 * and others not yet. The gateway asks `unavailableService()` before answering
 * moleculer-web's route-level 404 (an action's own "not found" is never touched):
 * - the path's first segment names a service folder of this build and no
 *   available node serves that folder → 503;
 * - an available action of that folder declares a route matching the path, but
 *   the gateway has not built it yet → 503;
 * - otherwise it is a genuine 404 (a path no action declares).
 */
import type { ServiceBroker } from "moleculer";
import { serviceUnavailable } from "./errors";
import { availableServices } from "./app";

/** Folders that publish no REST routes of their own. */
const NOT_ROUTED = new Set(["gateway", "kafka-bridge"]);

let folders: Set<string> | undefined;

/** The folder a public path belongs to: /api/v1/<x>/..., /api/<x>/..., /auth/... */
export function serviceFolderOf(path: string): string | undefined {
	const segments = path.split("?")[0].split("/").filter(Boolean);
	if (segments[0] === "api") return segments[1] === "v1" ? segments[2] : segments[1];
	return segments[0] === "auth" ? "auth" : undefined;
}

/** The path below the route prefix: "/api/v1/sales/shops/1" → "/sales/shops/1". */
function servicePath(path: string): string {
	const clean = path.split("?")[0].replace(/\/+$/, "");
	return clean.replace(/^\/api\/v1(?=\/)|^\/api(?=\/)/, "");
}

type RestDef = string | { method?: string; path?: string };

/** Does one of the action's `rest` definitions (under the service's base) match method + path? */
function declares(base: string, rest: RestDef | RestDef[] | undefined, method: string, path: string): boolean {
	const defs = Array.isArray(rest) ? rest : rest ? [rest] : [];
	return defs.some((def) => {
		const [m, p] = typeof def === "string" ? (def.includes(" ") ? def.split(/\s+/) : ["*", def]) : [def.method ?? "*", def.path ?? ""];
		if (m !== "*" && m.toUpperCase() !== method.toUpperCase()) return false;
		const pattern = `${base}${p === "/" ? "" : p}`
			.replace(/\/+/g, "/")
			.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
			.replace(/:\w+/g, "[^/]+");
		return new RegExp(`^${pattern}$`).test(path);
	});
}

interface RegistryService {
	name: string;
	settings?: { rest?: string | string[] };
	actions?: Record<string, { rest?: RestDef | RestDef[] }>;
}

export function unavailableService(broker: ServiceBroker, method: string, path: string, err: unknown): Error | undefined {
	const e = err as { code?: unknown; name?: unknown } | undefined;
	if (e?.code !== 404 || e.name !== "NotFoundError") return undefined;
	const folder = serviceFolderOf(path);
	if (!folder || NOT_ROUTED.has(folder)) return undefined;
	folders ??= new Set(availableServices());
	if (!folders.has(folder)) return undefined;
	const ofFolder = (name: string) => name === folder || name.startsWith(`${folder}.`);
	const services = (broker.registry.getServiceList({ onlyAvailable: true, withActions: true }) as readonly RegistryService[]).filter(
		(s) => ofFolder(s.name),
	);
	if (services.length === 0) return serviceUnavailable(`No node serves "${folder}" right now`);
	const target = servicePath(path);
	const routable = services.some((s) => {
		const base = Array.isArray(s.settings?.rest) ? s.settings.rest[0] : (s.settings?.rest ?? `/${folder}`);
		return Object.values(s.actions ?? {}).some((a) => declares(base, a.rest, method, target));
	});
	return routable ? serviceUnavailable(`The routes of "${folder}" are being rebuilt, try again shortly`) : undefined;
}
