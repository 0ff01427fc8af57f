/**
 * moleculer-web resolves a request by trying every alias's regular expression in order
 * (~280 here: each route on /api/v1 and on the spec's short paths), ~7 µs per request before
 * it reaches /auth/me. This index keeps moleculer-web's answer (the first alias in its order
 * that matches) but only tries the aliases whose leading literal segments fit the URL's.
 */

/** What the index needs of a moleculer-web Alias. */
export interface RoutableAlias {
	fullPath: string;
	isMethod(method: string): boolean;
	match(url: string): Record<string, unknown> | false;
}

/** Leading segments that key the buckets: `/api/v1/auth/me` → `api`, `v1`, `auth`. */
const DEPTH = 3;
/** Distinct (method, leading segments) buckets kept; unknown paths from scanners must not grow memory. */
const MAX_BUCKETS = 2000;

/** A segment a regular expression could match only literally (no parameter, wildcard or group). */
const isLiteral = (segment: string) => !/[:*?+()[\]{}\\]/.test(segment);

/** The alias's literal segments before its first parameter, lower-cased like path-to-regexp's default matching. */
function literalPrefix(fullPath: string): string[] {
	const out: string[] = [];
	for (const segment of fullPath.split("/").slice(1, DEPTH + 1)) {
		if (!isLiteral(segment)) break;
		out.push(segment.toLowerCase());
	}
	return out;
}

/** The URL's first DEPTH segments (a shorter URL gives fewer). */
function leadingSegments(url: string): string[] {
	return url
		.split("/", DEPTH + 1)
		.slice(1)
		.map((s) => s.toLowerCase());
}

export class AliasIndex<A extends RoutableAlias> {
	private source: A[] | null = null;
	private sourceLength = -1;
	private prefixes: string[][] = [];
	private buckets = new Map<string, A[]>();

	/** The first alias of `aliases` (moleculer-web's order) that serves `method url`, with its params. */
	resolve(aliases: A[], url: string, method: string): { alias: A; params: Record<string, unknown> } | false {
		for (const alias of this.candidates(aliases, url, method)) {
			const params = alias.match(url);
			if (params) return { alias, params };
		}
		return false;
	}

	private candidates(aliases: A[], url: string, method: string): A[] {
		// moleculer-web replaces or regrows its list when services come and go: rebuild then.
		if (aliases !== this.source || aliases.length !== this.sourceLength) {
			this.source = aliases;
			this.sourceLength = aliases.length;
			this.prefixes = aliases.map((a) => literalPrefix(a.fullPath));
			this.buckets.clear();
		}
		const segments = leadingSegments(url);
		const key = `${method} /${segments.join("/")}`;
		let bucket = this.buckets.get(key);
		if (!bucket) {
			bucket = aliases.filter(
				(alias, i) =>
					alias.isMethod(method) &&
					this.prefixes[i].every((literal, depth) => depth >= segments.length || literal === segments[depth]),
			);
			if (this.buckets.size >= MAX_BUCKETS) this.buckets.clear();
			this.buckets.set(key, bucket);
		}
		return bucket;
	}
}
