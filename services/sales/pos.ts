/**
 * One POS sale: the catalog's prices, integer cents, and a single database
 * transaction that claims the idempotency key (or offline clientId), locks and
 * decrements the shop's stock in flavor-id order, writes the transaction, its
 * lines, the stock movements and the outbox rows. A duplicate key or clientId
 * never makes a second sale: it replays the stored one.
 */
import { createHash } from "node:crypto";
import { QueryTypes, type Sequelize, type Transaction } from "sequelize";
import type { Context } from "moleculer";
import { Errors } from "moleculer";
import { conflict } from "../../lib/errors";
import type { PaymentMethod } from "../../lib/events";
import type { OutboxThis } from "../../mixins/outbox.mixin";
import { flavorIssues, type Flavor } from "./catalog";
import { applyChanges, lockStock, planChange } from "./stock";

export interface SaleInput {
	shopId: string;
	clerkId: string;
	items: { flavorId: string; quantity: number }[];
	paymentMethod: PaymentMethod;
	patronId: string | null;
	idempotencyKey?: string;
	clientId?: string;
	occurredAt?: string;
}

export interface SaleLineJson {
	flavorId: string;
	name: string;
	quantity: number;
	unitPrice: number;
	lineTotal: number;
}

export interface SaleJson {
	id: string;
	shopId: string;
	items: SaleLineJson[];
	totalAmount: number;
	paymentMethod: PaymentMethod;
	clerkId: string;
	patronId: string | null;
	occurredAt: string;
	createdAt: string;
}

export interface SaleOutcome {
	sale: SaleJson;
	replayed: boolean;
	/** Some flavor sold out with this sale (the public menu changes). */
	soldOut: boolean;
}

/** 409 naming every item the shop cannot cover. */
export class InsufficientStockError extends Errors.MoleculerClientError {
	constructor(details: { field: string; flavorId: string; requested: number; available: number; message: string }[]) {
		super(details[0].message, 409, "INSUFFICIENT_STOCK", details);
	}
}

/** Same flavor twice in a basket counts as one line. */
export function mergeLines(items: { flavorId: string; quantity: number }[]): { flavorId: string; quantity: number; index: number }[] {
	const lines = new Map<string, { flavorId: string; quantity: number; index: number }>();
	items.forEach((item, index) => {
		const line = lines.get(item.flavorId);
		if (line) line.quantity += item.quantity;
		else lines.set(item.flavorId, { ...item, index });
	});
	return [...lines.values()];
}

function requestHash(input: SaleInput): string {
	const items = mergeLines(input.items)
		.map((l) => `${l.flavorId}:${l.quantity}`)
		.sort();
	return createHash("sha256").update(JSON.stringify([items, input.paymentMethod, input.patronId ?? null])).digest("hex");
}

interface Host extends OutboxThis {
	db: Sequelize;
	transaction<T>(fn: (t: Transaction) => Promise<T>): Promise<T>;
}

const SALE_COLUMNS = `t.id, t.shop_id AS "shopId", t.total_amount::float8 AS "totalAmount", t.payment_method AS "paymentMethod", t.clerk_id AS "clerkId",
	t.patron_id AS "patronId", t.occurred_at AS "occurredAt", t.created_at AS "createdAt", t.request_hash AS "requestHash",
	(SELECT json_agg(json_build_object('flavorId', i.flavor_id, 'name', i.flavor_name, 'quantity', i.quantity, 'unitPrice', i.unit_price, 'lineTotal', i.line_total) ORDER BY i.line_no)
	   FROM sales.transaction_items i WHERE i.transaction_id = t.id) AS items`;

type SaleRow = Omit<SaleJson, "occurredAt" | "createdAt"> & { occurredAt: Date; createdAt: Date; requestHash: string | null };

export function toSaleJson(row: SaleRow): SaleJson {
	return {
		id: row.id,
		shopId: row.shopId,
		items: row.items,
		totalAmount: Number(row.totalAmount),
		paymentMethod: row.paymentMethod,
		clerkId: row.clerkId,
		patronId: row.patronId,
		occurredAt: new Date(row.occurredAt).toISOString(),
		createdAt: new Date(row.createdAt).toISOString(),
	};
}

/** The sale stored under this idempotency key or clientId, if any. */
async function findExisting(db: Sequelize, input: SaleInput, t?: Transaction): Promise<SaleRow | undefined> {
	if (!input.idempotencyKey && !input.clientId) return undefined;
	const where = input.clientId ? "t.shop_id = :shopId AND t.client_id = :clientId" : "t.shop_id = :shopId AND t.clerk_id = :clerkId AND t.idempotency_key = :key";
	const rows = await db.query<SaleRow>(`SELECT ${SALE_COLUMNS} FROM sales.transactions t WHERE ${where}`, {
		replacements: { shopId: input.shopId, clientId: input.clientId ?? null, clerkId: input.clerkId, key: input.idempotencyKey ?? null },
		type: QueryTypes.SELECT,
		transaction: t,
	});
	return rows[0];
}

function replay(row: SaleRow, input: SaleInput): SaleOutcome {
	if (input.idempotencyKey && row.requestHash !== requestHash(input)) {
		throw conflict("This Idempotency-Key was already used for a different sale", "IDEMPOTENCY_KEY_REUSED", { field: "Idempotency-Key" });
	}
	return { sale: toSaleJson(row), replayed: true, soldOut: false };
}

