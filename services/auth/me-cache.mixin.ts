/**
 * `GET /auth/me` without a database read: a small per-node memory in front of
 * the cacher (Redis in production), both keyed by user id. Any saved change of
 * a user row (profile, role, status, password, sign-in time, deletion) drops
 * that user's entry once committed: here at once (the hook is awaited by the
 * commit, so the next /me reads the new row), in the cacher, and on every other
 * process through the Redis push channel of lib/revocation.ts (a broker
 * broadcast without Redis). A read that raced a change is not stored.
 * One hook per broker: brokers of one process share the schema's models.
 */
import type { Context } from "moleculer";
import type { Model, Transaction } from "sequelize";
import { defineMixin } from "../../lib/service";
import { INTERNAL_EVENTS } from "../../lib/events";
import { announceUserChanged, onUserChanged } from "../../lib/revocation";
import type { MeCacheThis } from "./auth.types";
import { toPublicUser, type PublicUser } from "./auth.model";

const LOCAL_TTL_MS = 30_000;
const LOCAL_MAX = 10_000;
const SHARED_TTL_SEC = 300;

const cacheKey = (self: MeCacheThis, userId: string) =>
	self.broker.cacher?.getCacheKey(`${self.fullName}.me`, {}, { user: { id: userId } }, ["#user.id"]);

export const MeCacheMixin = defineMixin<MeCacheThis>({
	events: {
		[INTERNAL_EVENTS.userChanged]: {
			params: { userId: { type: "string", max: 64 } },
			handler(this: MeCacheThis, ctx: Context<{ userId: string }>) {
				return this.forgetMe(ctx.params.userId);
			},
		},
	},
	methods: {
		async cachedMe(userId: string): Promise<PublicUser> {
			const { local, versions } = this.meCache;
			const hit = local.get(userId);
			if (hit && hit.until > Date.now()) return hit.user;
			const version = versions.get(userId) ?? 0;
			const key = cacheKey(this, userId);
			let user = key ? ((await this.broker.cacher!.get(key).catch(() => null)) as PublicUser | null) : null;
			if (!user) {
				user = toPublicUser(await this.findActiveUser(userId));
				if (key && (versions.get(userId) ?? 0) === version)
					await this.broker.cacher!.set(key, user, SHARED_TTL_SEC).catch(() => undefined);
			}
			if ((versions.get(userId) ?? 0) === version) {
				if (local.size >= LOCAL_MAX) local.delete(local.keys().next().value as string);
				local.set(userId, { user, until: Date.now() + LOCAL_TTL_MS });
			}
			return user;
		},

		forgetLocal(userId: string | undefined): void {
			const { local, versions } = this.meCache;
			const ids = userId === undefined ? [...local.keys()] : [userId];
			for (const id of ids) {
				local.delete(id);
				versions.set(id, (versions.get(id) ?? 0) + 1);
			}
		},

		async forgetMe(userId: string): Promise<void> {
			this.forgetLocal(userId);
			const key = cacheKey(this, userId);
			if (key) await this.broker.cacher!.del(key).catch(() => undefined);
		},
	},
	created() {
		this.meCache = { local: new Map(), versions: new Map(), hook: `me-cache-${this.broker.nodeID}-${this.fullName}` };
	},
	started() {
		this.meCache.unlisten = onUserChanged((userId) => this.forgetLocal(userId));
		const changed = async (user: Model, options: { transaction?: Transaction | null }) => {
			const userId = String(user.get("id"));
			const forget = async () => {
				await this.forgetMe(userId);
				if (!(await announceUserChanged(userId)) && this.broker.transit)
					await this.broker.broadcast(INTERNAL_EVENTS.userChanged, { userId }, { groups: [this.name] }).catch(() => undefined);
			};
			if (options.transaction) options.transaction.afterCommit(forget);
			else await forget();
		};
		this.models.User.addHook("afterSave", this.meCache.hook, changed);
		this.models.User.addHook("afterDestroy", this.meCache.hook, changed);
	},
	stopped() {
		this.meCache.unlisten?.();
		this.models.User.removeHook("afterSave", this.meCache.hook);
		this.models.User.removeHook("afterDestroy", this.meCache.hook);
	},
});
