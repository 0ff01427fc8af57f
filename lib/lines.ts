/** Line items that name a flavor twice count as one line (POS baskets, purchase orders, invoices). */
export interface Line {
	flavorId: string;
	quantity: number;
}

/** Merges repeated flavors, summing quantities, in first-seen order; `index` is the first item's position (for error fields). */
export function mergeLines(items: readonly Line[]): (Line & { index: number })[] {
	const lines = new Map<string, Line & { index: number }>();
	items.forEach((item, index) => {
		const line = lines.get(item.flavorId);
		if (line) line.quantity += item.quantity;
		else lines.set(item.flavorId, { flavorId: item.flavorId, quantity: item.quantity, index });
	});
	return [...lines.values()];
}
