/** Shared bench helpers: run length, percentiles and the part of autocannon's result the benches read. */

/**
 * Seconds a bench measures for: BENCH_SECONDS, else the bench's default. CI runs
 * every bench once with BENCH_SECONDS=2 so none rots (a smoke run, not a measurement).
 */
export function benchSeconds(fallback: number, max = Infinity): number {
	const raw = Number(process.env.BENCH_SECONDS);
	return Math.min(max, Number.isFinite(raw) && raw > 0 ? raw : fallback);
}

/** The p-th percentile (nearest rank) of an ascending array; NaN when empty. */
export function percentile(sorted: number[], p: number): number {
	if (sorted.length === 0) return NaN;
	return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

// autocannon ships no types; the part the benches use.
export interface AutocannonResult {
	requests: { average: number; total: number };
	latency: { p50: number; p99: number; average: number };
	"2xx": number;
	non2xx: number;
	errors: number;
	timeouts: number;
	duration: number;
}
