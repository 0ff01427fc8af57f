/** HTTP caching and byte ranges of file downloads (RFC 9110): ETag / If-None-Match → 304, Range → 206 or 416. */
import { Errors } from "moleculer";

/** Whether an If-None-Match list names `etag` (weak comparison, as the RFC asks for this header; `*` matches). */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
	if (!ifNoneMatch) return false;
	const strip = (tag: string) => tag.trim().replace(/^W\//, "");
	return ifNoneMatch.split(",").some((tag) => tag.trim() === "*" || strip(tag) === strip(etag));
}

export const rangeNotSatisfiable = (size: number) =>
	new Errors.MoleculerClientError(`The requested range is not within the ${size} bytes of the file`, 416, "RANGE_NOT_SATISFIABLE", {
		size,
	});

/**
 * The byte range a `Range` header asks of `size` bytes: `{ start, end }` (inclusive), undefined to send
 * everything (no header, another unit, several ranges, or an If-Range that no longer matches), or 416
 * RANGE_NOT_SATISFIABLE for a range that starts past the end.
 */
export function byteRange(
	range: string | undefined,
	ifRange: string | undefined,
	etag: string,
	size: number,
): { start: number; end: number } | undefined {
	if (!range) return undefined;
	// If-Range with a changed ETag (or a date: we send no Last-Modified): the whole, current file.
	if (ifRange !== undefined && ifRange.trim() !== etag) return undefined;
	const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
	if (!m || (m[1] === "" && m[2] === "")) return undefined;
	if (m[1] === "") {
		// Suffix: the last N bytes.
		const n = Number(m[2]);
		if (n === 0) throw rangeNotSatisfiable(size);
		return { start: Math.max(0, size - n), end: size - 1 };
	}
	const start = Number(m[1]);
	const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
	if (start >= size) throw rangeNotSatisfiable(size);
	// A last-byte position before the first is an invalid range: ignored, everything is sent.
	if (end < start) return undefined;
	return { start, end };
}
