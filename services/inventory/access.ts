/**
 * Who sees what of a factory (docs/inventory.md, "Access"):
 * - EXECUTIVE and ADMIN see every factory's internals (budget, history, analytics);
 * - a MANUFACTURER sees internals of the factories they manage, and only the
 *   public card (id, name, location, status) of the others;
 * - CLERK sees public cards only (they order from factories).
 * Acting on a factory (stock, invoices) is for its MANUFACTURER and EXECUTIVE;
 * a manufacturer acting on another's factory gets 403 (the factory itself is not secret).
 * Editing a flavor (update, archive, restore) is for EXECUTIVE and ADMIN, and for a MANUFACTURER
 * who created it or whose factory produces it (stock registered there); others get 403.
 */
import type { Transaction } from "sequelize";
import { forbidden, notFound } from "../../lib/errors";
import type { AuthUser } from "../../lib/types";
import { r } from "../../lib/response";
import type { Factory, Flavor, InventoryModels } from "./inventory.model";

/** A factory as the API shows it: the public card, plus the internals for those who see them (seesInternals). */
export const FactorySchema = r.objectWith(
	{ id: r.uuid(), name: r.string(), location: r.string(), status: r.string(), createdAt: r.dateTime() },
	{ managerId: r.nullable(r.uuid()), budgetAllocated: r.integer(), updatedAt: r.dateTime() },
);

export interface FactoryCard {
	id: string;
	name: string;
	location: string;
	status: string;
	createdAt: string;
}

export interface FactoryDetails extends FactoryCard {
	managerId: string | null;
	budgetAllocated: number;
	updatedAt: string;
}

/** Internal (trusted) calls carry no user: they see everything. */
export function seesInternals(user: AuthUser | null | undefined, factory: Pick<Factory, "managerId">): boolean {
	if (!user) return true;
	if (user.role === "EXECUTIVE" || user.role === "ADMIN") return true;
	return user.role === "MANUFACTURER" && factory.managerId === user.id;
}

/** May act on the factory's stock and invoices: its manager, or an EXECUTIVE (ADMIN too when `admin`). */
export function assertActsOn(user: AuthUser | null | undefined, factory: Pick<Factory, "managerId">, admin = false): void {
	if (!user || user.role === "EXECUTIVE" || (admin && user.role === "ADMIN")) return;
	if (user.role === "MANUFACTURER" && factory.managerId === user.id) return;
	throw forbidden("Only this factory's manager or an executive may do this");
}

export function factoryCard(f: Factory): FactoryCard {
	return { id: f.id, name: f.name, location: f.location, status: f.status, createdAt: f.createdAt.toISOString() };
}

export function factoryView(f: Factory, user: AuthUser | null | undefined): FactoryCard | FactoryDetails {
	if (!seesInternals(user, f)) return factoryCard(f);
	return { ...factoryCard(f), managerId: f.managerId, budgetAllocated: f.budgetAllocated, updatedAt: f.updatedAt.toISOString() };
}

/** Loads a factory (404 when unknown) and checks the caller may act on it (403 otherwise). */
export async function loadActingFactory(
	models: Pick<InventoryModels, "Factory">,
	factoryId: string,
	user: AuthUser | null | undefined,
	options: { admin?: boolean; transaction?: Transaction } = {},
): Promise<Factory> {
	const factory = await models.Factory.findByPk(factoryId, { transaction: options.transaction });
	if (!factory) throw notFound("Factory", factoryId);
	assertActsOn(user, factory, options.admin);
	return factory;
}

/** The ids of the factories `userId` manages (a MANUFACTURER's own: what they may see and act on). */
export async function managedFactoryIds(models: Pick<InventoryModels, "Factory">, userId: string): Promise<string[]> {
	return (await models.Factory.findAll({ where: { managerId: userId }, attributes: ["id"] })).map((f) => f.id);
}

/** May update, archive or restore the flavor (403 otherwise); internal (trusted) callers may. */
export async function assertEditsFlavor(
	models: Pick<InventoryModels, "Factory" | "StockItem">,
	flavor: Pick<Flavor, "id" | "createdBy">,
	user: AuthUser | null | undefined,
): Promise<void> {
	if (!user || user.role === "EXECUTIVE" || user.role === "ADMIN") return;
	if (user.role === "MANUFACTURER") {
		if (flavor.createdBy === user.id) return;
		const factoryIds = await managedFactoryIds(models, user.id);
		// Any batch ever registered counts (written off or deleted ones too): the factory produces this flavor.
		if (
			factoryIds.length &&
			(await models.StockItem.count({ where: { flavorId: flavor.id, factoryId: factoryIds }, paranoid: false })) > 0
		)
			return;
	}
	throw forbidden("Only the flavor's creator, a manufacturer producing it, or an executive may change it");
}
