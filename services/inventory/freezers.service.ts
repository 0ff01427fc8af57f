/**
 * inventory.freezers: the cold chain (issue #15, docs/inventory.md "Cold chain").
 * A freezer belongs to one shop or one factory. EXECUTIVE/ADMIN own every freezer, a
 * MANUFACTURER the freezers of the factories they manage; a shop's manager and clerks may
 * read their shop's freezers. Sensor gateways post readings with the freezer's device key
 * (`X-Device-Key`, not a user token: `auth: "device"`); an excursion is detected on ingest,
 * recorded once, quarantines the factory's batches in that freezer (a shop's lots are
 * quarantined by sales, which consumes COLD_CHAIN_EXCURSION) and goes out through the outbox.
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { QueryTypes, type Transaction } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { OutboxMixin, type OutboxThis } from "../../mixins/outbox.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { config } from "../../lib/config";
import { forbidden, notFound, referenced, unauthorized, validationError, validationErrors, type FieldIssue } from "../../lib/errors";
import { toPage } from "../../lib/pagination";
import { RETRY_READS, respondCreated } from "../../lib/actions";
import type { Ctx } from "../../lib/types";
import { defineInventoryModels, type InventoryModels } from "./inventory.model";
import { loadActingFactory, managedFactoryIds } from "./access";
import { advance, hashDeviceKey, newDeviceKey, type Reading } from "./cold-chain";
import * as P from "./freezers.params";
import { defineService, type ServiceDefinition } from "../../lib/service";
import { call } from "../../lib/contracts";

interface FreezerRow {
	id: string;
	name: string;
	shopId: string | null;
	factoryId: string | null;
	keyRotatedAt: Date;
	lastReadingAt: Date | null;
	lastCelsius: number | null;
	aboveSince: Date | null;
	excursionId: string | null;
	createdAt: Date;
}

/** What the caller may see: everything, or these shops' and factories' freezers. */
type Visible = { all: true } | { all: false; shops: string[]; factories: string[] };

interface Methods {
	visibleTo(ctx: Ctx<unknown>): Promise<Visible>;
	findFreezer(ctx: Ctx<unknown>, freezerId: string): Promise<FreezerRow>;
	ownedFreezer(ctx: Ctx<unknown>, freezerId: string): Promise<FreezerRow>;
	ownedBatch(ctx: Ctx<unknown>, itemId: string, t: Transaction): Promise<{ id: string; factoryId: string }>;
}
type This = Service & DbThis<InventoryModels> & OutboxThis & Methods;

const COLUMNS = `id, name, shop_id AS "shopId", factory_id AS "factoryId", key_rotated_at AS "keyRotatedAt", last_reading_at AS "lastReadingAt",
	last_celsius AS "lastCelsius", above_since AS "aboveSince", excursion_id AS "excursionId", created_at AS "createdAt"`;
const SORT: Record<string, string> = { name: "lower(name)", createdAt: "created_at", lastReadingAt: "last_reading_at" };
/** A reading may be stamped at most this far ahead of the server's clock (sensor clock drift). */
const MAX_FUTURE_MS = 5 * 60_000;

function view(f: FreezerRow) {
	return {
		id: f.id,
		name: f.name,
		shopId: f.shopId,
		factoryId: f.factoryId,
		keyRotatedAt: f.keyRotatedAt.toISOString(),
		lastReadingAt: f.lastReadingAt?.toISOString() ?? null,
		lastCelsius: f.lastCelsius,
		warmSince: f.aboveSince?.toISOString() ?? null,
		inExcursion: f.excursionId !== null,
		createdAt: f.createdAt.toISOString(),
	};
}