export async function recordSale(host: Host, ctx: Context | null, input: SaleInput, flavors: Map<string, Flavor>): Promise<SaleOutcome> {
	const existing = await findExisting(host.db, input);
	if (existing) return replay(existing, input);

	const issues = flavorIssues(input.items, flavors);
	if (issues.length) throw new Errors.MoleculerClientError(issues[0].message, 422, "VALIDATION_ERROR", issues);
	const lines = mergeLines(input.items).map((l) => {
		const unitPrice = flavors.get(l.flavorId)!.price;
		return { ...l, name: flavors.get(l.flavorId)!.name, unitPrice, lineTotal: unitPrice * l.quantity };
	});
	const totalAmount = lines.reduce((sum, l) => sum + l.lineTotal, 0);

	const outcome = await host.transaction(async (t) => {
		// Claim the key first: a concurrent duplicate waits here for our commit, then finds the sale.
		// The lines go in with the same statement (only if the claim succeeded): one round trip.
		const r: Record<string, unknown> = {
			shopId: input.shopId,
			clerkId: input.clerkId,
			patronId: input.patronId,
			totalAmount,
			paymentMethod: input.paymentMethod,
			key: input.idempotencyKey ?? null,
			clientId: input.clientId ?? null,
			hash: requestHash(input),
			occurredAt: input.occurredAt ?? null,
		};
		const values = lines
			.map((l, i) => {
				Object.assign(r, { [`f${i}`]: l.flavorId, [`n${i}`]: l.name, [`q${i}`]: l.quantity, [`u${i}`]: l.unitPrice, [`s${i}`]: l.lineTotal });
				return `(${i + 1}, :f${i}::uuid, :n${i}, :q${i}::int, :u${i}::bigint, :s${i}::bigint)`;
			})
			.join(", ");
		const [inserted] = await host.db.query<{ id: string; occurredAt: Date; createdAt: Date }>(
			`WITH tx AS (
			   INSERT INTO sales.transactions (shop_id, clerk_id, patron_id, total_amount, payment_method, idempotency_key, client_id, request_hash, occurred_at)
			   VALUES (:shopId, :clerkId, :patronId, :totalAmount, :paymentMethod, :key, :clientId, :hash, COALESCE(:occurredAt::timestamptz, now()))
			   ON CONFLICT DO NOTHING RETURNING id, occurred_at, created_at),
			 lines AS (
			   INSERT INTO sales.transaction_items (transaction_id, line_no, flavor_id, flavor_name, quantity, unit_price, line_total)
			   SELECT tx.id, v.* FROM tx, (VALUES ${values}) v)
			 SELECT id, occurred_at AS "occurredAt", created_at AS "createdAt" FROM tx`,
			{ replacements: r, type: QueryTypes.SELECT, transaction: t },
		);
		if (!inserted) return null;

		// Everything that does not depend on stock is written before the stock rows are locked (short lock hold).
		const sale: SaleJson = {
			id: inserted.id,
			shopId: input.shopId,
			items: lines.map(({ flavorId, name, quantity, unitPrice, lineTotal }) => ({ flavorId, name, quantity, unitPrice, lineTotal })),
			totalAmount,
			paymentMethod: input.paymentMethod,
			clerkId: input.clerkId,
			patronId: input.patronId,
			occurredAt: new Date(inserted.occurredAt).toISOString(),
			createdAt: new Date(inserted.createdAt).toISOString(),
		};
		await host.publish(
			t,
			ctx,
			"SALE_COMPLETED",
			{
				transactionId: sale.id,
				shopId: sale.shopId,
				clerkId: sale.clerkId,
				patronId: sale.patronId,
				items: sale.items.map(({ flavorId, quantity, unitPrice, lineTotal }) => ({ flavorId, quantity, unitPrice, lineTotal })),
				totalAmount,
				paymentMethod: sale.paymentMethod,
				createdAt: sale.occurredAt,
			},
			// Kafka key = shop: one shop's events stay in order on one partition.
			sale.shopId,
		);
		const sorted = [...lines].sort((a, b) => a.flavorId.localeCompare(b.flavorId));
		const stock = await lockStock(host.db, t, input.shopId, sorted.map((l) => l.flavorId));
		const short = lines
			.map((l) => ({ l, available: stock.get(l.flavorId)?.quantity ?? 0 }))
			.filter(({ l, available }) => available < l.quantity)
			.map(({ l, available }) => ({
				field: `items[${l.index}].quantity`,
				flavorId: l.flavorId,
				requested: l.quantity,
				available,
				message: `Not enough stock of ${l.name}: ${available} left, ${l.quantity} requested`,
			}));
		if (short.length) throw new InsufficientStockError(short);

		const changes = sorted.map((l) => {
			const row = stock.get(l.flavorId)!;
			return planChange(l.flavorId, row, row.quantity - l.quantity);
		});
		await applyChanges(host.db, t, input.shopId, changes, { reason: "SALE", referenceId: inserted.id, actorId: input.clerkId });

		for (const c of changes.filter((c) => c.crossedLow)) {
			await host.publish(t, ctx, "INVENTORY_LOW", { shopId: input.shopId, flavorId: c.flavorId, quantity: c.after, reorderThreshold: c.reorderThreshold }, input.shopId);
		}
		return { sale, replayed: false, soldOut: changes.some((c) => c.after === 0) };
	});
	if (outcome) return outcome;
	// Lost the race to a concurrent duplicate that has committed by now.
	const winner = await findExisting(host.db, input);
	if (!winner) throw conflict("A concurrent request with the same key is still being processed", "IDEMPOTENCY_IN_PROGRESS");
	return replay(winner, input);
}
