/**
 * The demo chain as data, deterministic for a seed number: 3 factories, 10 shops with
 * coordinates, 30 flavors with allergens, staff for every role, and a sales history
 * with weekday and weather-like seasonal patterns. Pure: no I/O. scripts/seed/seed.ts
 * sends it through the API; tests use it for their own fixtures.
 */
import { randomUUID } from "node:crypto";
import type { Role } from "../../lib/types";

export const DEMO_PASSWORD = "eislager-demo-2024";

export interface DemoUser {
	key: string;
	email: string;
	name: string;
	role: Role;
}

export interface DemoFactory {
	key: string;
	name: string;
	location: string;
	managerKey: string;
	budgetAllocated: number;
}

export interface DemoShop {
	key: string;
	name: string;
	address: string;
	phone: string;
	latitude: number;
	longitude: number;
	clerkKey: string;
	/** How busy the shop is relative to the chain's average. */
	traffic: number;
}

export interface DemoFlavor {
	key: string;
	name: string;
	category: string;
	price: number;
	allergens: string[];
	ingredients: string[];
	factoryKey: string;
}

export interface DemoSale {
	shopKey: string;
	occurredAt: string;
	paymentMethod: "CASH" | "CARD" | "MOBILE";
	items: { flavorKey: string; quantity: number }[];
	clientId: string;
}

export interface DemoChain {
	users: DemoUser[];
	factories: DemoFactory[];
	shops: DemoShop[];
	flavors: DemoFlavor[];
}

/** mulberry32: a small seeded PRNG, so a seed number always gives the same chain. */
export function prng(seed: number): () => number {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

const CITIES: [string, number, number][] = [
	["Berlin", 52.52, 13.405],
	["Hamburg", 53.551, 9.993],
	["München", 48.137, 11.575],
	["Köln", 50.938, 6.96],
	["Frankfurt", 50.11, 8.682],
	["Leipzig", 51.339, 12.373],
	["Dresden", 51.05, 13.738],
	["Stuttgart", 48.776, 9.183],
	["Düsseldorf", 51.227, 6.773],
	["Hannover", 52.376, 9.732],
];

const FLAVORS: [string, string, string[]][] = [
	["Vanilla", "CLASSIC", ["milk", "eggs"]],
	["Chocolate", "CLASSIC", ["milk", "soya"]],
	["Strawberry", "FRUIT", ["milk"]],
	["Stracciatella", "CLASSIC", ["milk", "soya"]],
	["Hazelnut", "NUT", ["milk", "nuts"]],
	["Pistachio", "NUT", ["milk", "nuts"]],
	["Lemon Sorbet", "SORBET", []],
	["Mango Sorbet", "SORBET", []],
	["Raspberry Sorbet", "SORBET", []],
	["Salted Caramel", "CLASSIC", ["milk"]],
	["Cookie Dough", "CLASSIC", ["milk", "gluten", "eggs"]],
	["Tiramisu", "SPECIAL", ["milk", "eggs", "gluten"]],
	["Coffee", "CLASSIC", ["milk"]],
	["Coconut", "VEGAN", ["soya"]],
	["Peanut Butter", "NUT", ["milk", "peanuts"]],
	["Sesame Honey", "SPECIAL", ["milk", "sesame"]],
	["Blueberry Yoghurt", "FRUIT", ["milk"]],
	["Cherry", "FRUIT", ["milk"]],
	["Mint Chip", "CLASSIC", ["milk", "soya"]],
	["Oat Vanilla", "VEGAN", ["gluten"]],
	["Almond", "NUT", ["milk", "nuts"]],
	["Passion Fruit", "SORBET", []],
	["Rum Raisin", "SPECIAL", ["milk", "sulphites"]],
	["Matcha", "SPECIAL", ["milk"]],
	["Banana", "FRUIT", ["milk"]],
	["Cinnamon", "SPECIAL", ["milk", "eggs"]],
	["Dark Chocolate Vegan", "VEGAN", ["soya"]],
	["Apricot", "FRUIT", []],
	["Walnut Maple", "NUT", ["milk", "nuts"]],
	["Ginger Lime", "SORBET", []],
];

/** The chain: every role staffed, one clerk per shop, one manufacturer per factory. */
export function demoChain(seed = 42): DemoChain {
	const rnd = prng(seed);
	const user = (key: string, role: Role, name: string): DemoUser => ({ key, role, name, email: `${key}@demo.eislager.local` });
	const users: DemoUser[] = [
		user("admin", "ADMIN", "Ada Admin"),
		user("executive", "EXECUTIVE", "Erik Executive"),
		...[1, 2, 3].map((i) => user(`manufacturer${i}`, "MANUFACTURER", `Mia Manufacturer ${i}`)),
		...CITIES.map((_, i) => user(`clerk${i + 1}`, "CLERK", `Carl Clerk ${i + 1}`)),
		...[1, 2, 3, 4, 5].map((i) => user(`patron${i}`, "PATRON", `Pia Patron ${i}`)),
	];
	const factories: DemoFactory[] = ["North", "South", "West"].map((area, i) => ({
		key: `factory${i + 1}`,
		name: `EisLager Werk ${area}`,
		location: CITIES[i * 3][0],
		managerKey: `manufacturer${i + 1}`,
		budgetAllocated: 5_000_000_00 + Math.round(rnd() * 1_000_000_00),
	}));
	const shops: DemoShop[] = CITIES.map(([city, lat, lon], i) => ({
		key: `shop${i + 1}`,
		name: `EisLager ${city}`,
		address: `Hauptstraße ${i + 1}, ${city}`,
		phone: `+49 30 ${1000 + i}`,
		// A few hundred metres around the city centre.
		latitude: Number((lat + (rnd() - 0.5) * 0.02).toFixed(6)),
		longitude: Number((lon + (rnd() - 0.5) * 0.02).toFixed(6)),
		clerkKey: `clerk${i + 1}`,
		traffic: 0.6 + rnd() * 0.8,
	}));
	const flavors: DemoFlavor[] = FLAVORS.map(([name, category, allergens], i) => ({
		key: `flavor${i + 1}`,
		name,
		category,
		price: 150 + 10 * Math.round(rnd() * 15),
		allergens,
		ingredients: ["cream", "sugar", name.toLowerCase()],
		factoryKey: factories[i % factories.length].key,
	}));
	return { users, factories, shops, flavors };
}

/** Sales per shop and day: weekends busier, a warm season (peak around late July), a weather wobble per day. */
export function dailySales(shop: DemoShop, day: Date, rnd: () => number, base: number): number {
	const weekday = [1.5, 0.8, 0.8, 0.9, 1.0, 1.2, 1.6][day.getUTCDay()];
	const dayOfYear =
		(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate()) - Date.UTC(day.getUTCFullYear(), 0, 0)) / 86_400_000;
	const season = 0.55 + 0.45 * Math.cos(((dayOfYear - 205) / 365) * 2 * Math.PI); // 0.1 in winter, 1 in high summer
	const weather = 0.7 + rnd() * 0.6;
	return Math.max(0, Math.round(base * shop.traffic * weekday * season * weather));
}

