/**
 * `npm run seed [-- <base URL>]`: fills a fresh EisLager through its public API, so every
 * write goes through the services, their outbox and events, and analytics fills as in real use.
 * Needs a running backend (default http://127.0.0.1:3000) and its bootstrap admin
 * (BOOTSTRAP_ADMIN_EMAIL / BOOTSTRAP_ADMIN_PASSWORD, the same values the server was started with).
 * The 90-day sales history goes in as offline-terminal syncs (POST .../pos-transactions/sync),
 * the POS's own way to record sales with the time they happened.
 */
import { DEMO_PASSWORD, demoChain, salesHistory, type DemoChain } from "./generator";

export interface SeedOptions {
	days?: number;
	perShopPerDay?: number;
	seed?: number;
	log?: (line: string) => void;
}

export interface SeedResult {
	users: number;
	factories: number;
	shops: number;
	flavors: number;
	batches: number;
	invoices: number;
	sales: number;
	reviews: number;
	conversations: number;
	messages: number;
	/** Shops created with coordinates (the field exists in this version of the API). */
	shopsWithCoordinates: number;
}

class Api {
	constructor(
		private readonly base: string,
		private readonly log: (line: string) => void,
	) {}

	// eslint-disable-next-line @typescript-eslint/no-explicit-any
	async call<T = any>(method: string, path: string, token: string | undefined, body?: unknown): Promise<{ status: number; body: T }> {
		for (;;) {
			const res = await fetch(`${this.base}/api/v1${path}`, {
				method,
				headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
				body: body === undefined ? undefined : JSON.stringify(body),
			});
			const text = await res.text();
			if (res.status !== 429) return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
			// The server's rate limit (sign-ins: RATE_LIMIT_AUTH_PER_MIN per IP): wait as told, and say once how to avoid it.
			const wait = Number(res.headers.get("retry-after") ?? 5);
			if (!this.warned)
				this.log(`rate-limited on ${path}: waiting ${wait} s (start the backend with RATE_LIMIT_AUTH_PER_MIN=100 to seed faster)`);
			this.warned = true;
			await new Promise((r) => setTimeout(r, wait * 1000));
		}
	}

	private warned = false;

