/**
 * GeoJSON (RFC 7946) for the location analytics: shops as Point features with their figures,
 * and a grid heatmap of Polygon cells. Positions are [longitude, latitude] (WGS 84).
 * Shops without coordinates are returned apart (`unlocated`), never dropped.
 */
import type { ShopInfo } from "./scope";

export interface ShopFigures {
	shopId: string;
	revenue: number;
	transactionCount: number;
	averageBasket: number;
	averageRating: number | null;
	reviewCount: number;
}

type Located = ShopFigures & { name: string | null; address: string | null; latitude: number; longitude: number };

const EMPTY: Omit<ShopFigures, "shopId"> = { revenue: 0, transactionCount: 0, averageBasket: 0, averageRating: null, reviewCount: 0 };

/** Every shop id in `ids` with its figures (zeros when it sold nothing), split by whether it has a position. */
export function placeShops(ids: string[], figures: ShopFigures[], info: Map<string, ShopInfo>) {
	const byId = new Map(figures.map((f) => [f.shopId, f]));
	const located: Located[] = [];
	const unlocated: (ShopFigures & { name: string | null; address: string | null })[] = [];
	for (const id of [...new Set([...ids, ...figures.map((f) => f.shopId)])]) {
		const shop = info.get(id);
		const row = { ...EMPTY, ...byId.get(id), shopId: id, name: shop?.name ?? null, address: shop?.address ?? null };
		if (shop && shop.latitude !== null && shop.longitude !== null)
			located.push({ ...row, latitude: shop.latitude, longitude: shop.longitude });
		else unlocated.push(row);
	}
	const order = (a: ShopFigures, b: ShopFigures) => b.revenue - a.revenue || (a.shopId < b.shopId ? -1 : 1);
	return { located: located.sort(order), unlocated: unlocated.sort(order) };
}

/** Shops as a FeatureCollection of Points; `shareBasisPoints` is the shop's share of the located and unlocated total. */
export function shopFeatures(located: Located[], totalRevenue: number) {
	return {
		type: "FeatureCollection" as const,
		features: located.map(({ latitude, longitude, ...p }) => ({
			type: "Feature" as const,
			id: p.shopId,
			geometry: { type: "Point" as const, coordinates: [longitude, latitude] },
			properties: { ...p, shareBasisPoints: totalRevenue ? Math.round((p.revenue * 10000) / totalRevenue) : 0 },
		})),
	};
}

const fix = (n: number) => Number(n.toFixed(9));
/** The cell index of a coordinate; the epsilon keeps a point on a cell edge in the cell it starts (13.405 / 0.001 is 13404.999…). */
const cellOf = (v: number, size: number) => Math.floor(v / size + 1e-9);

/**
 * Shops binned into square cells of `cellSize` degrees (cell i covers [i·size, (i+1)·size)), one
 * Polygon per non-empty cell with the summed figures; `intensity` = revenue / the top cell's revenue.
 */
export function gridCells(located: Located[], cellSize: number) {
	const cells = new Map<string, { x: number; y: number; revenue: number; transactionCount: number; shopIds: string[] }>();
	for (const s of located) {
		const x = cellOf(s.longitude, cellSize);
		const y = cellOf(s.latitude, cellSize);
		const cell = cells.get(`${x}:${y}`) ?? { x, y, revenue: 0, transactionCount: 0, shopIds: [] };
		cell.revenue += s.revenue;
		cell.transactionCount += s.transactionCount;
		cell.shopIds.push(s.shopId);
		cells.set(`${x}:${y}`, cell);
	}
	const list = [...cells.values()].sort((a, b) => b.revenue - a.revenue || a.y - b.y || a.x - b.x);
	const top = list[0]?.revenue ?? 0;
	return {
		type: "FeatureCollection" as const,
		features: list.map((c) => {
			const [x0, y0, x1, y1] = [fix(c.x * cellSize), fix(c.y * cellSize), fix((c.x + 1) * cellSize), fix((c.y + 1) * cellSize)];
			return {
				type: "Feature" as const,
				id: `${c.x}:${c.y}`,
				// Exterior ring counterclockwise, closed (RFC 7946 §3.1.6).
				geometry: {
					type: "Polygon" as const,
					coordinates: [
						[
							[x0, y0],
							[x1, y0],
							[x1, y1],
							[x0, y1],
							[x0, y0],
						],
					],
				},
				bbox: [x0, y0, x1, y1],
				properties: {
					revenue: c.revenue,
					transactionCount: c.transactionCount,
					shopCount: c.shopIds.length,
					shopIds: c.shopIds.sort(),
					intensity: top ? Math.round((c.revenue / top) * 10000) / 10000 : 0,
				},
			};
		}),
	};
}
