/**
 * inventory.factories: factories and their budgets (docs/spec.md section 3, "Factory Management").
 * `POST /factories` (EXECUTIVE) is an addition to the spec: a chain needs a way to add one.
 * Budget changes are kept as history and published as BUDGET_ALLOCATION_UPDATED via the outbox.
 */
import type { Context, Service, ServiceSettingSchema } from "moleculer";
import { Op, type Transaction, type WhereOptions } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { OutboxMixin, type OutboxThis } from "../../mixins/outbox.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { CacheCleaner, type CacheCleanerThis } from "../../mixins/cache-cleaner.mixin";
import { forbidden, notFound, validationError } from "../../lib/errors";
import { findOptions, toPage } from "../../lib/pagination";
import { RETRY_READS, respondCreated } from "../../lib/actions";
import type { Role, Ctx } from "../../lib/types";
import { broadcastStaffChanged } from "../../lib/events";
import { defineInventoryModels, type BudgetChange, type Factory, type InventoryModels } from "./inventory.model";
import { FactorySchema, factoryView, seesInternals } from "./access";
import { r } from "../../lib/response";
import * as P from "./factories.params";
import { defineService, type ServiceDefinition } from "../../lib/service";
import { call, type Params, type Result } from "../../lib/contracts";

interface Methods {
	findFactory(id: string, t?: Transaction): Promise<Factory>;
	assertManufacturer(ctx: Context, managerId: string): Promise<void>;
	recordBudget(t: Transaction, ctx: Ctx<unknown>, factory: Factory, previousAmount: number, reason: string): Promise<BudgetChange>;
}
type This = Service & DbThis<InventoryModels> & OutboxThis & CacheCleanerThis & Methods;

const READERS: Role[] = ["CLERK", "EXECUTIVE", "ADMIN", "MANUFACTURER"];

