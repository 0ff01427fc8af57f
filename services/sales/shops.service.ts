/**
 * sales.shops: shops (public list/details, cached) and their staff (docs/spec.md section 2, "Shop Management").
 * Served under /api/v1/sales and /api/sales.
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { CacheCleaner, type CacheCleanerThis } from "../../mixins/cache-cleaner.mixin";
import { conflict, notFound, validationError } from "../../lib/errors";
import { toPage } from "../../lib/pagination";
import { RETRY_READS, respondCreated, respondNoContent } from "../../lib/actions";
import type { Ctx } from "../../lib/types";
import { broadcastStaffChanged } from "../../lib/events";
import { defineSalesModels, ShopSchema, toShopJson, type SalesModels, type Shop } from "./sales.model";
import { r } from "../../lib/response";
import { findShop, type ShopRow } from "./access";
import { owned } from "../../lib/access";
import * as P from "./sales.params";
import { defineService, type ServiceDefinition } from "../../lib/service";
import { call, type Params, type Result } from "../../lib/contracts";

interface PublicUser {
	id: string;
	role: string;
	name: string;
	email: string;
}
interface Methods {
	requireClerk(ctx: Ctx<unknown>, userId: string, field: string): Promise<PublicUser>;
	shopJson(shop: Shop): Promise<ReturnType<typeof toShopJson>>;
}
type This = Service & DbThis<SalesModels> & CacheCleanerThis & Methods;

/** A position is both coordinates or neither (422 names the missing one). */
function assertCoordinatePair(latitude: number | null, longitude: number | null): void {
	if ((latitude === null) !== (longitude === null)) {
		const missing = latitude === null ? "latitude" : "longitude";
		throw validationError(missing, "Give latitude and longitude together (or null both).", "required");
	}
}

