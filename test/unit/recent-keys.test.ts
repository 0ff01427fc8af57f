/** services/gateway/http.ts#RecentKeys: which addresses pay the wrong-device-key budget's store read. */
import { RecentKeys } from "../../services/gateway/http";

describe("RecentKeys", () => {
	it("holds a key for its time to live from the latest mark", () => {
		const recent = new RecentKeys(60_000, 10);
		expect(recent.has("ip:a", 0)).toBe(false);
		recent.mark("ip:a", 1_000);
		expect(recent.has("ip:a", 60_999)).toBe(true);
		recent.mark("ip:a", 30_000);
		expect(recent.has("ip:a", 89_999)).toBe(true);
		expect(recent.has("ip:a", 90_000)).toBe(false);
		// An expired key is dropped when it is asked for.
		expect(recent.size).toBe(0);
	});

	it("keeps at most `max` keys, dropping the one marked longest ago", () => {
		const recent = new RecentKeys(60_000, 3);
		for (const k of ["a", "b", "c"]) recent.mark(k, 0);
		recent.mark("a", 1); // a is now the latest
		recent.mark("d", 2);
		expect(recent.size).toBe(3);
		expect(["a", "b", "c", "d"].filter((k) => recent.has(k, 3))).toEqual(["a", "c", "d"]);
	});
});
