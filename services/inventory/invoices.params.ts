/** Param schemas of invoices and the types derived from them. */
import { STRICT, isoDate, positiveInt, trimmed, uuid, type Infer } from "../../lib/params";
import { pageParams } from "../../lib/pagination";

export const INVOICE_STATUSES = ["ISSUED", "PAID", "OVERDUE", "VOID"] as const;

export const createInvoiceParams = {
	...STRICT,
	factoryId: uuid,
	shopId: uuid,
	orderId: { ...uuid, optional: true },
	items: {
		type: "array",
		min: 1,
		max: 200,
		items: { type: "object", strict: "remove", props: { flavorId: uuid, quantity: positiveInt } },
	},
	dueDate: { ...isoDate, optional: true },
	notes: { ...trimmed(0, 2000), optional: true },
} as const;

export const listInvoicesParams = {
	...STRICT,
	...pageParams(["createdAt", "dueDate", "totalAmount", "status"] as const),
	factoryId: { ...uuid, optional: true },
	shopId: { ...uuid, optional: true },
	status: { type: "enum", values: INVOICE_STATUSES, optional: true },
	dueBefore: { ...isoDate, optional: true },
} as const;

export const invoiceIdParams = { ...STRICT, invoiceId: uuid } as const;
export const statusParams = { ...STRICT, invoiceId: uuid, status: { type: "enum", values: INVOICE_STATUSES } } as const;
export const forOrderParams = { ...STRICT, orderId: uuid } as const;
export const markShippedParams = { ...STRICT, orderId: uuid, shipped: "boolean" } as const;

export type CreateInvoiceParams = Infer<typeof createInvoiceParams>;
export type ListInvoicesParams = Infer<typeof listInvoicesParams>;
export type InvoiceIdParams = Infer<typeof invoiceIdParams>;
export type StatusParams = Infer<typeof statusParams>;
export type ForOrderParams = Infer<typeof forOrderParams>;
export type MarkShippedParams = Infer<typeof markShippedParams>;
