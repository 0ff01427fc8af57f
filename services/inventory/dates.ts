/** Calendar dates as `YYYY-MM-DD` strings (UTC), the only date format of the inventory API. */
import { validationError } from "../../lib/errors";

export function today(): string {
	return new Date().toISOString().slice(0, 10);
}

export function addDays(date: string, days: number): string {
	const d = new Date(`${date}T00:00:00Z`);
	d.setUTCDate(d.getUTCDate() + days);
	return d.toISOString().slice(0, 10);
}

/** The pattern is checked by the params schema; this rejects impossible days like 2026-02-31 (422 naming the field). */
export function assertCalendarDate(field: string, value: string | undefined): void {
	if (value === undefined) return;
	const d = new Date(`${value}T00:00:00Z`);
	if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== value) throw validationError(field, `The '${field}' field must be a real calendar date.`, "date");
}
