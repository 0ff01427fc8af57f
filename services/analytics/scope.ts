/**
 * Date ranges, caller scoping and name look-ups for the analytics routes.
 * Scope: `null` = chain-wide (EXECUTIVE, ADMIN, trusted internal callers); otherwise the
 * shop or factory ids the caller may see: the shops they are staff of
 * (`sales.shops.staffShopIds`) or the factories they manage
 * (`inventory.factories.managedBy`), one trusted call per user, cached here for 30 s and
 * dropped at once when sales or inventory broadcast `staff.changed` for that user (base.ts), or
 * when their role changes (USER_ROLE_CHANGED, group "analytics.roles" in ingest.service.ts).
 */
import type { Context } from "moleculer";
import { forbidden, validationError } from "../../lib/errors";
import type { Meta } from "../../lib/types";
import { call } from "../../lib/contracts";

const DAY_MS = 86_400_000;
export const MAX_RANGE_DAYS = 366;
const TTL_MS = 30_000;

export interface Range {
	from: string;
	to: string;
}

export type Scope = string[] | null;

/** `?from=&to=` (UTC days, inclusive); default the last 30 days to today; from ≤ to; at most 366 days. */
export function dateRange(p: { from?: string; to?: string }, defaultDays = 30): Range {
	for (const f of ["from", "to"] as const) {
		const v = p[f];
		if (v !== undefined && (Number.isNaN(Date.parse(v)) || new Date(Date.parse(v)).toISOString().slice(0, 10) !== v))
			throw validationError(f, `'${f}' is not a valid date`, "date");
	}
	const to = p.to ?? new Date().toISOString().slice(0, 10);
	const from = p.from ?? new Date(Date.parse(to) - (defaultDays - 1) * DAY_MS).toISOString().slice(0, 10);
	if (from > to) throw validationError("from", "'from' must not be after 'to'", "range");
	if ((Date.parse(to) - Date.parse(from)) / DAY_MS >= MAX_RANGE_DAYS)
		throw validationError("from", `The range may span at most ${MAX_RANGE_DAYS} days`, "range");
	return { from, to };
}

/** SQL condition `<column> is in scope` plus its replacement (a PostgreSQL uuid[] literal). */
export function inScope(column: string, scope: Scope, name = "scope"): { sql: string; replacements: Record<string, string> } {
	if (scope === null) return { sql: "true", replacements: {} };
	return { sql: `${column} = ANY(:${name}::uuid[])`, replacements: { [name]: `{${scope.join(",")}}` } };
}

class TtlCache<V> {
	private readonly map = new Map<string, { at: number; value: V }>();
	/** Bumped per key by `delete`: a load that started before it must not store its (stale) answer. */
	private readonly generations = new Map<string, number>();
	/** Bumped by `clear`: likewise for every key. */
	private epoch = 0;
	async get(key: string, load: () => Promise<V>): Promise<V> {
		const hit = this.map.get(key);
		if (hit && Date.now() - hit.at < TTL_MS) return hit.value;
		const generation = this.generations.get(key) ?? 0;
		const epoch = this.epoch;
		const value = await load();
		// undefined = transient failure: not cached; neither is an answer overtaken by a delete or clear.
		if (value !== undefined && (this.generations.get(key) ?? 0) === generation && this.epoch === epoch) this.set(key, value);
		return value;
	}
	clear() {
		this.map.clear();
		this.epoch++;
	}
	set(key: string, value: V) {
		this.map.set(key, { at: Date.now(), value });
	}
	delete(key: string) {
		this.map.delete(key);
		this.generations.set(key, (this.generations.get(key) ?? 0) + 1);
	}
}

export interface ShopInfo {
	id: string;
	name: string;
	address: string | null;
	status: string | null;
	latitude: number | null;
	longitude: number | null;
}

/** Look-ups through other services' actions, cached per analytics service instance. */
export class Directory {
	private readonly staffShops = new TtlCache<string[]>();
	private readonly managedFactories = new TtlCache<string[]>();
	private readonly shops = new TtlCache<ShopInfo | null | undefined>();
	private readonly flavors = new TtlCache<string | null>();

	/** Drops the users' cached shop and factory scopes (their assignments changed). */
	forgetStaff(userIds: string[]): void {
		for (const id of userIds) {
			this.staffShops.delete(id);
			this.managedFactories.delete(id);
		}
	}

