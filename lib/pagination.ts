/**
 * Lists: `?page=&pageSize=` (capped) and an allow-listed `sort` (`-createdAt`).
 * An unknown sort field fails validation with 422 naming `sort`.
 */
export const MAX_PAGE_SIZE = 100;

export interface PageParams {
	page: number;
	pageSize: number;
	sort?: string;
}

export interface Page<T> {
	rows: T[];
	total: number;
	page: number;
	pageSize: number;
	totalPages: number;
}

/** Param schema fields for a list action sortable by the given camelCase fields. */
export function pageParams<const F extends readonly string[]>(sortable: F, defaultPageSize = 20) {
	return {
		page: { type: "number", integer: true, min: 1, max: 100_000, default: 1, convert: true },
		pageSize: { type: "number", integer: true, min: 1, max: MAX_PAGE_SIZE, default: defaultPageSize, convert: true },
		sort: { type: "enum", values: [...sortable, ...sortable.map((f) => `-${f}` as `-${F[number]}`)], optional: true },
	} as const;
}

/**
 * LIMIT/OFFSET and ORDER BY for Sequelize, from validated params. Ties keep the order the rows were created in, then
 * the id: ordered by a shared value alone (an expiry date, a status), PostgreSQL may order tied rows differently for
 * each page, and a row shows on two pages while another shows on none.
 */
export function findOptions(params: PageParams, defaultSort: string): { limit: number; offset: number; order: [string, "ASC" | "DESC"][] } {
	const sort = params.sort ?? defaultSort;
	const desc = sort.startsWith("-");
	const field = desc ? sort.slice(1) : sort;
	const ties: [string, "ASC" | "DESC"][] = [
		["createdAt", "ASC"],
		["id", "ASC"],
	];
	return {
		limit: params.pageSize,
		offset: (params.page - 1) * params.pageSize,
		order: [[field, desc ? "DESC" : "ASC"], ...ties.filter(([tie]) => tie !== field)],
	};
}

export function toPage<T>(rows: T[], total: number, params: PageParams): Page<T> {
	return { rows, total, page: params.page, pageSize: params.pageSize, totalPages: Math.ceil(total / params.pageSize) };
}
