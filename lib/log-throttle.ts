/**
 * At most one log line per key per interval, with the count of the ones held
 * back: refusals an attacker can trigger at will must not flood the logs.
 */
export class LogThrottle {
	private readonly last = new Map<string, { at: number; suppressed: number }>();

	constructor(private readonly intervalMs = 60_000) {}

	/** Calls `log(suppressed)` when `key` was not logged within the interval. */
	run(key: string, log: (suppressed: number) => void, now = Date.now()): void {
		const entry = this.last.get(key);
		if (entry && now - entry.at < this.intervalMs) {
			entry.suppressed++;
			return;
		}
		// Keys may come from the attacker (a node id): keep the map small.
		if (this.last.size >= 1000) this.last.clear();
		this.last.set(key, { at: now, suppressed: 0 });
		log(entry?.suppressed ?? 0);
	}
}
