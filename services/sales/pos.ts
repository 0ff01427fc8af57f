/**
 * One POS sale: the catalog's prices, integer cents, and one call of the
 * database function `sales.pos_sale` (migrations/sales/030-pos-sale-function.ts),
 * prepared: one round trip and one commit (shared with the sales that arrived meanwhile,
 * each in its own subtransaction: pos-batch.ts) that checks the staff, claims the
 * idempotency key (or offline clientId), locks and decrements the shop's stock
 * in flavor-id order, draws each line from the shop's lots first-expiry-first-out
 * (migrations/sales/112-pos-sale-fefo.ts: markdowns priced there), and writes the
 * transaction, its lines and lots, the stock movements, the outbox rows and the audit row. A duplicate key or clientId
 * never makes a second sale: it replays the stored one.
 */
import { createHash, randomUUID } from "node:crypto";
import type { Sequelize } from "sequelize";
import type { Context } from "moleculer";
import { Errors } from "moleculer";
import { conflict, forbidden, notFound } from "../../lib/errors";
import { EVENT_CATALOG, envelope, type EventEnvelope, type PaymentMethod, type SaleLine } from "../../lib/events";
import type { OutboxThis } from "../../mixins/outbox.mixin";
import type { auditActor } from "../../mixins/audit.mixin";
import type { shopAccess } from "./access";
import { flavorIssues, type Flavor } from "./catalog";
import { mergeLines } from "../../lib/lines";
import { runSale } from "./pos-batch";

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
	/** Some flavor sold out, or marked-down stock was sold, with this sale (the public menu changes). */
	soldOut: boolean;
}

/** 409 naming every item the shop cannot cover. */
export class InsufficientStockError extends Errors.MoleculerClientError {
	constructor(details: { field: string; flavorId: string; requested: number; available: number; message: string }[]) {
		super(details[0].message, 409, "INSUFFICIENT_STOCK", details);
	}
}

/** 409: only recalled stock could serve these items (the recall stopped them at the counter). */
export class RecalledStockError extends Errors.MoleculerClientError {
	constructor(details: { field: string; flavorId: string; requested: number; available: number; message: string }[]) {
		super(`Only recalled stock is left: ${details[0].message}`, 409, "RECALLED_STOCK", details);
	}
}

function requestHash(input: SaleInput): string {
	const items = mergeLines(input.items)
		.map((l) => `${l.flavorId}:${l.quantity}`)
		.sort();
	return createHash("sha256")
		.update(JSON.stringify([items, input.paymentMethod, input.patronId ?? null]))
		.digest("hex");
}

function lineInOrder({ flavorId, name, quantity, unitPrice, lineTotal }: SaleLineJson): SaleLineJson {
	return { flavorId, name, quantity, unitPrice, lineTotal };
}

function inOrder({ id, shopId, items, totalAmount, paymentMethod, clerkId, patronId, occurredAt, createdAt }: SaleJson): SaleJson {
	return { id, shopId, items, totalAmount, paymentMethod, clerkId, patronId, occurredAt, createdAt };
}

/** A stored sale as the history query selects it. */
type SaleRow = Omit<SaleJson, "occurredAt" | "createdAt"> & { occurredAt: Date; createdAt: Date };

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

type Host = Pick<OutboxThis, "announce"> & { db: Sequelize };

/** Who may sell here (access.ts#shopAccess): checked by the function against the shop's staff. */
export type SaleAccess = ReturnType<typeof shopAccess>;

/** The audit row the function writes with the sale (mixins/audit.mixin.ts's shape; the target is the sale). */
export type SaleAudit = ReturnType<typeof auditActor>;

type PosResult =
	| { replayed: true; sale: SaleJson }
	| {
			replayed: false;
			id: string;
			occurredAt: string;
			createdAt: string;
			items: SaleLine[];
			totalAmount: number;
			soldOut: boolean;
			low: EventEnvelope<"INVENTORY_LOW">[];
	  };

interface PgError {
	code?: string;
	detail?: string;
}

/** The function's SQLSTATEs (see the migration) as the API's errors. */
function saleError(
	err: unknown,
	input: SaleInput,
	lines: (ReturnType<typeof mergeLines>[number] & { name: string })[],
	issues: ReturnType<typeof flavorIssues>,
): unknown {
	switch ((err as PgError).code) {
		case "ZS404":
			return notFound("Shop", input.shopId);
		case "ZS403":
			return forbidden("You are not assigned to this shop");
		case "ZS422":
			return new Errors.MoleculerClientError(issues[0].message, 422, "VALIDATION_ERROR", issues);
		case "ZSKEY":
			return conflict("This Idempotency-Key was already used for a different sale", "IDEMPOTENCY_KEY_REUSED", {
				field: "Idempotency-Key",
			});
		case "ZSBSY":
			return conflict("A concurrent request with the same key is still being processed", "IDEMPOTENCY_IN_PROGRESS");
		case "ZSRCL":
		case "ZSSTK": {
			const short = JSON.parse((err as PgError).detail ?? "[]") as { flavorId: string; requested: number; available: number }[];
			return new ((err as PgError).code === "ZSRCL" ? RecalledStockError : InsufficientStockError)(
				short.map(({ flavorId, requested, available }) => {
					const line = lines.find((l) => l.flavorId === flavorId)!;
					return {
						field: `items[${line.index}].quantity`,
						flavorId,
						requested,
						available,
						message: `Not enough stock of ${line.name}: ${available} left, ${requested} requested`,
					};
				}),
			);
		}
		default:
			return err;
	}
}

