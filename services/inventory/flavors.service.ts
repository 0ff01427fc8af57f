/**
 * inventory.flavors: the flavor catalog (docs/spec.md section 3, "Flavor Catalog").
 * List and details are public; create is for MANUFACTURER and EXECUTIVE; update, archive
 * and restore for EXECUTIVE, ADMIN and the MANUFACTURER who created or produces the flavor
 * (./access.ts). Archiving is soft: the flavor leaves the menu but keeps its history, and
 * restoring puts it back (POS sales of it work again once every node's cache is cleaned).
 * `getMany` is the internal, cached read other services (sales) price and label by.
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { Op, UniqueConstraintError, literal, type WhereOptions } from "sequelize";
import { DbMixin, type DbThis, type EntityJson, type EntityThis } from "../../mixins/db.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { CacheCleaner, type CacheCleanerThis } from "../../mixins/cache-cleaner.mixin";
import { conflict, notFound, validationError } from "../../lib/errors";
import { findOptions, toPage } from "../../lib/pagination";
import { ALLERGENS } from "../../lib/params";
import { RETRY_READS, respondCreated } from "../../lib/actions";
import type { Role, Ctx } from "../../lib/types";
import { defineInventoryModels, FlavorSchema, type Flavor, type InventoryModels, type PublicFlavor } from "./inventory.model";
import { r } from "../../lib/response";
import { assertEditsFlavor } from "./access";
import * as P from "./flavors.params";
import { defineService, type ServiceDefinition } from "../../lib/service";
import type { Params, Result } from "../../lib/contracts";

/** What a flavor shows (moleculer-db `fields`): not who created it. */
const FIELDS = [
	"id",
	"name",
	"description",
	"category",
	"price",
	"ingredients",
	"allergens",
	"images",
	"archivedAt",
	"createdAt",
	"updatedAt",
] as const;
type FlavorJson = EntityJson<Flavor, (typeof FIELDS)[number]>;
/** The API's flavor: the entity's fields plus the `archived` flag. */
const publicFlavor = (f: FlavorJson): PublicFlavor => ({ ...f, archived: f.archivedAt !== null });

interface Methods {
	flavorJson(ctx: Ctx<unknown>, flavor: Flavor): Promise<PublicFlavor>;
	findFlavor(id: string): Promise<Flavor>;
	editableFlavor(ctx: Ctx<unknown>, id: string): Promise<Flavor>;
	assertNameFree(name: string, exceptId?: string): Promise<void>;
}
type This = Service & DbThis<InventoryModels> & EntityThis<Flavor, (typeof FIELDS)[number]> & CacheCleanerThis & Methods;

