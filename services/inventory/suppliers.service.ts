/**
 * inventory.suppliers: ingredient and packaging suppliers (docs/spec.md section 3, "Supplier Management").
 * EXECUTIVE and MANUFACTURER list, add and update them. Body:
 * { name, contact: { email, phone, address? }, specialties: [...], rating (0-5, one decimal) }.
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { Op, type WhereOptions } from "sequelize";
import { DbMixin, type DbThis, type EntityJson, type EntityThis } from "../../mixins/db.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { conflict, notFound } from "../../lib/errors";
import { findOptions, toPage, pageParams } from "../../lib/pagination";
import { RETRY_READS, respondCreated } from "../../lib/actions";
import { STRICT, email, trimmed, uuid, type Infer } from "../../lib/params";
import type { Role, Ctx } from "../../lib/types";
import { defineInventoryModels, type InventoryModels, type Supplier } from "./inventory.model";
import { defineService, type ServiceDefinition } from "../../lib/service";
import type { Result } from "../../lib/contracts";

const phone = {
	type: "string",
	trim: true,
	pattern: /^\+?[0-9 ()-]{5,20}$/,
	messages: { stringPattern: "The '{field}' field must be a phone number." },
} as const;
const contact = {
	type: "object",
	strict: "remove",
	props: { email, phone, address: { ...trimmed(1, 300), optional: true, nullable: true } },
} as const;
const specialties = { type: "array", items: trimmed(1, 60), max: 30, unique: true } as const;
const rating = { type: "number", min: 0, max: 5, convert: true } as const;

const createParams = {
	...STRICT,
	name: trimmed(1, 120),
	contact,
	specialties: { ...specialties, default: [] },
	rating: { ...rating, default: 0 },
} as const;
const updateParams = {
	...STRICT,
	supplierId: uuid,
	name: { ...trimmed(1, 120), optional: true },
	contact: { ...contact, optional: true },
	specialties: { ...specialties, optional: true },
	rating: { ...rating, optional: true },
} as const;
const listParams = {
	...STRICT,
	...pageParams(["name", "rating", "createdAt"] as const),
	specialty: { type: "string", trim: true, max: 60, optional: true },
	search: { type: "string", trim: true, max: 120, optional: true },
	minRating: { ...rating, optional: true },
} as const;
const idParams = { ...STRICT, supplierId: uuid } as const;

/** What a supplier shows (moleculer-db `fields`): not who created it. */
const FIELDS = ["id", "name", "contactEmail", "contactPhone", "contactAddress", "specialties", "rating", "createdAt", "updatedAt"] as const;
type Field = (typeof FIELDS)[number];

/** The API's supplier: contact details nested. */
function supplierView({ contactEmail, contactPhone, contactAddress, ...rest }: EntityJson<Supplier, Field>) {
	return { ...rest, contact: { email: contactEmail, phone: contactPhone, address: contactAddress } };
}

interface Methods {
	findSupplier(id: string): Promise<Supplier>;
	assertNameFree(name: string, exceptId?: string): Promise<void>;
}
type This = Service & DbThis<InventoryModels> & EntityThis<Supplier, Field> & Methods;

const ROLES: Role[] = ["EXECUTIVE", "MANUFACTURER"];
/** Ratings are kept to one decimal. */
const round1 = (n: number) => Math.round(n * 10) / 10;

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "inventory.suppliers",
	mixins: [DbMixin({ schema: "inventory", models: defineInventoryModels, entity: "Supplier", fields: FIELDS }), AuditMixin],
	settings: { rest: "/inventory" },

	actions: {
		list: {
			rest: "GET /suppliers",
			roles: ROLES,
			retryPolicy: RETRY_READS,
			summary: "Suppliers; filter by specialty, name search, minRating",
			params: listParams,
			async handler(ctx: Ctx<Infer<typeof listParams>>): Promise<Result<"inventory.suppliers.list">> {
				const { specialty, search, minRating } = ctx.params;
				const where: WhereOptions = {};
				if (specialty) Object.assign(where, { specialties: { [Op.contains]: [specialty] } });
				if (search) Object.assign(where, { name: { [Op.iLike]: `%${search.replace(/[\\%_]/g, "\\$&")}%` } });
				if (minRating !== undefined) Object.assign(where, { rating: { [Op.gte]: minRating } });
				const { rows, count } = await this.models.Supplier.findAndCountAll({ where, ...findOptions(ctx.params, "name") });
				return toPage((await this.entityJson(ctx, rows)).map(supplierView), count, ctx.params);
			},
		},

		get: {
			rest: "GET /suppliers/:supplierId",
			roles: ROLES,
			retryPolicy: RETRY_READS,
			summary: "One supplier",
			params: idParams,
			async handler(ctx: Ctx<Infer<typeof idParams>>) {
				return supplierView(await this.entityJson(ctx, await this.findSupplier(ctx.params.supplierId)));
			},
		},

		create: {
			rest: "POST /suppliers",
			roles: ROLES,
			audit: true,
			summary: "Add a supplier: { name, contact: { email, phone, address? }, specialties, rating (0-5) }",
			params: createParams,
			async handler(ctx: Ctx<Infer<typeof createParams>>) {
				const { name, contact: c, specialties: spec, rating: r } = ctx.params;
				await this.assertNameFree(name);
				const supplier = await this.adapter.insert({
					name,
					contactEmail: c.email,
					contactPhone: c.phone,
					contactAddress: c.address ?? null,
					specialties: spec,
					rating: round1(r),
					createdBy: ctx.meta.user?.id ?? null,
				});
				respondCreated(ctx, `/api/v1/inventory/suppliers/${supplier.id}`);
				return supplierView(await this.entityJson(ctx, supplier));
			},
		},

		update: {
			rest: "PUT /suppliers/:supplierId",
			roles: ROLES,
			audit: true,
			summary: "Update a supplier's name, contact (replaced as a whole), specialties or rating",
			params: updateParams,
			async handler(ctx: Ctx<Infer<typeof updateParams>>) {
				const { supplierId, name, contact: c, specialties: spec, rating: r } = ctx.params;
				const supplier = await this.findSupplier(supplierId);
				if (name !== undefined && name.toLowerCase() !== supplier.name.toLowerCase()) await this.assertNameFree(name, supplierId);
				await supplier.update({
					...(name !== undefined && { name }),
					...(c !== undefined && { contactEmail: c.email, contactPhone: c.phone, contactAddress: c.address ?? null }),
					...(spec !== undefined && { specialties: spec }),
					...(r !== undefined && { rating: round1(r) }),
				});
				return supplierView(await this.entityJson(ctx, supplier));
			},
		},
	},

	methods: {
		async findSupplier(id: string) {
			const supplier = await this.adapter.findById(id);
			if (!supplier) throw notFound("Supplier", id);
			return supplier;
		},
		async assertNameFree(name: string, exceptId?: string) {
			const where: WhereOptions = { name: { [Op.iLike]: name.replace(/[\\%_]/g, "\\$&") } };
			if (exceptId) Object.assign(where, { id: { [Op.ne]: exceptId } });
			if (await this.models.Supplier.findOne({ where }))
				throw conflict("A supplier with this name already exists", "ALREADY_EXISTS", { field: "name" });
		},
	},
};

export default defineService(schema);