/**
 * The sales history of `days` days before `now` (today excluded), in opening hours 10-21 UTC,
 * each basket 1-3 flavors; favourites sell more (a skewed pick).
 */
export function salesHistory(chain: DemoChain, opts: { days: number; perShopPerDay: number; now?: Date; seed?: number }): DemoSale[] {
	const rnd = prng(opts.seed ?? 7);
	const now = opts.now ?? new Date();
	const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
	const sales: DemoSale[] = [];
	const methods = ["CASH", "CARD", "MOBILE"] as const;
	for (let back = opts.days; back >= 1; back--) {
		const day = new Date(today - back * 86_400_000);
		for (const shop of chain.shops) {
			const count = dailySales(shop, day, rnd, opts.perShopPerDay);
			const times = Array.from({ length: count }, () => day.getTime() + (10 + rnd() * 11) * 3_600_000).sort((a, b) => a - b);
			for (const at of times) {
				const lines = 1 + Math.floor(rnd() * 3);
				const items = new Map<string, number>();
				for (let i = 0; i < lines; i++) {
					const flavor = chain.flavors[Math.floor(rnd() ** 2 * chain.flavors.length)];
					items.set(flavor.key, (items.get(flavor.key) ?? 0) + 1 + Math.floor(rnd() * 2));
				}
				sales.push({
					shopKey: shop.key,
					occurredAt: new Date(Math.floor(at)).toISOString(),
					paymentMethod: methods[Math.floor(rnd() * methods.length)],
					items: [...items].map(([flavorKey, quantity]) => ({ flavorKey, quantity })),
					clientId: randomUUID(),
				});
			}
		}
	}
	return sales;
}