/**
 * Records (or replays) one sale. `access` is checked in the same statement;
 * `audit` is written in the same commit. The committed events are announced here.
 */
export async function recordSale(
	host: Host,
	ctx: Context | null,
	input: SaleInput,
	flavors: Map<string, Flavor>,
	access: SaleAccess,
	audit: SaleAudit | null,
): Promise<SaleOutcome> {
	// Unknown or archived flavors are refused by the function after the staff and replay checks (as before).
	const issues = flavorIssues(input.items, flavors);
	const lines = mergeLines(input.items).map((l) => {
		const flavor = flavors.get(l.flavorId);
		const unitPrice = flavor?.price ?? 0;
		return { ...l, name: flavor?.name ?? "", unitPrice, lineTotal: unitPrice * l.quantity };
	});
	const totalAmount = lines.reduce((sum, l) => sum + l.lineTotal, 0);
	const saleId = randomUUID();
	const items = lines.map(({ flavorId, name, quantity, unitPrice, lineTotal }) => ({ flavorId, name, quantity, unitPrice, lineTotal }));
	// `createdAt` is the database's clock: the function sets it in the outbox row, and we set it here from its answer.
	const saleEvent = envelope(
		"SALE_COMPLETED",
		{
			transactionId: saleId,
			shopId: input.shopId,
			clerkId: input.clerkId,
			patronId: input.patronId,
			items: items.map(({ flavorId, quantity, unitPrice, lineTotal }) => ({ flavorId, quantity, unitPrice, lineTotal })),
			totalAmount,
			paymentMethod: input.paymentMethod,
			createdAt: "",
		},
		ctx?.requestID,
	);
	const lowTemplate = envelope("INVENTORY_LOW", { shopId: input.shopId, flavorId: "", quantity: 0, reorderThreshold: 0 }, ctx?.requestID);

	let result: PosResult;
	try {
		result = await runSale<PosResult>(host.db, [
			saleId,
			input.shopId,
			input.clerkId,
			access,
			issues.length > 0,
			input.patronId,
			input.paymentMethod,
			input.idempotencyKey ?? null,
			input.clientId ?? null,
			requestHash(input),
			input.occurredAt ?? null,
			lines.map((l) => l.flavorId),
			lines.map((l) => l.name),
			lines.map((l) => l.quantity),
			lines.map((l) => l.unitPrice),
			JSON.stringify(saleEvent),
			EVENT_CATALOG.SALE_COMPLETED.topic,
			JSON.stringify(lowTemplate),
			EVENT_CATALOG.INVENTORY_LOW.topic,
			audit && JSON.stringify(audit),
		]);
	} catch (err) {
		throw saleError(err, input, lines, issues);
	}
	// Same key order as a first answer (jsonb orders keys its own way): a replay is byte-identical.
	if (result.replayed)
		return { sale: { ...inOrder(result.sale), items: result.sale.items.map(lineInOrder) }, replayed: true, soldOut: false };

	// Committed: tell the cluster (the outbox rows are already safe), in outbox order. The function
	// decided the lots and markdowns: the lines and total as charged are its.
	Object.assign(saleEvent.data, { createdAt: result.occurredAt, items: result.items, totalAmount: Number(result.totalAmount) });
	host.announce(saleEvent);
	const charged = new Map(result.items.map((l) => [l.flavorId, Number(l.lineTotal)]));
	for (const event of result.low) host.announce(event);
	const sale: SaleJson = {
		id: saleId,
		shopId: input.shopId,
		items: items.map((l) => ({ ...l, lineTotal: charged.get(l.flavorId) ?? l.lineTotal })),
		totalAmount: Number(result.totalAmount),
		paymentMethod: input.paymentMethod,
		clerkId: input.clerkId,
		patronId: input.patronId,
		occurredAt: result.occurredAt,
		createdAt: result.createdAt,
	};
	// A marked-down sale changes what the menu shows (the markdown quantity, or the lot in the window is gone): the menu is refreshed as on a sell-out.
	return { sale, replayed: false, soldOut: result.soldOut || result.items.some((l) => (l.markdownCents ?? 0) > 0) };
}
