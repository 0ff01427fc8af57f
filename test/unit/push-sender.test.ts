/** Web Push retry timing: Retry-After parsing and the backoff schedule. */
import { backoffSeconds, retryAfterSeconds } from "../../services/communications/push-sender";

describe("push retry timing", () => {
	it("reads Retry-After as seconds or as an HTTP date", () => {
		const now = Date.parse("2026-01-01T00:00:00Z");
		expect(retryAfterSeconds("120", now)).toBe(120);
		expect(retryAfterSeconds("Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30);
		expect(retryAfterSeconds("Wed, 31 Dec 2025 23:00:00 GMT", now)).toBe(0);
		expect(retryAfterSeconds(null, now)).toBeNull();
		expect(retryAfterSeconds("soon", now)).toBeNull();
	});

	it("doubles from 1 s, caps at an hour, and lets a longer Retry-After win", () => {
		expect([1, 2, 3, 4, 5].map((n) => backoffSeconds(n, null))).toEqual([1, 2, 4, 8, 16]);
		expect(backoffSeconds(30, null)).toBe(3600);
		expect(backoffSeconds(1, 90)).toBe(90);
		expect(backoffSeconds(5, 3)).toBe(16);
		expect(backoffSeconds(1, 99_999)).toBe(3600);
	});
});
