/**
 * Shop ownership, checked inside actions after the role check of the
 * authorization middleware. Shops are public, so a caller who may see a shop
 * but not act on it gets 403 (never 404); an unknown or deleted shop is 404.
 */
import type { Context } from "moleculer";
import { QueryTypes, type Sequelize, type Transaction } from "sequelize";
import { forbidden, notFound } from "../../lib/errors";
import type { AuthUser, Meta, Role } from "../../lib/types";

export interface ShopRow {
	id: string;
	name: string;
	managerId: string | null;
	status: string;
	isStaff: boolean;
}

/** Roles that may act on every shop where a route allows "Clerk+". */
export const SHOP_WIDE_ROLES: readonly Role[] = ["EXECUTIVE", "ADMIN"];

/** The live shop and whether `userId` is its manager or an assigned clerk. */
export async function findShop(db: Sequelize, shopId: string, userId: string | null, t?: Transaction): Promise<ShopRow> {
	const rows = await db.query<ShopRow>(
		`SELECT s.id, s.name, s.manager_id AS "managerId", s.status,
		        (:userId::uuid IS NOT NULL AND (s.manager_id = :userId::uuid OR EXISTS (SELECT 1 FROM sales.shop_staff st WHERE st.shop_id = s.id AND st.user_id = :userId::uuid))) AS "isStaff"
		   FROM sales.shops s WHERE s.id = :shopId AND s.deleted_at IS NULL`,
		{ replacements: { shopId, userId }, type: QueryTypes.SELECT, transaction: t },
	);
	if (!rows[0]) throw notFound("Shop", shopId);
	return rows[0];
}

/**
 * Loads the shop and checks the caller may act on it: an assigned CLERK (or the
 * manager), or — when `shopWide` lists roles — any caller with one of them.
 * Internal calls without a user are trusted.
 */
export async function shopForCaller(
	db: Sequelize,
	ctx: Context<unknown, Meta>,
	shopId: string,
	shopWide: readonly Role[] = SHOP_WIDE_ROLES,
	t?: Transaction,
): Promise<ShopRow> {
	const shop = await findShop(db, shopId, ctx.meta.user?.id ?? null, t);
	const access = shopAccess(ctx.meta.user, shopWide);
	if (access === "ALL" || (access === "STAFF" && shop.isStaff)) return shop;
	throw forbidden("You are not assigned to this shop");
}

/**
 * The rule shopForCaller applies, for code that checks it in SQL (the POS sale):
 * "ALL" any shop (internal call, or a shop-wide role), "STAFF" only where the
 * caller is staff (a CLERK), "NONE" no shop.
 */
export function shopAccess(user: AuthUser | null | undefined, shopWide: readonly Role[] = SHOP_WIDE_ROLES): "ALL" | "STAFF" | "NONE" {
	if (!user || shopWide.includes(user.role)) return "ALL";
	return user.role === "CLERK" ? "STAFF" : "NONE";
}
