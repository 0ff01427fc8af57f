/** Pure parts of issue 14 §3/§4: notice lead times, the daily job clock, MAINTENANCE_NOTICE_MINUTES, the active window. */
import { dueLeads } from "../../services/admin/maintenance";
import { msUntilUtc } from "../../lib/jobs";
import { ConfigError, loadConfig } from "../../lib/config";
import { activeMaintenance, SETTING_DEFAULTS } from "../../lib/settings";

const MIN = 60_000;

describe("maintenance notice lead times", () => {
	const start = Date.UTC(2026, 10, 27, 12, 0);
	it("a lead is due from its minute before the start until the start", () => {
		expect(dueLeads([15, 5], start, start - 16 * MIN)).toEqual([]);
		expect(dueLeads([15, 5], start, start - 15 * MIN)).toEqual([15]);
		expect(dueLeads([15, 5], start, start - 4 * MIN)).toEqual([15, 5]);
		expect(dueLeads([15, 5], start, start)).toEqual([]);
	});
	it("MAINTENANCE_NOTICE_MINUTES: default 15,5; sorted, deduplicated; empty = none; nonsense refused", () => {
		expect(loadConfig({ NODE_ENV: "test" }).maintenanceNoticeMinutes).toEqual([15, 5]);
		expect(loadConfig({ NODE_ENV: "test", MAINTENANCE_NOTICE_MINUTES: "5, 60,5" }).maintenanceNoticeMinutes).toEqual([60, 5]);
		expect(loadConfig({ NODE_ENV: "test", MAINTENANCE_NOTICE_MINUTES: "" }).maintenanceNoticeMinutes).toEqual([]);
		for (const bad of ["0", "soon", "1441", "-5"])
			expect(() => loadConfig({ NODE_ENV: "test", MAINTENANCE_NOTICE_MINUTES: bad })).toThrow(ConfigError);
	});
});

describe("the active maintenance window", () => {
	const snapshot = {
		settings: SETTING_DEFAULTS,
		version: 1,
		maintenance: [{ id: "w", startsAt: "2026-11-27T12:00:00Z", endsAt: "2026-11-27T13:00:00Z", message: "m" }],
	};
	it("is in force from its start (inclusive) to its end (exclusive)", () => {
		expect(activeMaintenance(snapshot, Date.parse("2026-11-27T11:59:59Z"))).toBeUndefined();
		expect(activeMaintenance(snapshot, Date.parse("2026-11-27T12:00:00Z"))?.id).toBe("w");
		expect(activeMaintenance(snapshot, Date.parse("2026-11-27T13:00:00Z"))).toBeUndefined();
	});
});

describe("daily job clock", () => {
	it("waits until the next 00:05 UTC", () => {
		expect(msUntilUtc(0, 5, new Date("2026-11-27T00:00:00Z"))).toBe(5 * MIN);
		expect(msUntilUtc(0, 5, new Date("2026-11-27T00:05:00Z"))).toBe(86_400_000);
		expect(msUntilUtc(0, 5, new Date("2026-11-27T23:05:00Z"))).toBe(60 * MIN);
	});
});
