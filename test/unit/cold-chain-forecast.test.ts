/** The cold-chain run rules and the forecast math, as plain functions (issue #15). */
import { advance, hashDeviceKey, newDeviceKey, type RunState } from "../../services/inventory/cold-chain";
import {
	addDays,
	expectedSales,
	projectLots,
	reorderQuantity,
	suggestAction,
	weekdayIndex,
	weekdayVelocity,
} from "../../services/sales/forecast";
import { loadConfig } from "../../lib/config";

const RULE = { maxC: -18, graceMin: 30 };
const T0 = Date.parse("2026-07-01T10:00:00Z");
const at = (minute: number) => new Date(T0 + minute * 60_000);
const fresh: RunState = { lastReadingAt: null, aboveSince: null, runMaxCelsius: null, reported: false };
const series = (from: number, to: number, celsius: number) =>
	Array.from({ length: to - from + 1 }, (_, i) => ({ at: at(from + i), celsius }));

describe("cold chain: device keys", () => {
	it("stores a hash that only its own key gives", () => {
		const { key, hash } = newDeviceKey();
		expect(key).toMatch(/^frz_[\w-]{43}$/);
		expect(hashDeviceKey(key)).toBe(hash);
		expect(hashDeviceKey(newDeviceKey().key)).not.toBe(hash);
		expect(hash).not.toContain(key.slice(4));
	});
});

describe("cold chain: excursions", () => {
	it("fires on the first reading more than the grace period after the run began, once", () => {
		expect(advance(fresh, series(0, 30, -10), RULE).detected).toEqual([]);
		const r = advance(fresh, series(0, 45, -10), RULE);
		expect(r.detected).toEqual([{ startedAt: at(0), detectedAt: at(31), maxCelsius: -10, endedAt: null }]);
		expect(r.state.reported).toBe(true);
	});

	it("carries the run across batches and in any order within one", () => {
		const first = advance(fresh, series(0, 20, -12).reverse(), RULE);
		expect([first.detected, first.state.aboveSince]).toEqual([[], at(0)]);
		const second = advance(first.state, series(21, 31, -11), RULE);
		expect(second.detected.map((d) => [d.startedAt, d.detectedAt, d.maxCelsius])).toEqual([[at(0), at(31), -11]]);
		const third = advance(second.state, series(32, 40, -5), RULE);
		expect([third.detected, third.previous]).toEqual([[], { maxCelsius: -5, endedAt: null }]);
		const cold = advance(third.state, series(41, 41, -20), RULE);
		expect(cold.previous).toEqual({ maxCelsius: -5, endedAt: at(41) });
		expect(cold.state).toEqual({ lastReadingAt: at(41), aboveSince: null, runMaxCelsius: null, reported: false });
	});

	it("a cold reading resets the run; the limit itself is not warm; late readings change nothing", () => {
		const broken = [...series(0, 20, -10), { at: at(21), celsius: -18 }, ...series(22, 50, -10)];
		expect(advance(fresh, broken, RULE).detected).toEqual([]);
		const s = advance(fresh, series(10, 20, -20), RULE).state;
		expect(advance(s, series(0, 9, 5), RULE).state).toEqual(s);
	});

	it("two runs in one batch are two excursions", () => {
		const r = advance(fresh, [...series(0, 35, -10), ...series(36, 36, -25), ...series(37, 80, -3)], RULE);
		expect(r.detected.map((d) => [d.startedAt, d.detectedAt, d.endedAt])).toEqual([
			[at(0), at(31), at(36)],
			[at(37), at(68), null],
		]);
	});

	it("reads COLD_CHAIN_MAX_C (negative), COLD_CHAIN_GRACE_MIN and FREEZER_READINGS_RETENTION_DAYS", () => {
		expect(loadConfig({}).coldChain).toEqual({ maxC: -18, graceMin: 30, readingsRetentionDays: 730 });
		expect(
			loadConfig({ COLD_CHAIN_MAX_C: "-15", COLD_CHAIN_GRACE_MIN: "10", FREEZER_READINGS_RETENTION_DAYS: "90" }).coldChain,
		).toEqual({ maxC: -15, graceMin: 10, readingsRetentionDays: 90 });
		// Detection looks back up to a day: readings must outlive that.
		expect(() => loadConfig({ FREEZER_READINGS_RETENTION_DAYS: "1" })).toThrow(/FREEZER_READINGS_RETENTION_DAYS/);
		expect(() => loadConfig({ COLD_CHAIN_MAX_C: "cold" })).toThrow(/COLD_CHAIN_MAX_C/);
	});
});

describe("forecast math", () => {
	// 2026-07-06 is a Monday.
	const v = weekdayVelocity(
		new Map([
			[1, 4],
			[6, 40],
		]),
	); // 1 a Monday, 10 a Saturday
	it("weights by weekday", () => {
		expect(weekdayIndex("2026-07-06")).toBe(0);
		expect(addDays("2026-07-06", 5)).toBe("2026-07-11");
		expect(expectedSales(v, "2026-07-06", "2026-07-12")).toBe(11);
		expect(expectedSales(v, "2026-07-07", "2026-07-10")).toBe(0);
		expect(expectedSales(v, "2026-07-07", "2026-07-06")).toBe(0);
	});

	it("projects lots first-expiry-first-out, UNTRACKED last", () => {
		const p = projectLots(
			[
				{ id: "untracked", expiryDate: null, quantity: 5 },
				{ id: "late", expiryDate: "2026-07-11", quantity: 8 },
				{ id: "early", expiryDate: "2026-07-06", quantity: 3 },
			],
			v,
			"2026-07-06",
			"2026-07-12",
		);
		expect(p).toEqual([
			{ id: "early", expectedSales: 1, projectedSold: 1, projectedUnsold: 2 },
			{ id: "late", expectedSales: 11, projectedSold: 8, projectedUnsold: 0 },
			{ id: "untracked", expectedSales: 11, projectedSold: 2, projectedUnsold: 3 },
		]);
		expect(reorderQuantity([{ id: "a", expiryDate: "2026-07-06", quantity: 3 }], v, "2026-07-06", 7)).toEqual({
			expectedSales: 11,
			usableStock: 1,
			suggestedQuantity: 10,
		});
	});

	it("suggests transfer, markdown or ordering less", () => {
		expect(suggestAction(0, 10, null)).toEqual({ action: "NONE", transferToShopId: null });
		expect(suggestAction(4, 10, { shopId: "s", spare: 4 })).toEqual({ action: "TRANSFER", transferToShopId: "s" });
		expect(suggestAction(4, 10, { shopId: "s", spare: 3 })).toEqual({ action: "MARKDOWN", transferToShopId: null });
		expect(suggestAction(6, 10, null)).toEqual({ action: "ORDER_LESS", transferToShopId: null });
	});
});