	// eslint-disable-next-line @typescript-eslint/no-explicit-any
	async ok<T = any>(method: string, path: string, token: string | undefined, body?: unknown): Promise<T> {
		const res = await this.call<T>(method, path, token, body);
		if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(res.body)}`);
		return res.body;
	}

	async login(email: string, password: string): Promise<{ token: string; id: string }> {
		const body = await this.ok<{ accessToken: string; user: { id: string } }>("POST", "/auth/login", undefined, { email, password });
		return { token: body.accessToken, id: body.user.id };
	}
}

/** Offline sales per sync request (the POS takes up to 500; smaller requests stay far from REQUEST_TIMEOUT_MS). */
const SYNC_CHUNK = 100;

const isoDay = (d: Date) => d.toISOString().slice(0, 10);

/** Runs `work` over `items`, at most `limit` at a time (the server has a few cores; the seed should use them). */
async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
	let next = 0;
	const worker = async () => {
		while (next < items.length) await work(items[next++]);
	};
	await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export async function seed(baseUrl: string, admin: { email: string; password: string }, opts: SeedOptions = {}): Promise<SeedResult> {
	const log = opts.log ?? (() => undefined);
	const api = new Api(baseUrl.replace(/\/$/, ""), log);
	const chain: DemoChain = demoChain(opts.seed ?? 42);
	const root = await api.login(admin.email, admin.password);

	// Staff for every role: register (PATRON), the admin sets the role, then sign in with it.
	const users = new Map<string, { id: string; token: string }>();
	await inParallel(chain.users, 4, async (u) => {
		const reg = await api.call("POST", "/auth/register", undefined, { email: u.email, password: DEMO_PASSWORD, name: u.name });
		if (reg.status === 409) throw new Error(`${u.email} exists already: npm run seed fills a fresh database`);
		if (reg.status !== 201) throw new Error(`register ${u.email} answered ${reg.status}: ${JSON.stringify(reg.body)}`);
		const id = (reg.body as { user: { id: string } }).user.id;
		if (u.role === "PATRON") users.set(u.key, { id, token: (reg.body as { accessToken: string }).accessToken });
		else {
			await api.ok("PUT", `/admin/users/${id}/role`, root.token, { role: u.role });
			// New tokens carry the new role: a refresh (not rate-limited like sign-ins), else a sign-in.
			const refreshed = await api.call("POST", "/auth/refresh", undefined, {
				refreshToken: (reg.body as { refreshToken: string }).refreshToken,
			});
			users.set(
				u.key,
				refreshed.status === 200
					? { id, token: (refreshed.body as { accessToken: string }).accessToken }
					: await api.login(u.email, DEMO_PASSWORD),
			);
		}
	});
	const token = (key: string) => users.get(key)!.token;
	log(`users: ${users.size}`);

	const factoryIds = new Map<string, string>();
	for (const f of chain.factories) {
		const created = await api.ok("POST", "/inventory/factories", token("executive"), {
			name: f.name,
			location: f.location,
			managerId: users.get(f.managerKey)!.id,
			budgetAllocated: f.budgetAllocated,
		});
		factoryIds.set(f.key, created.id);
	}

	const flavorIds = new Map<string, string>();
	for (const f of chain.flavors) {
		const created = await api.ok("POST", "/inventory/flavors", token("executive"), {
			name: f.name,
			category: f.category,
			price: f.price,
			allergens: f.allergens,
			ingredients: f.ingredients,
			description: `${f.name} ice cream`,
		});
		flavorIds.set(f.key, created.id);
	}

	// Shops carry coordinates where the API has them (shop latitude/longitude): unknown fields are dropped by the
	// strict params, so the answer tells whether this version stored them.
	const shopIds = new Map<string, string>();
	let shopsWithCoordinates = 0;
	for (const s of chain.shops) {
		const res = await api.call("POST", "/sales/shops", token("executive"), {
			name: s.name,
			address: s.address,
			phone: s.phone,
			latitude: s.latitude,
			longitude: s.longitude,
		});
		if (res.status !== 201) throw new Error(`POST /sales/shops answered ${res.status}: ${JSON.stringify(res.body)}`);
		if (res.body.latitude !== undefined && res.body.latitude !== null) shopsWithCoordinates++;
		shopIds.set(s.key, res.body.id);
		await api.ok("POST", `/sales/shops/${res.body.id}/staff`, token("executive"), { userId: users.get(s.clerkKey)!.id });
	}
	log(`factories ${factoryIds.size}, flavors ${flavorIds.size}, shops ${shopIds.size}`);

	// Factory batches: most keep for two months, one in five expires within two days (expiry warnings, waste).
	const today = new Date();
	let batches = 0;
	for (const [i, f] of chain.flavors.entries()) {
		const factory = chain.factories.find((x) => x.key === f.factoryKey)!;
		const expiresSoon = i % 5 === 0;
		await api.ok("POST", `/inventory/factories/${factoryIds.get(factory.key)}/stock-items`, token(factory.managerKey), {
			flavorId: flavorIds.get(f.key),
			batchId: `B-${isoDay(today).replace(/-/g, "")}-${String(i + 1).padStart(3, "0")}`,
			quantity: 500 + i * 20,
			cost: Math.round(f.price * 0.35),
			productionDate: isoDay(new Date(today.getTime() - 20 * 86_400_000)),
			expiryDate: isoDay(new Date(today.getTime() + (expiresSoon ? 2 : 60) * 86_400_000)),
		});
		batches++;
	}

	// The history, then stock for it: each shop holds what it will have sold plus a day's margin.
	const sales = salesHistory(chain, { days: opts.days ?? 90, perShopPerDay: opts.perShopPerDay ?? 12, now: today, seed: opts.seed });
	let synced = 0;
	await inParallel(chain.shops, 3, async (s) => {
		const mine = sales.filter((x) => x.shopKey === s.key);
		const need = new Map<string, number>(chain.flavors.map((f) => [f.key, 40]));
		for (const sale of mine) for (const item of sale.items) need.set(item.flavorKey, (need.get(item.flavorKey) ?? 0) + item.quantity);
		const shopId = shopIds.get(s.key)!;
		await api.ok("PUT", `/sales/shops/${shopId}/inventory`, token(s.clerkKey), {
			items: [...need].map(([key, quantity]) => ({ flavorId: flavorIds.get(key), quantity, reorderThreshold: 20 })),
			reason: "RESTOCK",
		});
		// Chunks small enough to finish well inside the request timeout; a chunk that timed out anyway is sent
		// again: the clientIds make the POS answer "duplicate" for what it had already applied.
		for (let i = 0; i < mine.length; i += SYNC_CHUNK) {
			const chunk = mine.slice(i, i + SYNC_CHUNK).map((x) => ({
				clientId: x.clientId,
				occurredAt: x.occurredAt,
				paymentMethod: x.paymentMethod,
				items: x.items.map((it) => ({ flavorId: flavorIds.get(it.flavorKey), quantity: it.quantity })),
			}));
			let res = await api.call<{ results: { status: string; reason?: string }[] }>(
				"POST",
				`/sales/shops/${shopId}/pos-transactions/sync`,
				token(s.clerkKey),
				{ transactions: chunk },
			);
			for (let attempt = 1; res.status >= 500 && attempt < 3; attempt++) {
				log(`sync of ${s.name} answered ${res.status}: sending the chunk again`);
				res = await api.call("POST", `/sales/shops/${shopId}/pos-transactions/sync`, token(s.clerkKey), { transactions: chunk });
			}
			if (res.status !== 200) throw new Error(`sync of ${s.name} answered ${res.status}: ${JSON.stringify(res.body)}`);
			const { results } = res.body;
			const rejected = results.filter((r) => r.status === "rejected");
			if (rejected.length)
				throw new Error(`${rejected.length} synced sales of ${s.name} were rejected: ${JSON.stringify(rejected[0])}`);
			synced += results.length;
		}
	});
	log(`sales: ${synced}`);

	// Deliveries: each shop is invoiced by one factory for three of its flavors (allocated FEFO from the
	// batches above, so turnover and budgets have facts); every other invoice is already paid.
	let invoices = 0;
	for (const [i, s] of chain.shops.entries()) {
		const factory = chain.factories[i % chain.factories.length];
		const items = chain.flavors
			.filter((f) => f.factoryKey === factory.key)
			.slice(0, 3)
			.map((f) => ({ flavorId: flavorIds.get(f.key), quantity: 15 }));
		const invoice = await api.ok("POST", "/inventory/invoices", token(factory.managerKey), {
			factoryId: factoryIds.get(factory.key),
			shopId: shopIds.get(s.key),
			items,
			notes: "Weekly delivery",
		});
		if (i % 2 === 0) await api.ok("PUT", `/inventory/invoices/${invoice.id}/status`, token(factory.managerKey), { status: "PAID" });
		invoices++;
	}

	// Reviews: each patron rates three shops.
	let reviews = 0;
	const patrons = chain.users.filter((u) => u.role === "PATRON");
	for (const [p, patron] of patrons.entries()) {
		for (let k = 0; k < 3; k++) {
			const shop = chain.shops[(p * 3 + k) % chain.shops.length];
			const rating = 3 + ((p + k) % 3);
			await api.ok("POST", "/sales/feedback", token(patron.key), {
				shopId: shopIds.get(shop.key),
				rating,
				comment: ["Lovely pistachio!", "Friendly staff, long queue.", "Best sorbet in town."][(p + k) % 3],
			});
			reviews++;
		}
	}

	// Chats: the executive with each factory manager, and one group of all clerks.
	let conversations = 0;
	let messages = 0;
	const say = async (from: string, conversationId: string, content: string) => {
		await api.ok("POST", `/communications/chat/conversations/${conversationId}/messages`, token(from), { content });
		messages++;
	};
	for (const f of chain.factories) {
		const conv = await api.ok("POST", "/communications/chat/conversations", token("executive"), {
			type: "DIRECT",
			participantIds: [users.get(f.managerKey)!.id],
		});
		conversations++;
		await say("executive", conv.id, `How is ${f.name} doing this week?`);
		await say(f.managerKey, conv.id, "Production on plan; two batches expire soon, we are moving them to the shops.");
	}
	const clerks = chain.users.filter((u) => u.role === "CLERK");
	const group = await api.ok("POST", "/communications/chat/conversations", token("executive"), {
		type: "GROUP",
		name: "All shops",
		participantIds: clerks.map((c) => users.get(c.key)!.id),
	});
	conversations++;
	await say("executive", group.id, "Summer menu starts Monday: please check your freezers.");
	await say(clerks[0].key, group.id, "Berlin is ready!");

	return {
		users: users.size,
		factories: factoryIds.size,
		shops: shopIds.size,
		flavors: flavorIds.size,
		batches,
		invoices,
		sales: synced,
		reviews,
		conversations,
		messages,
		shopsWithCoordinates,
	};
}

if (require.main === module) {
	const base = process.argv[2] ?? "http://127.0.0.1:3000";
	const email = process.env.BOOTSTRAP_ADMIN_EMAIL;
	const password = process.env.BOOTSTRAP_ADMIN_PASSWORD;
	if (!email || !password) {
		console.error("npm run seed needs BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD (the admin the backend was started with)");
		process.exit(1);
	}
	const started = Date.now();
	seed(base, { email, password }, { log: (line) => console.info(line) }).then(
		(result) => {
			console.info(`Seeded ${base} in ${Math.round((Date.now() - started) / 1000)} s: ${JSON.stringify(result)}`);
			console.info(
				`Demo logins (password ${DEMO_PASSWORD}): admin@, executive@, manufacturer1@, clerk1@, patron1@demo.eislager.local`,
			);
		},
		(err: unknown) => {
			const message = err instanceof Error ? err.message : String(err);
			console.error(
				message === "fetch failed"
					? `Seed failed: nothing answers at ${base} (start the backend first: npm start)`
					: `Seed failed: ${message}`,
			);
			process.exit(1);
		},
	);
}
