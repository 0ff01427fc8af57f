/**
 * The one poller of the test suite: calls `fn` until it answers a truthy value
 * (returned) or the time is up (thrown, naming `what` and the last error).
 * Errors thrown by `fn` count as "not yet" (a service still starting, a row not
 * there). For "nothing else arrives", wait for a later barrier event instead.
 */
export async function eventually<T>(
	fn: () => Promise<T | null | undefined | false> | T | null | undefined | false,
	what: string,
	timeoutMs = 15_000,
	everyMs = 100,
): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	let last: unknown;
	for (;;) {
		try {
			const value = await fn();
			if (value) return value;
		} catch (err) {
			last = err;
		}
		if (Date.now() > deadline)
			throw new Error(
				`Timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String((last as Error).message ?? last)})` : ""}`,
			);
		await new Promise((r) => setTimeout(r, everyMs));
	}
}