/** A PostgreSQL array literal of already validated, comma-free values. */
const pgArray = (values: (string | number)[]) => `{${values.join(",")}}`;

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "inventory.freezers",
	mixins: [DbMixin({ schema: "inventory", models: defineInventoryModels }), OutboxMixin, AuditMixin],
	settings: { rest: "/inventory" },

	actions: {
		create: {
			rest: "POST /freezers",
			roles: ["EXECUTIVE", "ADMIN", "MANUFACTURER"],
			audit: true,
			summary: "Register a freezer at one shop (EXECUTIVE/ADMIN) or one factory (also its MANUFACTURER); answers its device key once",
			params: P.createFreezerParams,
			async handler(ctx: Ctx<P.CreateFreezerParams>) {
				const { name, shopId, factoryId } = ctx.params;
				if (Boolean(shopId) === Boolean(factoryId))
					throw validationError(shopId ? "factoryId" : "shopId", "A freezer belongs to exactly one shop or one factory", "owner");
				if (factoryId) await referenced("factoryId", loadActingFactory(this.models, factoryId, ctx.meta.user, { admin: true }));
				else if (shopId) {
					if (ctx.meta.user?.role === "MANUFACTURER") throw forbidden("Only an executive registers shop freezers");
					await call(ctx, "sales.shops.get", { shopId });
				}
				const { key, hash } = newDeviceKey();
				const [row] = await this.db.query<FreezerRow>(
					`INSERT INTO inventory.freezers (name, shop_id, factory_id, key_hash, created_by) VALUES (:name, :shopId, :factoryId, :hash, :by) RETURNING ${COLUMNS}`,
					{
						replacements: { name, shopId: shopId ?? null, factoryId: factoryId ?? null, hash, by: ctx.meta.user?.id ?? null },
						type: QueryTypes.SELECT,
					},
				);
				respondCreated(ctx, `/api/v1/inventory/freezers/${row.id}`);
				return { ...view(row), deviceKey: key };
			},
		},

		list: {
			rest: "GET /freezers",
			roles: ["CLERK", "MANUFACTURER", "EXECUTIVE", "ADMIN"],
			retryPolicy: RETRY_READS,
			summary:
				"Freezers the caller may see (all: EXECUTIVE/ADMIN; a MANUFACTURER's factories; a clerk's shops), ?shopId= / ?factoryId=",
			params: P.listFreezersParams,
			async handler(ctx: Ctx<P.ListFreezersParams>) {
				const { shopId, factoryId, page, pageSize } = ctx.params;
				const visible = await this.visibleTo(ctx);
				const conditions = ["true"];
				const replacements: Record<string, unknown> = { shopId, factoryId, limit: pageSize, offset: (page - 1) * pageSize };
				if (shopId) conditions.push("shop_id = :shopId");
				if (factoryId) conditions.push("factory_id = :factoryId");
				if (!visible.all) {
					if ((shopId && !visible.shops.includes(shopId)) || (factoryId && !visible.factories.includes(factoryId)))
						throw forbidden("Not your shop or factory");
					conditions.push("(shop_id = ANY(:shops::uuid[]) OR factory_id = ANY(:factories::uuid[]))");
					Object.assign(replacements, { shops: pgArray(visible.shops), factories: pgArray(visible.factories) });
				}
				const sort = ctx.params.sort ?? "name";
				const desc = sort.startsWith("-");
				const rows = await this.db.query<FreezerRow & { total: string }>(
					`SELECT ${COLUMNS}, count(*) OVER () AS total FROM inventory.freezers WHERE ${conditions.join(" AND ")}
					 ORDER BY ${SORT[desc ? sort.slice(1) : sort]} ${desc ? "DESC" : "ASC"} NULLS LAST, id LIMIT :limit OFFSET :offset`,
					{ replacements, type: QueryTypes.SELECT },
				);
				return toPage(rows.map(view), Number(rows[0]?.total ?? 0), ctx.params);
			},
		},

		get: {
			rest: "GET /freezers/:freezerId",
			roles: ["CLERK", "MANUFACTURER", "EXECUTIVE", "ADMIN"],
			retryPolicy: RETRY_READS,
			summary: "One freezer: owner, last reading, whether it is warm (since when) or in an excursion",
			params: P.freezerIdParams,
			async handler(ctx: Ctx<P.FreezerIdParams>) {
				return view(await this.findFreezer(ctx, ctx.params.freezerId));
			},
		},

		readingsList: {
			rest: "GET /freezers/:freezerId/readings",
			roles: ["CLERK", "MANUFACTURER", "EXECUTIVE", "ADMIN"],
			retryPolicy: RETRY_READS,
			summary: "The freezer's readings in ?from=&to=, newest first (?limit=, at most 1440)",
			params: P.listReadingsParams,
			async handler(ctx: Ctx<P.ListReadingsParams>) {
				const freezer = await this.findFreezer(ctx, ctx.params.freezerId);
				const { from, to, limit } = ctx.params;
				const rows = await this.db.query<{ at: Date; celsius: number }>(
					`SELECT at, celsius FROM inventory.freezer_readings WHERE freezer_id = :id AND (:from::timestamptz IS NULL OR at >= :from::timestamptz)
					   AND (:to::timestamptz IS NULL OR at <= :to::timestamptz) ORDER BY at DESC LIMIT :limit`,
					{ replacements: { id: freezer.id, from: from ?? null, to: to ?? null, limit }, type: QueryTypes.SELECT },
				);
				return { freezerId: freezer.id, readings: rows.map((r) => ({ at: r.at.toISOString(), celsius: r.celsius })) };
			},
		},

		rotateKey: {
			rest: "POST /freezers/:freezerId/key",
			roles: ["EXECUTIVE", "ADMIN", "MANUFACTURER"],
			status: 200,
			audit: true,
			summary: "Issue a new device key (shown once); the old key stops working at once (the freezer's owner)",
			params: P.freezerIdParams,
			async handler(ctx: Ctx<P.FreezerIdParams>) {
				const freezer = await this.ownedFreezer(ctx, ctx.params.freezerId);
				const { key, hash } = newDeviceKey();
				const [row] = await this.db.query<{ at: Date }>(
					`UPDATE inventory.freezers SET key_hash = :hash, key_rotated_at = now(), updated_at = now() WHERE id = :id RETURNING key_rotated_at AS at`,
					{
						replacements: { id: freezer.id, hash },
						type: QueryTypes.SELECT,
					},
				);
				return { freezerId: freezer.id, deviceKey: key, keyRotatedAt: row.at.toISOString() };
			},
		},

		ingest: {
			rest: "POST /freezers/:freezerId/readings",
			auth: "device",
			status: 200,
			summary: `Sensor readings { readings: [{ at, celsius }] } (at most ${P.MAX_READINGS_PER_BATCH}), authenticated by the freezer's X-Device-Key; detects excursions`,
			params: P.readingsParams,
			async handler(ctx: Ctx<P.ReadingsParams>) {
				const { freezerId } = ctx.params;
				const latest = Date.now() + MAX_FUTURE_MS;
				const issues: FieldIssue[] = [];
				const readings: Reading[] = ctx.params.readings.map((r, i) => {
					const at = new Date(r.at);
					if (at.getTime() > latest)
						issues.push({ field: `readings[${i}].at`, message: "A reading cannot be in the future", type: "future" });
					return { at, celsius: r.celsius };
				});
				if (issues.length) throw validationErrors(issues);
				const rule = config().coldChain;
				return this.transaction(async (t) => {
					// Found by id and key hash together: a wrong key locks nothing, and an unknown freezer answers like a wrong key.
					const [f] = await this.db.query<FreezerRow & { runMaxCelsius: number | null }>(
						`SELECT ${COLUMNS}, run_max_celsius AS "runMaxCelsius" FROM inventory.freezers WHERE id = :freezerId AND key_hash = :keyHash FOR UPDATE`,
						{
							replacements: { freezerId, keyHash: hashDeviceKey(ctx.meta.deviceKey ?? "") },
							type: QueryTypes.SELECT,
							transaction: t,
						},
					);
					if (!f) throw unauthorized("Invalid device key", "INVALID_DEVICE_KEY");
					const run = advance(
						{
							lastReadingAt: f.lastReadingAt,
							aboveSince: f.aboveSince,
							runMaxCelsius: f.runMaxCelsius,
							reported: f.excursionId !== null,
						},
						readings,
						rule,
					);
					if (f.excursionId && run.previous) {
						await this.db.query(
							`UPDATE inventory.freezer_excursions SET max_celsius = GREATEST(max_celsius, :max), ended_at = :endedAt WHERE id = :id`,
							{
								replacements: { id: f.excursionId, max: run.previous.maxCelsius, endedAt: run.previous.endedAt },
								transaction: t,
							},
						);
					}
					let excursionId = run.state.reported ? f.excursionId : null;
					for (const d of run.detected) {
						const event = await this.publish(
							t,
							ctx,
							"COLD_CHAIN_EXCURSION",
							{
								freezerId,
								shopId: f.shopId,
								factoryId: f.factoryId,
								startedAt: d.startedAt.toISOString(),
								detectedAt: d.detectedAt.toISOString(),
								maxCelsius: d.maxCelsius,
							},
							freezerId,
						);
						const [row] = await this.db.query<{ id: string }>(
							`INSERT INTO inventory.freezer_excursions (freezer_id, started_at, detected_at, ended_at, max_celsius, event_id) VALUES (:freezerId, :startedAt, :detectedAt, :endedAt, :max, :eventId) RETURNING id`,
							{
								replacements: {
									freezerId,
									startedAt: d.startedAt,
									detectedAt: d.detectedAt,
									endedAt: d.endedAt,
									max: d.maxCelsius,
									eventId: event.id,
								},
								type: QueryTypes.SELECT,
								transaction: t,
							},
						);
						if (d.endedAt === null) excursionId = row.id;
						// A factory's batches in this freezer (or in no particular freezer) stop being allocated to invoices.
						if (f.factoryId) {
							await this.db.query(
								`UPDATE inventory.stock_items SET quarantined_at = now(), updated_at = now()
								  WHERE factory_id = :factoryId AND (freezer_id = :freezerId OR freezer_id IS NULL) AND quarantined_at IS NULL AND deleted_at IS NULL AND quantity > 0`,
								{ replacements: { factoryId: f.factoryId, freezerId }, transaction: t },
							);
						}
					}
					// The whole batch and the freezer's new state in one statement; a reading already stored (a retried batch) is skipped.
					const last = readings.reduce((a, b) => (b.at > a.at ? b : a));
					const [{ stored }] = await this.db.query<{ stored: number }>(
						`WITH ins AS (
						   INSERT INTO inventory.freezer_readings (freezer_id, at, celsius)
						   SELECT :freezerId, r.at, r.celsius FROM unnest(:ats::timestamptz[], :cs::real[]) AS r(at, celsius) ON CONFLICT DO NOTHING RETURNING 1),
						 state AS (
						   UPDATE inventory.freezers SET above_since = :aboveSince, run_max_celsius = :runMax, excursion_id = :excursionId, updated_at = now(),
						     last_celsius = CASE WHEN last_reading_at IS NULL OR last_reading_at < :lastAt THEN :lastC ELSE last_celsius END,
						     last_reading_at = GREATEST(last_reading_at, :lastAt)
						   WHERE id = :freezerId RETURNING 1)
						 SELECT (SELECT count(*)::int FROM ins) AS stored, (SELECT count(*)::int FROM state) AS updated`,
						{
							replacements: {
								freezerId,
								ats: pgArray(readings.map((r) => r.at.toISOString())),
								cs: pgArray(readings.map((r) => r.celsius)),
								aboveSince: run.state.aboveSince,
								runMax: run.state.runMaxCelsius,
								excursionId,
								lastAt: last.at,
								lastC: last.celsius,
							},
							type: QueryTypes.SELECT,
							transaction: t,
						},
					);
					return {
						freezerId,
						received: readings.length,
						stored,
						excursions: run.detected.map((d) => ({
							startedAt: d.startedAt.toISOString(),
							detectedAt: d.detectedAt.toISOString(),
						})),
					};
				});
			},
		},

		placeBatch: {
			rest: "PUT /stock-items/:itemId/freezer",
			roles: ["EXECUTIVE", "MANUFACTURER"],
			audit: true,
			summary:
				"Put a factory batch in one of its factory's freezers ({ freezerId }, null: not assigned, presumed in every freezer there)",
			params: P.placeBatchParams,
			async handler(ctx: Ctx<P.PlaceBatchParams>) {
				return this.transaction(async (t) => {
					const batch = await this.ownedBatch(ctx, ctx.params.itemId, t);
					const freezerId = ctx.params.freezerId ?? null;
					if (freezerId) {
						const [f] = await this.db.query<{ factoryId: string | null }>(
							`SELECT factory_id AS "factoryId" FROM inventory.freezers WHERE id = :freezerId`,
							{
								replacements: { freezerId },
								type: QueryTypes.SELECT,
								transaction: t,
							},
						);
						if (f?.factoryId !== batch.factoryId)
							throw validationError("freezerId", "Not a freezer of this batch's factory", "reference");
					}
					await this.db.query(`UPDATE inventory.stock_items SET freezer_id = :freezerId, updated_at = now() WHERE id = :id`, {
						replacements: { id: batch.id, freezerId },
						transaction: t,
					});
					return { id: batch.id, factoryId: batch.factoryId, freezerId };
				});
			},
		},

		releaseBatch: {
			rest: "POST /stock-items/:itemId/release",
			roles: ["EXECUTIVE", "MANUFACTURER"],
			status: 200,
			audit: true,
			summary: "Lift a cold-chain quarantine from a factory batch after inspection (its factory's MANUFACTURER or an EXECUTIVE)",
			params: P.batchIdParams,
			async handler(ctx: Ctx<P.BatchIdParams>) {
				return this.transaction(async (t) => {
					const batch = await this.ownedBatch(ctx, ctx.params.itemId, t);
					await this.db.query(`UPDATE inventory.stock_items SET quarantined_at = NULL, updated_at = now() WHERE id = :id`, {
						replacements: { id: batch.id },
						transaction: t,
					});
					return { id: batch.id, factoryId: batch.factoryId, quarantined: false };
				});
			},
		},

		// ---- internal (no REST route; trusted callers) ----

		/** Owner of a freezer (sales checks that a lot goes into a freezer of its own shop). Unknown → null. */
		resolve: {
			visibility: "public",
			params: P.freezerIdParams,
			async handler(ctx: Ctx<P.FreezerIdParams>) {
				const [f] = await this.db.query<{ id: string; shopId: string | null; factoryId: string | null }>(
					`SELECT id, shop_id AS "shopId", factory_id AS "factoryId" FROM inventory.freezers WHERE id = :freezerId`,
					{ replacements: { freezerId: ctx.params.freezerId }, type: QueryTypes.SELECT },
				);
				return f ?? null;
			},
		},
	},

	methods: {
		async visibleTo(ctx: Ctx<unknown>): Promise<Visible> {
			const user = ctx.meta.user;
			if (!user || user.role === "EXECUTIVE" || user.role === "ADMIN") return { all: true };
			if (user.role === "MANUFACTURER") {
				return { all: false, shops: [], factories: await managedFactoryIds(this.models, user.id) };
			}
			if (user.role === "CLERK")
				return { all: false, shops: await call(ctx, "sales.shops.staffShopIds", { userId: user.id }), factories: [] };
			return { all: false, shops: [], factories: [] };
		},

		/** A freezer the caller may see; one they may not see is 404 (freezers are not public). */
		async findFreezer(ctx: Ctx<unknown>, freezerId: string) {
			const [f] = await this.db.query<FreezerRow>(`SELECT ${COLUMNS} FROM inventory.freezers WHERE id = :freezerId`, {
				replacements: { freezerId },
				type: QueryTypes.SELECT,
			});
			const visible = f ? await this.visibleTo(ctx) : null;
			if (
				!f ||
				!visible ||
				(!visible.all && !visible.shops.includes(f.shopId ?? "") && !visible.factories.includes(f.factoryId ?? ""))
			)
				throw notFound("Freezer", freezerId);
			return f;
		},

		/** A freezer the caller owns: EXECUTIVE/ADMIN, or a factory freezer's MANUFACTURER (a shop's staff see theirs: 403). */
		async ownedFreezer(ctx: Ctx<unknown>, freezerId: string) {
			const f = await this.findFreezer(ctx, freezerId);
			const role = ctx.meta.user?.role;
			if (role === "MANUFACTURER" && !f.factoryId) throw forbidden("Only an executive manages shop freezers");
			return f;
		},

		async ownedBatch(ctx: Ctx<unknown>, itemId: string, t: Transaction) {
			const [batch] = await this.db.query<{ id: string; factoryId: string }>(
				`SELECT id, factory_id AS "factoryId" FROM inventory.stock_items WHERE id = :itemId AND deleted_at IS NULL FOR UPDATE`,
				{
					replacements: { itemId },
					type: QueryTypes.SELECT,
					transaction: t,
				},
			);
			if (!batch) throw notFound("Stock item", itemId);
			await loadActingFactory(this.models, batch.factoryId, ctx.meta.user, { transaction: t });
			return batch;
		},
	},
};

export default defineService(schema);