const SORT_SQL: Record<string, string> = { name: "lower(s.name)", createdAt: "s.created_at", averageRating: "r.average_rating" };

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "sales.shops",
	mixins: [DbMixin({ schema: "sales", models: defineSalesModels }), AuditMixin, CacheCleaner(["sales"])],
	settings: { rest: "/sales" },

	actions: {
		list: {
			rest: "GET /shops",
			response: r.page(ShopSchema),
			auth: "public",
			cache: { keys: ["page", "pageSize", "sort", "status", "name"] },
			retryPolicy: RETRY_READS,
			summary: "All shops, paginated, with their average rating; filter by status or name",
			params: P.listShopsParams,
			async handler(ctx: Ctx<P.ListShopsParams>) {
				const { page, pageSize, status, name } = ctx.params;
				const sort = ctx.params.sort ?? "name";
				const desc = sort.startsWith("-");
				const order = `${SORT_SQL[desc ? sort.slice(1) : sort]} ${desc ? "DESC" : "ASC"} NULLS LAST, s.id`;
				const where = ["s.deleted_at IS NULL", status ? "s.status = :status" : null, name ? "s.name ILIKE :name" : null]
					.filter(Boolean)
					.join(" AND ");
				const replacements = {
					status,
					name: name ? `%${name.replace(/[\\%_]/g, "\\$&")}%` : null,
					limit: pageSize,
					offset: (page - 1) * pageSize,
				};
				const rows = await this.db.query<Record<string, unknown>>(
					`SELECT s.id, s.name, s.address, s.phone, s.manager_id AS "managerId", s.hours, s.capacity, s.status, s.latitude, s.longitude,
					        r.average_rating AS "averageRating", r.review_count AS "reviewCount", s.created_at AS "createdAt", s.updated_at AS "updatedAt",
					        count(*) OVER () AS "totalCount"
					   FROM sales.shops s
					   LEFT JOIN LATERAL (SELECT round(avg(rating), 2)::float8 AS average_rating, count(*)::int AS review_count
					                        FROM sales.reviews WHERE shop_id = s.id AND deleted_at IS NULL) r ON true
					  WHERE ${where} ORDER BY ${order} LIMIT :limit OFFSET :offset`,
					{ replacements, type: QueryTypes.SELECT },
				);
				const total = rows.length
					? Number(rows[0].totalCount)
					: Number(
							(
								await this.db.query<{ n: string }>(`SELECT count(*) AS n FROM sales.shops s WHERE ${where}`, {
									replacements,
									type: QueryTypes.SELECT,
								})
							)[0].n,
						);
				return toPage(
					rows.map(({ totalCount: _t, ...r }) => r),
					total,
					ctx.params,
				);
			},
		},

		get: {
			rest: "GET /shops/:shopId",
			response: ShopSchema,
			auth: "public",
			cache: { keys: ["shopId"] },
			retryPolicy: RETRY_READS,
			summary: "One shop with its average rating",
			params: P.shopIdParams,
			async handler(ctx: Ctx<Params<"sales.shops.get">>): Promise<Result<"sales.shops.get">> {
				const shop = await this.models.Shop.findByPk(ctx.params.shopId);
				if (!shop) throw notFound("Shop", ctx.params.shopId);
				return this.shopJson(shop);
			},
		},

		create: {
			rest: "POST /shops",
			response: ShopSchema,
			roles: ["EXECUTIVE"],
			audit: true,
			summary: "Create a shop (Executive only)",
			params: P.createShopParams,
			async handler(ctx: Ctx<P.CreateShopParams>) {
				const { name, address, phone, managerId, hours, capacity, status, latitude, longitude } = ctx.params;
				assertCoordinatePair(latitude ?? null, longitude ?? null);
				if (managerId) await this.requireClerk(ctx, managerId, "managerId");
				const shop = await this.models.Shop.create({
					name,
					address,
					phone: phone ?? null,
					managerId: managerId ?? null,
					hours: hours ?? {},
					capacity: capacity ?? 0,
					status: status ?? "OPEN",
					latitude: latitude ?? null,
					longitude: longitude ?? null,
				});
				await this.cleanCache("sales");
				await broadcastStaffChanged(this.broker, [shop.managerId]);
				respondCreated(ctx, `/api/v1/sales/shops/${shop.id}`);
				return this.shopJson(shop);
			},
		},

		update: {
			rest: "PUT /shops/:shopId",
			response: ShopSchema,
			roles: ["EXECUTIVE"],
			audit: true,
			summary: "Update a shop's details, hours, capacity, status or manager (Executive only)",
			params: P.updateShopParams,
			async handler(ctx: Ctx<P.UpdateShopParams>) {
				const { shopId, ...changes } = ctx.params;
				const shop = await this.models.Shop.findByPk(shopId);
				if (!shop) throw notFound("Shop", shopId);
				if (changes.latitude !== undefined || changes.longitude !== undefined) {
					assertCoordinatePair(
						changes.latitude === undefined ? shop.latitude : changes.latitude,
						changes.longitude === undefined ? shop.longitude : changes.longitude,
					);
				}
				if (changes.managerId) await this.requireClerk(ctx, changes.managerId, "managerId");
				const previousManager = shop.managerId;
				const defined = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
				await shop.update(defined);
				await this.cleanCache("sales");
				if (shop.managerId !== previousManager) await broadcastStaffChanged(this.broker, [previousManager, shop.managerId]);
				return this.shopJson(shop);
			},
		},

		remove: {
			rest: "DELETE /shops/:shopId",
			roles: ["EXECUTIVE"],
			audit: true,
			summary: "Soft-delete a shop: it disappears from every route; its history stays (204)",
			params: P.shopIdParams,
			async handler(ctx: Ctx<P.ShopIdParams>) {
				const shop = await this.models.Shop.findByPk(ctx.params.shopId);
				if (!shop) throw notFound("Shop", ctx.params.shopId);
				const staff = await this.models.ShopStaff.findAll({ where: { shopId: shop.id }, attributes: ["userId"] });
				await shop.update({ status: "CLOSED" });
				await shop.destroy();
				await this.cleanCache("sales");
				// A deleted shop leaves every staff member's scope.
				await broadcastStaffChanged(this.broker, [shop.managerId, ...staff.map((r) => r.userId)]);
				return respondNoContent(ctx);
			},
		},

		addStaff: {
			rest: "POST /shops/:shopId/staff",
			roles: ["EXECUTIVE"],
			audit: true,
			summary: "Assign a CLERK user to the shop (Executive only)",
			params: P.staffParams,
			async handler(ctx: Ctx<P.StaffParams>) {
				const { shopId, userId } = ctx.params;
				await findShop(this.db, shopId, null);
				const user = await this.requireClerk(ctx, userId, "userId");
				const [row, created] = await this.models.ShopStaff.findOrCreate({
					where: { shopId, userId },
					defaults: { shopId, userId, assignedBy: ctx.meta.user?.id ?? null },
				});
				if (!created) throw conflict("This user is already assigned to the shop", "ALREADY_ASSIGNED", { field: "userId" });
				await broadcastStaffChanged(this.broker, [userId]);
				respondCreated(ctx, `/api/v1/sales/shops/${shopId}/staff`);
				return { shopId, userId, name: user.name, email: user.email, role: user.role, manager: false, assignedAt: row.createdAt };
			},
		},

		listStaff: {
			rest: "GET /shops/:shopId/staff",
			roles: ["CLERK", "EXECUTIVE", "ADMIN"],
			access: { shop: "shopId" },
			summary: "The shop's manager and assigned clerks (Executive, Admin, or staff of the shop)",
			params: P.shopIdParams,
			async handler(ctx: Ctx<P.ShopIdParams>) {
				const shop = owned<ShopRow>(ctx);
				const rows = await this.models.ShopStaff.findAll({ where: { shopId: shop.id }, order: [["createdAt", "ASC"]] });
				const ids = [...new Set([...(shop.managerId ? [shop.managerId] : []), ...rows.map((r) => r.userId)])];
				const users = ids.length ? await call(ctx, "auth.getUsers", { ids }) : [];
				const byId = new Map(users.map((u) => [u.id, u]));
				return ids.map((id) => {
					const u = byId.get(id);
					return {
						shopId: shop.id,
						userId: id,
						name: u?.name ?? null,
						email: u?.email ?? null,
						role: u?.role ?? null,
						manager: id === shop.managerId,
						assignedAt: rows.find((r) => r.userId === id)?.createdAt ?? null,
					};
				});
			},
		},

		removeStaff: {
			rest: "DELETE /shops/:shopId/staff/:userId",
			roles: ["EXECUTIVE"],
			audit: true,
			summary: "Unassign a clerk from the shop (Executive only)",
			params: P.staffParams,
			async handler(ctx: Ctx<P.StaffParams>) {
				await findShop(this.db, ctx.params.shopId, null);
				const removed = await this.models.ShopStaff.destroy({ where: { shopId: ctx.params.shopId, userId: ctx.params.userId } });
				if (!removed) throw notFound("Staff assignment", ctx.params.userId);
				// The clerk loses the shop's analytics at once, on every node (not after the scope cache's 30 s).
				await broadcastStaffChanged(this.broker, [ctx.params.userId]);
				return respondNoContent(ctx);
			},
		},

		// ---- internal (no REST route) ----

		/** The shop's manager and assigned clerks (communications notifies them). Unknown shop → []. */
		staffIds: {
			visibility: "public",
			params: P.shopIdParams,
			async handler(ctx: Ctx<Params<"sales.shops.staffIds">>): Promise<Result<"sales.shops.staffIds">> {
				const rows = await this.db.query<{ userId: string }>(
					`SELECT manager_id AS "userId" FROM sales.shops WHERE id = :shopId AND deleted_at IS NULL AND manager_id IS NOT NULL
					 UNION SELECT st.user_id FROM sales.shop_staff st JOIN sales.shops s ON s.id = st.shop_id AND s.deleted_at IS NULL WHERE st.shop_id = :shopId`,
					{ replacements: { shopId: ctx.params.shopId }, type: QueryTypes.SELECT },
				);
				return rows.map((r) => r.userId);
			},
		},

		/** The live shops a user is staff of (manager or assigned clerk): one query, for callers scoping by user. */
		staffShopIds: {
			visibility: "public",
			params: P.userIdParams,
			async handler(ctx: Ctx<Params<"sales.shops.staffShopIds">>): Promise<Result<"sales.shops.staffShopIds">> {
				const rows = await this.db.query<{ shopId: string }>(
					`SELECT id AS "shopId" FROM sales.shops WHERE manager_id = :userId AND deleted_at IS NULL
					 UNION SELECT st.shop_id FROM sales.shop_staff st JOIN sales.shops s ON s.id = st.shop_id AND s.deleted_at IS NULL WHERE st.user_id = :userId`,
					{ replacements: { userId: ctx.params.userId }, type: QueryTypes.SELECT },
				);
				return rows.map((r) => r.shopId).sort();
			},
		},

		/** Declared ownership's resolver (lib/access.ts): the live shop (404 otherwise) and whether the user is its staff. */
		ownership: {
			visibility: "public",
			params: { id: { type: "uuid" }, userId: { type: "uuid", optional: true } },
			async handler(ctx: Ctx<Params<"sales.shops.ownership">>): Promise<Result<"sales.shops.ownership">> {
				const shop = await findShop(this.db, ctx.params.id, ctx.params.userId ?? null);
				return { entity: shop, mine: shop.isStaff, visible: true };
			},
		},

		/** Users who share a live shop with a user (its manager and clerks): presence is shown to them (communications). */
		coworkers: {
			visibility: "public",
			params: P.userIdParams,
			async handler(ctx: Ctx<Params<"sales.shops.coworkers">>): Promise<Result<"sales.shops.coworkers">> {
				const rows = await this.db.query<{ userId: string }>(
					`WITH mine AS (
						SELECT id FROM sales.shops WHERE manager_id = :userId AND deleted_at IS NULL
						UNION SELECT st.shop_id FROM sales.shop_staff st JOIN sales.shops s ON s.id = st.shop_id AND s.deleted_at IS NULL WHERE st.user_id = :userId)
					 SELECT manager_id AS "userId" FROM sales.shops WHERE id IN (SELECT id FROM mine) AND manager_id IS NOT NULL AND manager_id <> :userId
					 UNION SELECT user_id FROM sales.shop_staff WHERE shop_id IN (SELECT id FROM mine) AND user_id <> :userId`,
					{ replacements: { userId: ctx.params.userId }, type: QueryTypes.SELECT },
				);
				return rows.map((r) => r.userId).sort();
			},
		},
	},

	methods: {
		async requireClerk(ctx: Ctx<unknown>, userId: string, field: string) {
			const [user] = await call(ctx, "auth.getUsers", { ids: [userId] });
			if (!user) throw validationError(field, `Unknown user ${userId}`, "unknownUser");
			if (user.role !== "CLERK") throw validationError(field, "Only CLERK users can be shop staff or managers", "notClerk");
			return user;
		},

		async shopJson(shop: Shop) {
			const [r] = await this.db.query<{ averageRating: number | null; reviewCount: number }>(
				`SELECT round(avg(rating), 2)::float8 AS "averageRating", count(*)::int AS "reviewCount" FROM sales.reviews WHERE shop_id = :id AND deleted_at IS NULL`,
				{ replacements: { id: shop.id }, type: QueryTypes.SELECT },
			);
			return toShopJson(shop, r);
		},
	},
};

export default defineService(schema);
