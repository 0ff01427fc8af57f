/**
 * Flavor data comes from the inventory service (`inventory.flavors.getMany`),
 * never from its tables. Prices are always the catalog's, never the client's.
 */
import type { Context } from "moleculer";
import { validationErrors, type FieldIssue } from "../../lib/errors";
import { call, type FactoryRef, type FlavorRef } from "../../lib/contracts";

/** A flavor as sales prices and labels it (the catalog's contract type). */
export type Flavor = FlavorRef;

export async function getFlavors(ctx: Context, ids: string[]): Promise<Map<string, Flavor>> {
	if (ids.length === 0) return new Map();
	const flavors = await call(ctx, "inventory.flavors.getMany", { ids: [...new Set(ids)] });
	return new Map(flavors.map((f) => [f.id, f]));
}

/**
 * Flavors by id for the POS, cached per flavor in this process (a basket of
 * flavors already seen needs no call, whatever its combination). Dropped whole
 * when the catalog changes (`cache.clean.inventory`); entries also expire after
 * `ttlMs` in case such a broadcast is lost. Unknown ids are never cached.
 */
export class FlavorCache {
	private readonly entries = new Map<string, { flavor: Flavor; expires: number }>();
	/** Bumped by `clear()`: a fetch that started before a clear must not store what it read. */
	private generation = 0;

	constructor(
		private readonly ttlMs = 60_000,
		private readonly maxEntries = 10_000,
	) {}

	async get(ctx: Context, ids: string[]): Promise<Map<string, Flavor>> {
		const now = Date.now();
		const found = new Map<string, Flavor>();
		const missing: string[] = [];
		for (const id of new Set(ids)) {
			const entry = this.entries.get(id);
			if (entry && entry.expires > now) found.set(id, entry.flavor);
			else missing.push(id);
		}
		if (missing.length === 0) return found;
		const generation = this.generation;
		const fetched = await getFlavors(ctx, missing);
		if (generation === this.generation && this.entries.size + fetched.size <= this.maxEntries) {
			for (const flavor of fetched.values()) this.entries.set(flavor.id, { flavor, expires: now + this.ttlMs });
		}
		for (const flavor of fetched.values()) found.set(flavor.id, flavor);
		return found;
	}

	clear(): void {
		this.generation++;
		this.entries.clear();
	}
}

export function resolveFactory(ctx: Context, id: string): Promise<FactoryRef | null> {
	return call(ctx, "inventory.factories.resolve", { id });
}

/** Issues for unknown or archived flavors, naming the item: `items[2].flavorId`. */
export function flavorIssues(items: { flavorId: string }[], flavors: Map<string, Flavor>, field = "items"): FieldIssue[] {
	const issues: FieldIssue[] = [];
	items.forEach((item, i) => {
		const flavor = flavors.get(item.flavorId);
		if (!flavor) issues.push({ field: `${field}[${i}].flavorId`, message: `Unknown flavor ${item.flavorId}`, type: "unknownFlavor" });
		else if (flavor.archived)
			issues.push({ field: `${field}[${i}].flavorId`, message: `Flavor ${flavor.name} is archived`, type: "archivedFlavor" });
	});
	return issues;
}

export function assertFlavors(items: { flavorId: string }[], flavors: Map<string, Flavor>, field = "items"): void {
	const issues = flavorIssues(items, flavors, field);
	if (issues.length) throw validationErrors(issues);
}
