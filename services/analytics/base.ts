/** What every analytics read service shares: the analytics schema and the cached directory of names and scopes. */
import type { Context, Service, ServiceSchema } from "moleculer";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import type { Meta } from "../../lib/types";
import { INTERNAL_EVENTS, type StaffChanged } from "../../lib/events";
import { defineAnalyticsModels, type AnalyticsModels } from "./analytics.model";
import { Directory } from "./scope";
import { defineMixin } from "../../lib/service";

export interface BaseMethods {
	dir(): Directory;
	/** Adds `shopName`/`address` to rows carrying a `shopId`. */
	withShops<T extends { shopId: string }>(
		ctx: Context<unknown, Meta>,
		rows: T[],
	): Promise<(T & { shopName: string | null; address: string | null })[]>;
	/** Adds `flavorName` to rows carrying a `flavorId`. */
	withFlavors<T extends { flavorId: string }>(ctx: Context<unknown, Meta>, rows: T[]): Promise<(T & { flavorName: string | null })[]>;
}
export type BaseThis = Service & DbThis<AnalyticsModels> & BaseMethods & { directory?: Directory };

export function AnalyticsBase(): Partial<ServiceSchema> {
	return defineMixin<BaseThis>({
		mixins: [DbMixin({ schema: "analytics", models: defineAnalyticsModels })],
		events: {
			// Broadcast: every analytics service on every node forgets the scopes it cached for these users.
			[INTERNAL_EVENTS.staffChanged](ctx: Context<StaffChanged>) {
				this.directory?.forgetStaff(ctx.params.userIds ?? []);
			},
			// Sales broadcasts this after a shop changed (name, address, coordinates): maps show it at once.
			[INTERNAL_EVENTS.cacheClean("sales")](this: BaseThis) {
				this.directory?.forgetShops();
			},
		},
		methods: {
			dir() {
				this.directory ??= new Directory();
				return this.directory;
			},
			async withShops<T extends { shopId: string }>(ctx: Context<unknown, Meta>, rows: T[]) {
				const info = await this.dir().shopInfo(
					ctx,
					rows.map((r) => r.shopId),
				);
				return rows.map((r) => ({
					...r,
					shopName: info.get(r.shopId)?.name ?? null,
					address: info.get(r.shopId)?.address ?? null,
				}));
			},
			async withFlavors<T extends { flavorId: string }>(ctx: Context<unknown, Meta>, rows: T[]) {
				const names = await this.dir().flavorNames(
					ctx,
					rows.map((r) => r.flavorId),
				);
				return rows.map((r) => ({ ...r, flavorName: names.get(r.flavorId) ?? null }));
			},
		},
	});
}
