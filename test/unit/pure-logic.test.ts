/**
 * The pure rules under the services, without a database: the order and invoice
 * state machines, line merging, stock planning, analytics ranges and scopes,
 * the audit target, the analytics directory's scope cache, and the day a sale counts on.
 */
import type { Context } from "moleculer";
import { TRANSITIONS as ORDER_TRANSITIONS, isLegal, mayTransition, type OrderParty } from "../../services/sales/orders";
import { TRANSITIONS as INVOICE_TRANSITIONS, mergeItems } from "../../services/inventory/invoicing";
import { mergeLines } from "../../lib/lines";
import { planChange } from "../../services/sales/stock";
import { Directory, dateRange, inScope } from "../../services/analytics/scope";
import { auditTarget } from "../../mixins/audit.mixin";
import { envelope, saleDay } from "../../lib/events";
import { consumptionRows } from "../../services/inventory/analytics.service";

describe("order state machine", () => {
	const statuses = Object.keys(ORDER_TRANSITIONS) as (keyof typeof ORDER_TRANSITIONS)[];

	it("moves PENDING → CONFIRMED → SHIPPED → DELIVERED, cancels only before shipping, and ends there", () => {
		expect(isLegal("PENDING", "CONFIRMED")).toBe(true);
		expect(isLegal("CONFIRMED", "SHIPPED")).toBe(true);
		expect(isLegal("SHIPPED", "DELIVERED")).toBe(true);
		expect(isLegal("PENDING", "CANCELLED")).toBe(true);
		expect(isLegal("CONFIRMED", "CANCELLED")).toBe(true);
		expect(isLegal("SHIPPED", "CANCELLED")).toBe(false);
		expect(isLegal("PENDING", "SHIPPED")).toBe(false);
		for (const to of statuses) {
			expect(isLegal("DELIVERED", to)).toBe(false);
			expect(isLegal("CANCELLED", to)).toBe(false);
		}
	});

	it("lets each party make only its own moves", () => {
		const may = (party: OrderParty) =>
			statuses.flatMap((from) => ORDER_TRANSITIONS[from].filter((to) => mayTransition(party, from, to)).map((to) => `${from}>${to}`));
		expect(may("FACTORY")).toEqual(["PENDING>CONFIRMED", "CONFIRMED>SHIPPED"]);
		expect(may("SHOP")).toEqual(["PENDING>CANCELLED", "SHIPPED>DELIVERED"]);
		expect(may("EXECUTIVE")).toEqual(statuses.flatMap((from) => ORDER_TRANSITIONS[from].map((to) => `${from}>${to}`)));
	});
});

describe("invoice state machine", () => {
	it("pays or voids an issued or overdue invoice; a paid or void one is final", () => {
		expect(INVOICE_TRANSITIONS.ISSUED).toEqual(expect.arrayContaining(["PAID", "OVERDUE", "VOID"]));
		expect(INVOICE_TRANSITIONS.OVERDUE).toEqual(expect.arrayContaining(["PAID", "VOID"]));
		expect(INVOICE_TRANSITIONS.OVERDUE).not.toContain("ISSUED");
		expect(INVOICE_TRANSITIONS.PAID).toEqual([]);
		expect(INVOICE_TRANSITIONS.VOID).toEqual([]);
	});
});

describe("line merging (one implementation for baskets, orders and invoices)", () => {
	const items = [
		{ flavorId: "b", quantity: 2 },
		{ flavorId: "a", quantity: 1 },
		{ flavorId: "b", quantity: 3 },
	];

	it("sums repeated flavors in first-seen order and remembers the first position", () => {
		expect(mergeLines(items)).toEqual([
			{ flavorId: "b", quantity: 5, index: 0 },
			{ flavorId: "a", quantity: 1, index: 1 },
		]);
		expect(mergeItems(items)).toEqual([
			{ flavorId: "b", quantity: 5 },
			{ flavorId: "a", quantity: 1 },
		]);
	});

	it("does not change its input", () => {
		const copy = structuredClone(items);
		mergeLines(items);
		expect(items).toEqual(copy);
	});
});

describe("planChange (shop stock rows)", () => {
	const row = { flavorId: "f", quantity: 10, reorderThreshold: 5, lowAlerted: false };

	it("raises INVENTORY_LOW once, when the quantity first drops below the threshold", () => {
		expect(planChange("f", row, 4)).toMatchObject({ before: 10, after: 4, lowAlerted: true, crossedLow: true, existed: true });
		expect(planChange("f", { ...row, quantity: 4, lowAlerted: true }, 3)).toMatchObject({ lowAlerted: true, crossedLow: false });
		expect(planChange("f", row, 5)).toMatchObject({ lowAlerted: false, crossedLow: false });
	});

	it("re-arms the alert when stock is back at the threshold, and takes a new threshold", () => {
		expect(planChange("f", { ...row, quantity: 1, lowAlerted: true }, 6)).toMatchObject({ lowAlerted: false, crossedLow: false });
		expect(planChange("f", row, 10, 20)).toMatchObject({ reorderThreshold: 20, lowAlerted: true, crossedLow: true });
	});

	it("plans a new row from nothing", () => {
		expect(planChange("g", undefined, 3)).toEqual({
			flavorId: "g",
			before: 0,
			after: 3,
			reorderThreshold: 0,
			lowAlerted: false,
			crossedLow: false,
			existed: false,
		});
	});
});

