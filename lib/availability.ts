/**
 * A path of a known service whose nodes are all gone answers 503, not 404.
 *
 * moleculer-web rebuilds its auto-aliases when services leave the cluster, so
 * while no node serves `sales`, `/api/v1/sales/...` has no route and would be a
 * 404. The gateway asks `unavailableService()` before answering a route-level
 * 404: when the path's first segment names a service folder of this build
 * (services/<folder>, whose actions use `rest: "/<folder>"`) and no available
 * node serves a service of that folder, the answer is 503 SERVICE_UNAVAILABLE,
 * and the client retries later. Unknown paths stay 404.
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

/**
 * 503 when the path's service folder has no available node, or has one whose
 * routes the gateway has not rebuilt yet (moleculer-web regenerates aliases a
 * moment after services join). A path the gateway does route for that folder
 * elsewhere is a genuine 404.
 */
export function unavailableService(broker: ServiceBroker, path: string, err: unknown, aliases: { action?: string }[] = []): Error | undefined {
	const e = err as { code?: unknown; type?: unknown } | undefined;
	if (e?.code !== 404 || e.type !== "NOT_FOUND") return undefined;
	const folder = serviceFolderOf(path);
	if (!folder || NOT_ROUTED.has(folder)) return undefined;
	folders ??= new Set(availableServices());
	if (!folders.has(folder)) return undefined;
	const ofFolder = (name: string | undefined) => name !== undefined && (name === folder || name.startsWith(`${folder}.`));
	const served = (broker.registry.getServiceList({ onlyAvailable: true }) as { name: string }[]).some((s) => ofFolder(s.name));
	const routed = aliases.some((a) => ofFolder(a.action?.slice(0, a.action.lastIndexOf("."))));
	return served && routed ? undefined : serviceUnavailable(`No node serves "${folder}" right now`);
}
