/**
 * Waste forecast and reorder suggestions as plain functions (docs/sales.md, "Waste forecast").
 * - Velocity: a flavor's units sold at a shop per weekday, averaged over the trailing
 *   VELOCITY_DAYS (28: four of each weekday) before `asOf`, UTC days.
 * - Expected sales from `asOf` through day `e`: the sum of the weekday velocities of those days.
 * - Lots sell first-expiry-first-out (UNTRACKED, with no expiry, last): a lot sells what the
 *   flavor's expected demand until its expiry leaves after the lots before it; the rest is
 *   projected unsold at expiry.
 */
export const VELOCITY_DAYS = 28;
const DAY_MS = 86_400_000;

/** Units per day for ISO weekdays Monday..Sunday (index 0..6). */
export type WeekdayVelocity = number[];

export function addDays(day: string, n: number): string {
	return new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
}

/** ISO weekday index 0 (Monday) .. 6 (Sunday) of a UTC day. */
export function weekdayIndex(day: string): number {
	return (new Date(`${day}T00:00:00Z`).getUTCDay() + 6) % 7;
}

/** Velocity from units sold per ISO weekday (1..7) over the window: each weekday occurs VELOCITY_DAYS / 7 times. */
export function weekdayVelocity(unitsByIsoDow: Map<number, number>): WeekdayVelocity {
	return Array.from({ length: 7 }, (_, i) => (unitsByIsoDow.get(i + 1) ?? 0) / (VELOCITY_DAYS / 7));
}

/** Expected units sold on the days `from` .. `to` (inclusive); 0 when `to` is before `from`. */
export function expectedSales(v: WeekdayVelocity, from: string, to: string): number {
	let sum = 0;
	for (let day = from; day <= to; day = addDays(day, 1)) sum += v[weekdayIndex(day)];
	return sum;
}

export interface LotIn {
	id: string;
	expiryDate: string | null;
	quantity: number;
}

export interface LotProjection {
	id: string;
	/** The flavor's expected sales from `asOf` through the lot's last day (its expiry, or the horizon's end). */
	expectedSales: number;
	projectedSold: number;
	projectedUnsold: number;
}

/**
 * FEFO projection of one flavor's sellable lots at one shop from `asOf`. A lot without an
 * expiry (UNTRACKED), or expiring after `until`, is projected to `until`.
 */
export function projectLots(lots: LotIn[], v: WeekdayVelocity, asOf: string, until: string): LotProjection[] {
	const ordered = [...lots].sort(
		(a, b) => (a.expiryDate ?? "9999-12-31").localeCompare(b.expiryDate ?? "9999-12-31") || a.id.localeCompare(b.id),
	);
	let consumed = 0;
	return ordered.map((lot) => {
		const last = lot.expiryDate && lot.expiryDate < until ? lot.expiryDate : until;
		const demand = expectedSales(v, asOf, last);
		const sold = Math.min(lot.quantity, Math.max(0, demand - consumed));
		consumed += sold;
		return { id: lot.id, expectedSales: demand, projectedSold: sold, projectedUnsold: lot.quantity - sold };
	});
}

export type SuggestedAction = "NONE" | "TRANSFER" | "MARKDOWN" | "ORDER_LESS";

/**
 * What to do about a lot's projected unsold units: nothing; move them to the shop whose spare
 * demand before the expiry (expected sales minus its own sellable stock) absorbs them; mark
 * them down when they are at most half of the lot (a discount can move that much); otherwise
 * the shop orders more than it sells: order less.
 */
export function suggestAction(
	unsold: number,
	quantity: number,
	bestTransfer: { shopId: string; spare: number } | null,
): { action: SuggestedAction; transferToShopId: string | null } {
	if (unsold <= 0) return { action: "NONE", transferToShopId: null };
	if (bestTransfer && bestTransfer.spare >= unsold) return { action: "TRANSFER", transferToShopId: bestTransfer.shopId };
	return { action: unsold * 2 <= quantity ? "MARKDOWN" : "ORDER_LESS", transferToShopId: null };
}

/** Units to order so the next `days` days are covered: expected sales minus what sellable lots will sell before they expire. */
export function reorderQuantity(
	lots: LotIn[],
	v: WeekdayVelocity,
	asOf: string,
	days: number,
): { expectedSales: number; usableStock: number; suggestedQuantity: number } {
	const end = addDays(asOf, days - 1);
	const demand = expectedSales(v, asOf, end);
	const usable = projectLots(lots, v, asOf, end).reduce((sum, p) => sum + p.projectedSold, 0);
	// A whole unit short of the demand is ordered; float noise is not a unit.
	return { expectedSales: demand, usableStock: usable, suggestedQuantity: Math.max(0, Math.ceil(demand - usable - 1e-9)) };
}

export const round2 = (n: number) => Math.round(n * 100) / 100;
