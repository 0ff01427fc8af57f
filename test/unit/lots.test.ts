/** Pure parts of shop lots (services/sales/lots.ts): delivery lots, write-off reasons, markdown price. */
import { deliveredLots, markedDown, writeOffReason, type LotTaken, type OrderAllocation } from "../../services/sales/lots";

const alloc = (stockItemId: string, quantity: number, flavorId = "f1"): OrderAllocation => ({
	flavorId,
	stockItemId,
	batchLabel: stockItemId.toUpperCase(),
	factoryId: "fac",
	expiryDate: "2026-12-01",
	unitCost: 50,
	quantity,
});

describe("deliveredLots", () => {
	it("takes the allocated batches in their (FEFO) order, capped at the ordered quantity, and puts the rest in UNTRACKED", () => {
		const lots = deliveredLots(
			[
				{ flavorId: "f1", quantity: 7 },
				{ flavorId: "f2", quantity: 3 },
			],
			[alloc("b1", 4), alloc("b2", 5), alloc("b3", 2, "f2")],
		);
		expect(lots.map((l) => [l.flavorId, l.stockItemId, l.quantity])).toEqual([
			["f1", "b1", 4],
			["f1", "b2", 3],
			["f2", "b3", 2],
			["f2", null, 1],
		]);
		expect(lots[3]).toMatchObject({ batchLabel: null, expiryDate: null, factoryId: null, unitCost: 0 });
	});

	it("without an invoice everything is UNTRACKED", () => {
		expect(deliveredLots([{ flavorId: "f1", quantity: 2 }], [])).toEqual([
			{ flavorId: "f1", stockItemId: null, batchLabel: null, factoryId: null, expiryDate: null, unitCost: 0, quantity: 2 },
		]);
	});
});

describe("writeOffReason", () => {
	const lot = (status: LotTaken["status"], expired: boolean): LotTaken => ({
		lotId: "l",
		flavorId: "f",
		stockItemId: "b",
		status,
		expired,
		unitCost: 1,
		quantity: 1,
	});
	it("names the lot's state first, then what the count says", () => {
		expect(writeOffReason(lot("RECALLED", true), "COUNT")).toBe("RECALL");
		expect(writeOffReason(lot("QUARANTINED", false), "WASTE")).toBe("QUARANTINE");
		expect(writeOffReason(lot("SELLABLE", true), "COUNT")).toBe("EXPIRY");
		expect(writeOffReason(lot("SELLABLE", false), "WASTE")).toBe("DAMAGE");
		expect(writeOffReason(lot("SELLABLE", false), "CORRECTION")).toBe("COUNT");
	});
});

describe("markedDown", () => {
	it("rounds the discount half up to the cent, as sales.marked_down", () => {
		expect(markedDown(300, 50)).toBe(150);
		expect(markedDown(299, 50)).toBe(149); // 149.5 off rounds to 150: 149 charged
		expect(markedDown(250, 33)).toBe(167); // 82.5 off → 83
		expect(markedDown(250, 100)).toBe(0);
	});
});