describe("analytics ranges and scopes", () => {
	it("checks calendar dates, order and length of a range", () => {
		expect(dateRange({ from: "2024-02-01", to: "2024-02-29" })).toEqual({ from: "2024-02-01", to: "2024-02-29" });
		expect(dateRange({ to: "2024-03-30" })).toEqual({ from: "2024-03-01", to: "2024-03-30" });
		expect(() => dateRange({ from: "2023-02-29" })).toThrow(/not a valid date/);
		expect(() => dateRange({ from: "2024-03-02", to: "2024-03-01" })).toThrow(/must not be after/);
		expect(dateRange({ from: "2023-01-01", to: "2024-01-01" })).toEqual({ from: "2023-01-01", to: "2024-01-01" });
		expect(() => dateRange({ from: "2023-01-01", to: "2024-01-02" })).toThrow(/at most 366 days/);
	});

	it("turns a scope into SQL: everything (null) or a uuid[] list", () => {
		expect(inScope("shop_id", null)).toEqual({ sql: "true", replacements: {} });
		expect(inScope("shop_id", ["a", "b"], "shops")).toEqual({ sql: "shop_id = ANY(:shops::uuid[])", replacements: { shops: "{a,b}" } });
		expect(inScope("shop_id", [])).toEqual({ sql: "shop_id = ANY(:scope::uuid[])", replacements: { scope: "{}" } });
	});

	it("asks sales once per user for shop scopes, and again after forgetStaff", async () => {
		const asked: string[] = [];
		const ctx = {
			call: async (action: string, params: { userId: string }) => (asked.push(`${action}:${params.userId}`), ["s1"]),
		} as unknown as Context<unknown, never>;
		const dir = new Directory();
		expect(await dir.shopsOf(ctx, "u1")).toEqual(["s1"]);
		expect(await dir.shopsOf(ctx, "u1")).toEqual(["s1"]);
		expect(asked).toEqual(["sales.shops.staffShopIds:u1"]);
		dir.forgetStaff(["u1"]);
		await dir.shopsOf(ctx, "u1");
		expect(asked).toHaveLength(2);
	});
});

describe("auditTarget", () => {
	const ctx = (params: Record<string, unknown>, locals: Record<string, unknown> = {}) =>
		({ params, locals }) as unknown as Parameters<typeof auditTarget>[0];

	it("prefers what the handler named, then the result's id, then an id param", () => {
		expect(auditTarget(ctx({ shopId: "p" }, { auditTarget: "named" }), { id: "r" })).toBe("named");
		expect(auditTarget(ctx({ shopId: "p" }), { id: "r" })).toBe("r");
		expect(auditTarget(ctx({ name: "x", shopId: "p" }), null)).toBe("p");
		expect(auditTarget(ctx({ id: "i" }), [])).toBe("i");
		expect(auditTarget(ctx({ name: "x" }), { id: 7 })).toBeNull();
	});
});

describe("the day a sale counts on (analytics and inventory's consumption alike)", () => {
	const sale = (createdAt: string) =>
		envelope("SALE_COMPLETED", {
			transactionId: "00000000-0000-4000-8000-000000000001",
			shopId: "00000000-0000-4000-8000-000000000002",
			clerkId: "00000000-0000-4000-8000-000000000003",
			patronId: null,
			items: [{ flavorId: "00000000-0000-4000-8000-000000000004", quantity: 2, unitPrice: 100, lineTotal: 200 }],
			totalAmount: 200,
			paymentMethod: "CASH",
			createdAt,
		});

	it("is the UTC day of the instant, whatever offset the producer wrote", () => {
		expect(saleDay(sale("2024-03-10T23:30:00-05:00"))).toBe("2024-03-11");
		expect(saleDay(sale("2024-03-11T00:30:00+02:00"))).toBe("2024-03-10");
		expect(saleDay(sale("2024-03-10T12:00:00.000Z"))).toBe("2024-03-10");
		expect(consumptionRows([sale("2024-03-10T23:30:00-05:00")]).map((r) => r.day)).toEqual(["2024-03-11"]);
	});

	it("refuses an unreadable time instead of counting the sale on a made-up day", () => {
		expect(() => saleDay(sale("yesterday, late"))).toThrow(/unreadable createdAt/);
	});
});
