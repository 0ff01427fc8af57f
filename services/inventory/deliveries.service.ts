/**
 * inventory.deliveries: supplier deliveries as facts (issue #14 §5, "supplier performance").
 * A factory's MANUFACTURER or an EXECUTIVE records what a supplier delivered, when it was
 * promised and received, and how much was rejected; `performance` (internal, called by
 * analytics) turns those facts into on-time rate, rejection rate and lead time over a range.
 */
import type { SupplierPerformance } from "../../lib/contracts";
import type { Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { notFound, referenced, validationError } from "../../lib/errors";
import { pageParams, toPage } from "../../lib/pagination";
import { RETRY_READS, respondCreated } from "../../lib/actions";
import { STRICT, isoDate, positiveInt, trimmed, uuid, type Infer } from "../../lib/params";
import type { Ctx, Role } from "../../lib/types";
import { defineInventoryModels, type InventoryModels } from "./inventory.model";
import { loadActingFactory, managedFactoryIds } from "./access";
import { defineService, type ServiceDefinition } from "../../lib/service";

const recordParams = {
	...STRICT,
	supplierId: uuid,
	/** The receiving factory; a MANUFACTURER managing exactly one factory may leave it out. */
	factoryId: { ...uuid, optional: true },
	orderedDate: { ...isoDate, optional: true },
	promisedDate: isoDate,
	receivedDate: isoDate,
	items: {
		type: "array",
		min: 1,
		max: 200,
		items: { type: "object", strict: "remove", props: { name: trimmed(1, 120), quantity: positiveInt } },
	},
	rejectedQuantity: { type: "number", integer: true, min: 0, max: 200_000_000, default: 0, convert: true },
	notes: { ...trimmed(0, 2000), optional: true },
} as const;
const listParams = { ...STRICT, ...pageParams(["receivedDate"] as const), supplierId: uuid } as const;
const performanceParams = {
	...STRICT,
	from: isoDate,
	to: isoDate,
	factoryIds: { type: "array", items: uuid, nullable: true, optional: true },
} as const;

type RecordParams = Infer<typeof recordParams>;
type This = Service & DbThis<InventoryModels>;

const ROLES: Role[] = ["MANUFACTURER", "EXECUTIVE"];

interface DeliveryRow {
	id: string;
	supplierId: string;
	factoryId: string | null;
	orderedDate: string | null;
	promisedDate: string;
	receivedDate: string;
	items: { name: string; quantity: number }[];
	quantity: number;
	rejectedQuantity: number;
	notes: string | null;
	recordedBy: string | null;
	createdAt: string;
}

/** One supplier's record over a range (internal `performance`; analytics /suppliers). */

const COLUMNS = `id, supplier_id AS "supplierId", factory_id AS "factoryId", to_char(ordered_date, 'YYYY-MM-DD') AS "orderedDate",
	to_char(promised_date, 'YYYY-MM-DD') AS "promisedDate", to_char(received_date, 'YYYY-MM-DD') AS "receivedDate", items, quantity,
	rejected_quantity AS "rejectedQuantity", notes, recorded_by AS "recordedBy", created_at AS "createdAt"`;

const view = (r: DeliveryRow) => ({ ...r, onTime: r.receivedDate <= r.promisedDate, createdAt: new Date(r.createdAt).toISOString() });
const ratio = (n: number, d: number) => (d ? Math.round((n * 10000) / d) / 10000 : null);
const days = (v: unknown) => (v === null || v === undefined ? null : Math.round(Number(v) * 10) / 10);

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "inventory.deliveries",
	mixins: [DbMixin({ schema: "inventory", models: defineInventoryModels }), AuditMixin],
	settings: { rest: "/inventory" },

	actions: {
		record: {
			rest: "POST /suppliers/:supplierId/deliveries",
			roles: ROLES,
			audit: true,
			summary:
				"Record a supplier delivery: { promisedDate, receivedDate, items: [{ name, quantity }], rejectedQuantity, orderedDate?, factoryId?, notes? }",
			params: recordParams,
			async handler(ctx: Ctx<RecordParams>) {
				const p = ctx.params;
				const user = ctx.meta.user;
				if (!(await this.models.Supplier.findByPk(p.supplierId))) throw notFound("Supplier", p.supplierId);
				const quantity = p.items.reduce((n, i) => n + i.quantity, 0);
				if (p.rejectedQuantity > quantity)
					throw validationError("rejectedQuantity", `At most the ${quantity} units delivered can be rejected.`, "max");
				if (p.orderedDate && (p.orderedDate > p.promisedDate || p.orderedDate > p.receivedDate)) {
					throw validationError("orderedDate", "The order date must not be after the promised or received date.", "dateOrder");
				}
				let factoryId = p.factoryId ?? null;
				if (factoryId) await referenced("factoryId", loadActingFactory(this.models, factoryId, user));
				else if (user?.role === "MANUFACTURER") {
					const managed = await managedFactoryIds(this.models, user.id);
					if (managed.length !== 1)
						throw validationError("factoryId", "Name the factory that received the delivery.", "required");
					factoryId = managed[0];
				}
				const [row] = await this.db.query<DeliveryRow>(
					`INSERT INTO "${this.dbSchema}".supplier_deliveries (supplier_id, factory_id, ordered_date, promised_date, received_date, items, quantity, rejected_quantity, notes, recorded_by)
					 VALUES (:supplierId, :factoryId, :orderedDate, :promisedDate, :receivedDate, :items, :quantity, :rejectedQuantity, :notes, :recordedBy) RETURNING ${COLUMNS}`,
					{
						type: QueryTypes.SELECT,
						replacements: {
							supplierId: p.supplierId,
							factoryId,
							orderedDate: p.orderedDate ?? null,
							promisedDate: p.promisedDate,
							receivedDate: p.receivedDate,
							items: JSON.stringify(p.items),
							quantity,
							rejectedQuantity: p.rejectedQuantity,
							notes: p.notes ?? null,
							recordedBy: user?.id ?? null,
						},
					},
				);
				respondCreated(ctx, `/api/v1/inventory/suppliers/${p.supplierId}/deliveries`);
				return view(row);
			},
		},

		list: {
			rest: "GET /suppliers/:supplierId/deliveries",
			roles: ROLES,
			retryPolicy: RETRY_READS,
			summary: "A supplier's recorded deliveries, newest received first (a MANUFACTURER: to their factories)",
			params: listParams,
			async handler(ctx: Ctx<Infer<typeof listParams>>) {
				const { supplierId, page, pageSize } = ctx.params;
				const dir = ctx.params.sort === "receivedDate" ? "ASC" : "DESC";
				// A manufacturer sees the deliveries to the factories they manage, as in supplier analytics and invoices.
				const user = ctx.meta.user;
				const own = user?.role === "MANUFACTURER" ? await managedFactoryIds(this.models, user.id) : null;
				if (own && own.length === 0) return toPage([], 0, ctx.params);
				const rows = await this.db.query<DeliveryRow & { total: string }>(
					`SELECT ${COLUMNS}, count(*) OVER () AS total FROM "${this.dbSchema}".supplier_deliveries
					  WHERE supplier_id = :supplierId ${own ? "AND factory_id IN (:own)" : ""}
					 ORDER BY received_date ${dir}, created_at ${dir}, id LIMIT :limit OFFSET :offset`,
					{ type: QueryTypes.SELECT, replacements: { supplierId, own, limit: pageSize, offset: (page - 1) * pageSize } },
				);
				return toPage(
					rows.map(({ total: _t, ...r }) => view(r)),
					rows.length ? Number(rows[0].total) : 0,
					ctx.params,
				);
			},
		},

		/** Internal: per supplier, deliveries received in [from, to] (optionally only at these factories). */
		performance: {
			visibility: "public",
			params: performanceParams,
			async handler(ctx: Ctx<Infer<typeof performanceParams>>) {
				const { from, to } = ctx.params;
				const factoryIds = ctx.params.factoryIds ?? null;
				const rows = await this.db.query<Record<string, unknown>>(
					`SELECT d.supplier_id AS "supplierId", s.name, count(*)::int AS deliveries,
					        count(*) FILTER (WHERE d.received_date <= d.promised_date)::int AS "onTime",
					        sum(d.quantity)::bigint AS units, sum(d.rejected_quantity)::bigint AS rejected,
					        avg(d.received_date - d.ordered_date) FILTER (WHERE d.ordered_date IS NOT NULL) AS "leadTime",
					        avg(GREATEST(d.received_date - d.promised_date, 0)) AS delay
					   FROM "${this.dbSchema}".supplier_deliveries d JOIN "${this.dbSchema}".suppliers s ON s.id = d.supplier_id
					  WHERE d.received_date BETWEEN :from AND :to ${factoryIds ? "AND d.factory_id = ANY(CAST(:factoryIds AS uuid[]))" : ""}
					  GROUP BY d.supplier_id, s.name ORDER BY s.name, d.supplier_id`,
					{ type: QueryTypes.SELECT, replacements: { from, to, factoryIds: factoryIds ? `{${factoryIds.join(",")}}` : null } },
				);
				return rows.map((r): SupplierPerformance => {
					const deliveries = Number(r.deliveries);
					const units = Number(r.units);
					const rejected = Number(r.rejected);
					return {
						supplierId: String(r.supplierId),
						name: String(r.name),
						deliveries,
						onTimeDeliveries: Number(r.onTime),
						onTimeRate: ratio(Number(r.onTime), deliveries),
						unitsReceived: units,
						unitsRejected: rejected,
						rejectionRate: ratio(rejected, units),
						averageLeadTimeDays: days(r.leadTime),
						averageDelayDays: days(r.delay),
					};
				});
			},
		},
	},
};

export default defineService(schema);