	/** Drops cached shop names, addresses and positions (sales changed a shop: `cache.clean.sales`). */
	forgetShops(): void {
		this.shops.clear();
	}

	/** Shops the user is staff of, asked of sales in one call per user (cached). */
	shopsOf(ctx: Context<unknown, Meta>, userId: string): Promise<string[]> {
		return this.staffShops.get(userId, () => call(ctx, "sales.shops.staffShopIds", { userId }));
	}

	/** Factories the user manages, asked of inventory in one call per user (cached). */
	factoriesOf(ctx: Context<unknown, Meta>, userId: string): Promise<string[]> {
		return this.managedFactories.get(userId, () => call(ctx, "inventory.factories.managedBy", { userId }));
	}

	async shopInfo(ctx: Context<unknown, Meta>, ids: string[]): Promise<Map<string, ShopInfo>> {
		const unique = [...new Set(ids)];
		const infos = await Promise.all(
			unique.map((id) =>
				this.shops.get(id, async () => {
					try {
						const s = await call(ctx, "sales.shops.get", { shopId: id });
						return {
							id: s.id,
							name: s.name,
							address: s.address ?? null,
							status: s.status ?? null,
							latitude: s.latitude ?? null,
							longitude: s.longitude ?? null,
						};
					} catch (err) {
						// A deleted/unknown shop (404) keeps its figures without a name; sales unreachable: no name this time.
						return (err as { code?: number }).code === 404 ? null : undefined;
					}
				}),
			),
		);
		const out = new Map<string, ShopInfo>();
		for (const info of infos) if (info) out.set(info.id, info);
		return out;
	}

	/** Every live shop's id (chain-wide maps list shops without sales too), from sales' public list. */
	async allShopIds(ctx: Context<unknown, Meta>): Promise<string[]> {
		const ids: string[] = [];
		for (let page = 1; page <= 100; page++) {
			const res = await ctx.call<{ rows: { id: string }[]; totalPages: number }, Record<string, unknown>>("sales.shops.list", {
				page,
				pageSize: 100,
			});
			ids.push(...res.rows.map((r) => r.id));
			if (page >= res.totalPages) break;
		}
		return ids;
	}

	async flavorNames(ctx: Context<unknown, Meta>, ids: string[]): Promise<Map<string, string>> {
		const unique = [...new Set(ids)];
		const missing: string[] = [];
		const out = new Map<string, string>();
		for (const id of unique) {
			const name = await this.flavors.get(id, async () => {
				missing.push(id);
				return null;
			});
			if (name) out.set(id, name);
		}
		if (missing.length) {
			const rows = await call(ctx, "inventory.flavors.getMany", { ids: missing });
			for (const f of rows) {
				out.set(f.id, f.name);
				this.flavors.set(f.id, f.name);
			}
		}
		return out;
	}

	/** Chain-wide (null) for EXECUTIVE/ADMIN/internal callers; a CLERK's own shops; a requested shop must be one of them (403 otherwise). */
	async shopScope(ctx: Context<unknown, Meta>, shopId?: string): Promise<Scope> {
		const user = ctx.meta.user;
		if (!user || user.role === "EXECUTIVE" || user.role === "ADMIN") return shopId ? [shopId] : null;
		if (user.role !== "CLERK") throw forbidden();
		const mine = await this.shopsOf(ctx, user.id);
		if (shopId) {
			if (!mine.includes(shopId)) throw forbidden("You are not assigned to this shop");
			return [shopId];
		}
		return mine;
	}

	/** Chain-wide for EXECUTIVE/ADMIN/internal callers; a MANUFACTURER's own factories (a requested one must be theirs: 403). */
	async factoryScope(ctx: Context<unknown, Meta>, factoryId?: string): Promise<Scope> {
		const user = ctx.meta.user;
		if (!user || user.role === "EXECUTIVE" || user.role === "ADMIN") return factoryId ? [factoryId] : null;
		if (user.role !== "MANUFACTURER") throw forbidden();
		const mine = await this.factoriesOf(ctx, user.id);
		if (factoryId) {
			if (!mine.includes(factoryId)) throw forbidden("You do not manage this factory");
			return [factoryId];
		}
		return mine;
	}
}
