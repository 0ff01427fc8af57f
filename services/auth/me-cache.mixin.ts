/**
 * `GET /auth/me` is served from the cacher (per user, `#user.id`). Any saved change
 * of a user row (profile, role, status, password, sign-in time, deletion) drops
 * that user's entry once the change is committed: on this node at once (the
 * hook is awaited by the commit, so the next /me reads the new row), and on
 * every other auth node through a broadcast (needed with per-node memory
 * cachers; a shared Redis cacher just deletes the same key again).
 * One hook per broker: brokers of one process share the schema's models.
 */
import type { Context, ServiceSchema } from "moleculer";
import type { Model, Transaction } from "sequelize";
import { defineMixin } from "../../lib/service";
import { INTERNAL_EVENTS } from "../../lib/events";
import type { AuthThis } from "./auth.service";

export const ME_CACHE_KEYS = ["#user.id"];

interface MeCacheThis extends AuthThis {
	forgetMe(userId: string): Promise<void>;
	meHookName: string;
}

export const MeCacheMixin: Partial<ServiceSchema> = defineMixin<MeCacheThis>({
	events: {
		[INTERNAL_EVENTS.userChanged]: {
			params: { userId: { type: "string", max: 64 } },
			handler(this: MeCacheThis, ctx: Context<{ userId: string }>) {
				return this.forgetMe(ctx.params.userId);
			},
		},
	},
	methods: {
		async forgetMe(this: MeCacheThis, userId: string): Promise<void> {
			const cacher = this.broker.cacher;
			if (cacher) await cacher.del(cacher.getCacheKey(`${this.fullName}.me`, {}, { user: { id: userId } }, ME_CACHE_KEYS)).catch(() => undefined);
		},
	},
	started(this: MeCacheThis) {
		this.meHookName = `me-cache-${this.broker.nodeID}`;
		const changed = async (user: Model, options: { transaction?: Transaction | null }) => {
			const userId = String(user.get("id"));
			const forget = async () => {
				await this.forgetMe(userId);
				if (this.broker.transit) await this.broker.broadcast(INTERNAL_EVENTS.userChanged, { userId }, { groups: [this.name] }).catch(() => undefined);
			};
			if (options.transaction) options.transaction.afterCommit(forget);
			else await forget();
		};
		this.models.User.addHook("afterSave", this.meHookName, changed);
		this.models.User.addHook("afterDestroy", this.meHookName, changed);
	},
	stopped(this: MeCacheThis) {
		this.models.User.removeHook("afterSave", this.meHookName);
		this.models.User.removeHook("afterDestroy", this.meHookName);
	},
});