const EDITORS: Role[] = ["MANUFACTURER", "EXECUTIVE"];
const STAFF: Role[] = ["MANUFACTURER", "EXECUTIVE", "ADMIN"];

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "inventory.flavors",
	mixins: [
		DbMixin({ schema: "inventory", models: defineInventoryModels, entity: "Flavor", fields: FIELDS }),
		AuditMixin,
		CacheCleaner(["inventory"]),
	],
	settings: { rest: "/inventory" },

	actions: {
		list: {
			rest: "GET /flavors",
			response: r.page(FlavorSchema),
			auth: "public",
			retryPolicy: RETRY_READS,
			summary: "The flavor menu: filter by category, allergen-free (?allergenFree=milk,nuts) or name; archived only for staff",
			params: P.listFlavorsParams,
			async handler(ctx: Ctx<P.ListFlavorsParams>) {
				const { category, allergenFree, search, includeArchived } = ctx.params;
				const and: WhereOptions[] = [];
				if (!(includeArchived && ctx.meta.user && STAFF.includes(ctx.meta.user.role))) and.push({ archivedAt: null });
				if (category) and.push({ category });
				if (search) and.push({ name: { [Op.iLike]: `%${search.replace(/[\\%_]/g, "\\$&")}%` } });
				if (allergenFree) {
					const free = allergenFree
						.split(",")
						.map((a) => a.trim().toLowerCase())
						.filter(Boolean);
					const unknown = free.find((a) => !(ALLERGENS as readonly string[]).includes(a));
					if (unknown)
						throw validationError(
							"allergenFree",
							`Unknown allergen "${unknown}" (allowed: ${ALLERGENS.join(", ")})`,
							"enumValue",
						);
					// Values are allow-listed above; escaped anyway.
					if (free.length) and.push(literal(`NOT (allergens && ARRAY[${free.map((a) => this.db.escape(a)).join(",")}]::TEXT[])`));
				}
				const { rows, count } = await this.models.Flavor.findAndCountAll({
					where: { [Op.and]: and },
					...findOptions(ctx.params, "name"),
				});
				return toPage((await this.entityJson(ctx, rows)).map(publicFlavor), count, ctx.params);
			},
		},

		get: {
			rest: "GET /flavors/:flavorId",
			response: FlavorSchema,
			auth: "public",
			retryPolicy: RETRY_READS,
			cache: { keys: ["flavorId"] },
			summary: "One flavor (archived ones too, flagged `archived`)",
			params: P.flavorIdParams,
			async handler(ctx: Ctx<P.FlavorIdParams>) {
				return this.flavorJson(ctx, await this.findFlavor(ctx.params.flavorId));
			},
		},

		create: {
			rest: "POST /flavors",
			response: FlavorSchema,
			roles: EDITORS,
			audit: true,
			summary: "Add a flavor to the catalog (MANUFACTURER, EXECUTIVE); price in cents, allergens from the 14 EU codes",
			params: P.createFlavorParams,
			async handler(ctx: Ctx<P.CreateFlavorParams>) {
				await this.assertNameFree(ctx.params.name);
				const flavor = await this.adapter.insert({ ...ctx.params, createdBy: ctx.meta.user?.id ?? null, archivedAt: null });
				const json = await this.flavorJson(ctx, flavor);
				await this.entityChanged("created", json, ctx);
				respondCreated(ctx, `/api/v1/inventory/flavors/${flavor.id}`);
				return json;
			},
		},

		update: {
			rest: "PUT /flavors/:flavorId",
			response: FlavorSchema,
			roles: STAFF,
			audit: true,
			summary:
				"Change a flavor's fields (EXECUTIVE, ADMIN, or a MANUFACTURER who created or produces it); archived flavors cannot be edited (409)",
			params: P.updateFlavorParams,
			async handler(ctx: Ctx<P.UpdateFlavorParams>) {
				const { flavorId, ...changes } = ctx.params;
				const flavor = await this.editableFlavor(ctx, flavorId);
				if (flavor.archivedAt) throw conflict("This flavor is archived", "FLAVOR_ARCHIVED", { flavorId });
				if (changes.name !== undefined && changes.name.toLowerCase() !== flavor.name.toLowerCase())
					await this.assertNameFree(changes.name, flavorId);
				const defined = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
				await flavor.update(defined);
				const json = await this.flavorJson(ctx, flavor);
				await this.entityChanged("updated", json, ctx);
				return json;
			},
		},

		archive: {
			rest: "DELETE /flavors/:flavorId",
			response: FlavorSchema,
			status: 200,
			roles: STAFF,
			audit: true,
			summary:
				"Archive a flavor (soft): it leaves the menu, history keeps it; restore undoes it. Answers 200 with the archived flavor",
			params: P.flavorIdParams,
			async handler(ctx: Ctx<P.FlavorIdParams>) {
				const flavor = await this.editableFlavor(ctx, ctx.params.flavorId);
				if (flavor.archivedAt) return this.flavorJson(ctx, flavor);
				await flavor.update({ archivedAt: new Date() });
				const json = await this.flavorJson(ctx, flavor);
				await this.entityChanged("removed", json, ctx);
				return json;
			},
		},

		restore: {
			rest: "POST /flavors/:flavorId/restore",
			response: FlavorSchema,
			status: 200,
			roles: STAFF,
			audit: true,
			summary:
				"Put an archived flavor back on the menu (same roles as archive); 409 if a live flavor has its name. Answers 200 with the flavor",
			params: P.flavorIdParams,
			async handler(ctx: Ctx<P.FlavorIdParams>) {
				const flavor = await this.editableFlavor(ctx, ctx.params.flavorId);
				if (!flavor.archivedAt) return this.flavorJson(ctx, flavor);
				await this.assertNameFree(flavor.name, flavor.id);
				try {
					await flavor.update({ archivedAt: null });
				} catch (err) {
					// A flavor of the same name went live meanwhile (one live flavor per name).
					if (err instanceof UniqueConstraintError)
						throw conflict("A flavor with this name already exists", "ALREADY_EXISTS", { field: "name" });
					throw err;
				}
				const json = await this.flavorJson(ctx, flavor);
				await this.entityChanged("updated", json, ctx);
				return json;
			},
		},

		// ---- internal (no REST route; trusted callers) ----

		getMany: {
			visibility: "public",
			cache: { keys: ["ids"] },
			params: P.getManyParams,
			async handler(ctx: Ctx<Params<"inventory.flavors.getMany">>): Promise<Result<"inventory.flavors.getMany">> {
				if (!ctx.params.ids.length) return [];
				const rows = await this.models.Flavor.findAll({ where: { id: [...new Set(ctx.params.ids)] } });
				return (await this.entityJson(ctx, rows)).map((f) => {
					const { id, name, description, category, price, allergens, ingredients, images, archived } = publicFlavor(f);
					return { id, name, description, category, price, allergens, ingredients, images, archived };
				});
			},
		},
	},

	/** moleculer-db's change hooks (after entityChanged cleaned this service's cache): every node drops cached reads built from flavors (sales' menus too). */
	async entityCreated() {
		await this.cleanCache("inventory");
	},
	async entityUpdated() {
		await this.cleanCache("inventory");
	},
	async entityRemoved() {
		await this.cleanCache("inventory");
	},

	methods: {
		async flavorJson(ctx: Ctx<unknown>, flavor: Flavor) {
			return publicFlavor(await this.entityJson(ctx, flavor));
		},
		async findFlavor(id: string) {
			const flavor = await this.adapter.findById(id);
			if (!flavor) throw notFound("Flavor", id);
			return flavor;
		},
		/** The flavor (404 when unknown) if the caller may edit it (403 otherwise). */
		async editableFlavor(ctx: Ctx<unknown>, id: string) {
			const flavor = await this.findFlavor(id);
			await assertEditsFlavor(this.models, flavor, ctx.meta.user);
			return flavor;
		},
		async assertNameFree(name: string, exceptId?: string) {
			const where: WhereOptions = { archivedAt: null, name: { [Op.iLike]: name.replace(/[\\%_]/g, "\\$&") } };
			if (exceptId) Object.assign(where, { id: { [Op.ne]: exceptId } });
			if (await this.models.Flavor.findOne({ where }))
				throw conflict("A flavor with this name already exists", "ALREADY_EXISTS", { field: "name" });
		},
	},
};

export default defineService(schema);