function budgetView(b: BudgetChange) {
	return {
		id: b.id,
		factoryId: b.factoryId,
		previousAmount: b.previousAmount,
		budgetAllocated: b.budgetAllocated,
		reason: b.reason,
		changedBy: b.changedBy,
		source: b.source,
		createdAt: b.createdAt.toISOString(),
	};
}

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "inventory.factories",
	mixins: [DbMixin({ schema: "inventory", models: defineInventoryModels }), OutboxMixin, AuditMixin, CacheCleaner(["inventory"])],
	settings: { rest: "/inventory" },

	actions: {
		list: {
			rest: "GET /factories",
			response: r.page(FactorySchema),
			roles: READERS,
			retryPolicy: RETRY_READS,
			summary: "Factories, paginated; internals (budget, manager) only for EXECUTIVE/ADMIN and each factory's own MANUFACTURER",
			params: P.listFactoriesParams,
			async handler(ctx: Ctx<P.ListFactoriesParams>) {
				const where: WhereOptions = {};
				if (ctx.params.status) Object.assign(where, { status: ctx.params.status });
				if (ctx.params.managerId) Object.assign(where, { managerId: ctx.params.managerId });
				if (ctx.params.search) Object.assign(where, { name: { [Op.iLike]: `%${ctx.params.search.replace(/[\\%_]/g, "\\$&")}%` } });
				const { rows, count } = await this.models.Factory.findAndCountAll({ where, ...findOptions(ctx.params, "name") });
				return toPage(
					rows.map((f) => factoryView(f, ctx.meta.user)),
					count,
					ctx.params,
				);
			},
		},

		get: {
			rest: "GET /factories/:factoryId",
			response: FactorySchema,
			roles: READERS,
			retryPolicy: RETRY_READS,
			summary: "Factory details; internals only for EXECUTIVE/ADMIN and the factory's MANUFACTURER",
			params: P.factoryIdParams,
			async handler(ctx: Ctx<P.FactoryIdParams>) {
				return factoryView(await this.findFactory(ctx.params.factoryId), ctx.meta.user);
			},
		},

		create: {
			rest: "POST /factories",
			response: FactorySchema,
			roles: ["EXECUTIVE"],
			audit: true,
			summary: "Add a factory (EXECUTIVE; not in the spec's table). managerId must be a MANUFACTURER; budget in cents",
			params: P.createFactoryParams,
			async handler(ctx: Ctx<P.CreateFactoryParams>) {
				await this.assertManufacturer(ctx, ctx.params.managerId);
				const factory = await this.transaction(async (t) => {
					const created = await this.models.Factory.create({ ...ctx.params, deletedAt: null }, { transaction: t });
					await this.recordBudget(t, ctx, created, 0, "Initial allocation");
					return created;
				});
				await this.cleanCache("inventory");
				await broadcastStaffChanged(this.broker, [factory.managerId]);
				respondCreated(ctx, `/api/v1/inventory/factories/${factory.id}`);
				return factoryView(factory, ctx.meta.user);
			},
		},

		update: {
			rest: "PUT /factories/:factoryId",
			response: FactorySchema,
			roles: ["EXECUTIVE"],
			audit: true,
			summary:
				"Rename, move, reassign (managerId must be a MANUFACTURER) or (de)activate a factory (EXECUTIVE; not in the spec's table)",
			params: P.updateFactoryParams,
			async handler(ctx: Ctx<P.UpdateFactoryParams>) {
				const { factoryId, ...changes } = ctx.params;
				const factory = await this.findFactory(factoryId);
				if (changes.managerId !== undefined && changes.managerId !== factory.managerId)
					await this.assertManufacturer(ctx, changes.managerId);
				const previousManager = factory.managerId;
				await factory.update(Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined)));
				await this.cleanCache("inventory");
				if (factory.managerId !== previousManager) await broadcastStaffChanged(this.broker, [previousManager, factory.managerId]);
				return factoryView(factory, ctx.meta.user);
			},
		},

		updateBudget: {
			rest: "PUT /factories/:factoryId/budget",
			response: FactorySchema,
			roles: ["EXECUTIVE"],
			audit: true,
			summary: "Set the factory's budget allocation in cents with a reason (EXECUTIVE); kept in the budget history",
			params: P.budgetParams,
			async handler(ctx: Ctx<P.BudgetParams>) {
				const factory = await this.transaction(async (t) => {
					const found = await this.findFactory(ctx.params.factoryId, t);
					const previous = found.budgetAllocated;
					await found.update({ budgetAllocated: ctx.params.budgetAllocated }, { transaction: t });
					await this.recordBudget(t, ctx, found, previous, ctx.params.reason);
					return found;
				});
				await this.cleanCache("inventory");
				return factoryView(factory, ctx.meta.user);
			},
		},

		budgetHistory: {
			rest: "GET /factories/:factoryId/budget-history",
			roles: ["EXECUTIVE", "ADMIN", "MANUFACTURER"],
			retryPolicy: RETRY_READS,
			summary: "The factory's budget changes, newest first (EXECUTIVE/ADMIN, or its MANUFACTURER)",
			params: P.budgetHistoryParams,
			async handler(ctx: Ctx<P.BudgetHistoryParams>) {
				const factory = await this.findFactory(ctx.params.factoryId);
				if (!seesInternals(ctx.meta.user, factory))
					throw forbidden("Only this factory's manager or an executive may see its budget");
				const { rows, count } = await this.models.BudgetChange.findAndCountAll({
					where: { factoryId: factory.id },
					...findOptions(ctx.params, "-createdAt"),
				});
				return toPage(rows.map(budgetView), count, ctx.params);
			},
		},

		// ---- internal (no REST route; trusted callers) ----

		resolve: {
			visibility: "public",
			cache: { keys: ["id"] },
			params: P.resolveParams,
			async handler(ctx: Ctx<Params<"inventory.factories.resolve">>): Promise<Result<"inventory.factories.resolve">> {
				const f = await this.models.Factory.findByPk(ctx.params.id);
				return f ? { id: f.id, name: f.name, managerId: f.managerId, status: f.status } : null;
			},
		},

		/** Declared ownership's resolver (lib/access.ts): the factory (null when unknown) and whether the user manages it. */
		ownership: {
			visibility: "public",
			params: { ...P.resolveParams, userId: { type: "uuid", optional: true } },
			async handler(ctx: Ctx<Params<"inventory.factories.ownership">>): Promise<Result<"inventory.factories.ownership">> {
				const f = await this.models.Factory.findByPk(ctx.params.id);
				return (
					f && {
						entity: { id: f.id, name: f.name, managerId: f.managerId, status: f.status },
						mine: f.managerId === ctx.params.userId,
						visible: true,
					}
				);
			},
		},

		/** Ids of the factories a user manages: one query, for callers scoping by user. */
		managedBy: {
			visibility: "public",
			params: P.managedByParams,
			async handler(ctx: Ctx<Params<"inventory.factories.managedBy">>): Promise<Result<"inventory.factories.managedBy">> {
				const rows = await this.models.Factory.findAll({
					where: { managerId: ctx.params.userId },
					attributes: ["id"],
					order: [["id", "ASC"]],
				});
				return rows.map((f) => f.id);
			},
		},
	},

	methods: {
		async findFactory(id: string, t?: Transaction) {
			const factory = await this.models.Factory.findByPk(id, { transaction: t, lock: t ? t.LOCK.UPDATE : undefined });
			if (!factory) throw notFound("Factory", id);
			return factory;
		},
		async assertManufacturer(ctx: Context, managerId: string) {
			const users = await call(ctx, "auth.getUsers", { ids: [managerId] });
			const user = users.find((u) => u.id === managerId);
			if (!user) throw validationError("managerId", "No user with this id", "reference");
			if (user.role !== "MANUFACTURER") throw validationError("managerId", "The manager must be a MANUFACTURER", "role");
		},
		async recordBudget(t: Transaction, ctx: Ctx<unknown>, factory: Factory, previousAmount: number, reason: string) {
			const change = await this.models.BudgetChange.create(
				{
					factoryId: factory.id,
					previousAmount,
					budgetAllocated: factory.budgetAllocated,
					reason,
					changedBy: ctx.meta.user?.id ?? null,
				},
				{ transaction: t },
			);
			await this.publish(
				t,
				ctx,
				"BUDGET_ALLOCATION_UPDATED",
				{
					factoryId: factory.id,
					previousAmount,
					budgetAllocated: factory.budgetAllocated,
					reason,
					changedBy: ctx.meta.user?.id ?? null,
				},
				factory.id,
			);
			return change;
		},
	},
};

export default defineService(schema);
