/**
 * The sales service end to end through the gateway with the real auth and
 * inventory services: every route under /api/v1/sales and /api/sales, roles
 * and shop ownership, bad input, the order state machine, reviews, caching.
 */
import { Client } from "pg";
import { startTestApp, type TestApp } from "../helpers/app";
import { assignClerk, buildWorld, createFlavor, createShop, ok, setStock, type SalesWorld } from "../helpers/sales-world";

const ZERO_UUID = "00000000-0000-4000-8000-000000000000";

describe("sales over HTTP", () => {
	let app: TestApp;
	let w: SalesWorld;
	let pg: Client;
	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "inventory", "sales"] });
		w = await buildWorld(app);
		pg = new Client({ connectionString: app.db.url });
		await pg.connect();
	});
	afterAll(async () => {
		await pg?.end();
		await app?.stop();
	});

	const stockOf = async (shopId: string, flavorId: string) => {
		const r = await pg.query("SELECT quantity FROM sales.shop_inventory WHERE shop_id = $1 AND flavor_id = $2", [shopId, flavorId]);
		return r.rows[0]?.quantity as number | undefined;
	};

	describe.each(["/api/v1/sales", "/api/sales"])("every route under %s", (base) => {
		it("runs a shop's whole life", async () => {
			const { exec, clerk, maker, patron } = w;
			const [vanilla, hazelnut, lemon] = w.flavors;
			const shop = await ok<{ id: string; hours: object; status: string }>(
				app.request("POST", `${base}/shops`, {
					token: exec.token,
					body: {
						name: `Shop ${base}`,
						address: "Via Roma 1",
						phone: "+39 06 1234",
						capacity: 40,
						hours: { mon: { open: "10:00", close: "22:00" }, sun: null },
						status: "OPEN",
					},
				}),
				201,
			);
			expect(shop.hours).toEqual({ mon: { open: "10:00", close: "22:00" }, sun: null });
			const s = `${base}/shops/${shop.id}`;
			expect(
				(await ok<{ rows: { id: string }[] }>(app.request("GET", `${base}/shops?pageSize=100`))).rows.map((r) => r.id),
			).toContain(shop.id);
			expect((await ok<{ name: string }>(app.request("GET", s))).name).toBe(`Shop ${base}`);
			expect((await ok<{ capacity: number }>(app.request("PUT", s, { token: exec.token, body: { capacity: 55 } }))).capacity).toBe(
				55,
			);

			await ok(app.request("POST", `${s}/staff`, { token: exec.token, body: { userId: clerk.id } }), 201);
			const staff = await ok<{ userId: string }[]>(app.request("GET", `${s}/staff`, { token: clerk.token }));
			expect(staff.map((m) => m.userId)).toEqual([clerk.id]);

			const inv = await ok<{ items: { flavorId: string; quantity: number; name: string }[] }>(
				app.request("PUT", `${s}/inventory`, {
					token: clerk.token,
					body: {
						items: [
							{ flavorId: vanilla.id, quantity: 20, reorderThreshold: 5 },
							{ flavorId: hazelnut.id, quantity: 10 },
							{ flavorId: lemon.id, quantity: 0 },
						],
						reason: "COUNT",
					},
				}),
			);
			expect(inv.items.find((i) => i.flavorId === vanilla.id)).toMatchObject({ quantity: 20, name: "Vanilla" });
			expect((await ok<{ items: unknown[] }>(app.request("GET", `${s}/inventory`, { token: clerk.token }))).items).toHaveLength(3);
			const menu = await ok<{ items: { name: string }[] }>(app.request("GET", `${s}/menu?excludeAllergens=nuts`));
			expect(menu.items.map((i) => i.name)).toEqual(["Vanilla"]);
			const sorbets = await ok<{ items: { name: string; available: boolean }[] }>(
				app.request("GET", `${s}/menu?category=sorbet&includeUnavailable=true`),
			);
			expect(sorbets.items).toEqual([expect.objectContaining({ name: "Lemon Sorbet", available: false })]);
			expect((await ok<{ items: unknown[] }>(app.request("GET", `${s}/menu?category=SORBET`))).items).toEqual([]);

			const sale = await ok<{ id: string; totalAmount: number }>(
				app.request("POST", `${s}/pos-transactions`, {
					token: clerk.token,
					body: {
						items: [
							{ flavorId: vanilla.id, quantity: 2 },
							{ flavorId: hazelnut.id, quantity: 1 },
						],
						paymentMethod: "CARD",
					},
				}),
				201,
			);
			expect(sale.totalAmount).toBe(2 * 250 + 300);
			const sync = await ok<{ results: { status: string }[] }>(
				app.request("POST", `${s}/pos-transactions/sync`, {
					token: clerk.token,
					body: {
						transactions: [
							{
								clientId: crypto.randomUUID(),
								occurredAt: new Date().toISOString(),
								items: [{ flavorId: vanilla.id, quantity: 1 }],
								paymentMethod: "CASH",
							},
						],
					},
				}),
			);
			expect(sync.results.map((r) => r.status)).toEqual(["accepted"]);
			const history = await ok<{ total: number; rows: { id: string }[] }>(
				app.request("GET", `${s}/transactions?sort=-occurredAt`, { token: clerk.token }),
			);
			expect(history.total).toBe(2);
			const stats = await ok<{ revenue: number; transactionCount: number }>(
				app.request("GET", `${s}/analytics`, { token: exec.token }),
			);
			expect(stats).toMatchObject({ revenue: 800 + 250, transactionCount: 2 });

			const order = await ok<{ id: string; status: string }>(
				app.request("POST", `${s}/purchase-orders`, {
					token: clerk.token,
					body: { factoryId: w.factoryId, items: [{ flavorId: lemon.id, quantity: 7 }] },
				}),
				201,
			);
			expect(order.status).toBe("PENDING");
			expect(
				(await ok<{ rows: { id: string }[] }>(app.request("GET", `${s}/orders`, { token: clerk.token }))).rows.map((o) => o.id),
			).toEqual([order.id]);
			for (const [who, status] of [
				[maker, "CONFIRMED"],
				[maker, "SHIPPED"],
				[clerk, "DELIVERED"],
			] as const) {
				expect(
					(
						await ok<{ status: string }>(
							app.request("PUT", `${base}/orders/${order.id}/status`, { token: who.token, body: { status } }),
						)
					).status,
				).toBe(status);
			}
			expect(await stockOf(shop.id, lemon.id)).toBe(7);

			const review = await ok<{ id: string }>(
				app.request("POST", `${base}/feedback`, { token: patron.token, body: { shopId: shop.id, rating: 4, comment: "Great" } }),
				201,
			);
			expect((await ok<{ total: number }>(app.request("GET", `${s}/reviews`))).total).toBe(1);
			expect(
				(
					await ok<{ rating: number }>(
						app.request("PUT", `${base}/reviews/${review.id}`, { token: patron.token, body: { rating: 5 } }),
					)
				).rating,
			).toBe(5);
			expect(await ok(app.request("PUT", `${base}/reviews/${review.id}`, { token: patron.token, body: { deleted: true } }))).toEqual({
				id: review.id,
				deleted: true,
			});

			await ok(app.request("DELETE", `${s}/staff/${clerk.id}`, { token: exec.token }), 204);
			await ok(app.request("DELETE", s, { token: exec.token }), 204);
			expect((await app.request("GET", s)).status).toBe(404);
			expect(Number((await pg.query("SELECT count(*) FROM sales.transactions WHERE shop_id = $1", [shop.id])).rows[0].count)).toBe(2);
		});
	});

	describe("roles and shop ownership", () => {
		it("keeps shop management to executives", async () => {
			const body = { name: "X", address: "Y" };
			expect((await app.request("POST", "/api/v1/sales/shops", { body })).status).toBe(401);
			for (const u of [w.patron, w.clerk, w.maker])
				expect((await app.request("POST", "/api/v1/sales/shops", { token: u.token, body })).status).toBe(403);
			expect(
				(await app.request("PUT", `/api/v1/sales/shops/${w.shopId}`, { token: w.clerk.token, body: { capacity: 1 } })).status,
			).toBe(403);
			expect((await app.request("DELETE", `/api/v1/sales/shops/${w.shopId}`, { token: w.clerk.token })).status).toBe(403);
			expect(
				(await app.request("POST", `/api/v1/sales/shops/${w.shopId}/staff`, { token: w.clerk.token, body: { userId: w.clerk.id } }))
					.status,
			).toBe(403);
		});

		it("answers 403 to a clerk of shop B on every shop-A staff route", async () => {
			const t = w.otherClerk.token;
			const s = `/api/v1/sales/shops/${w.shopId}`;
			const item = { flavorId: w.flavors[0].id, quantity: 1 };
			const calls: [string, string, unknown?][] = [
				["GET", `${s}/inventory`],
				["PUT", `${s}/inventory`, { items: [item], reason: "COUNT" }],
				["GET", `${s}/analytics`],
				["POST", `${s}/pos-transactions`, { items: [item], paymentMethod: "CASH" }],
				[
					"POST",
					`${s}/pos-transactions/sync`,
					{
						transactions: [
							{ clientId: crypto.randomUUID(), occurredAt: new Date().toISOString(), items: [item], paymentMethod: "CASH" },
						],
					},
				],
				["GET", `${s}/transactions`],
				["POST", `${s}/purchase-orders`, { factoryId: w.factoryId, items: [item] }],
				["GET", `${s}/orders`],
				["GET", `${s}/staff`],
			];
			for (const [method, path, body] of calls) {
				const res = await app.request(method, path, { token: t, body });
				expect({ method, path, status: res.status }).toEqual({ method, path, status: 403 });
			}
			// Patrons and anonymous callers never see a shop's internals.
			expect((await app.request("GET", `${s}/inventory`, { token: w.patron.token })).status).toBe(403);
			expect((await app.request("GET", `${s}/inventory`)).status).toBe(401);
			// Executives see every shop but do not ring up sales.
			expect((await app.request("GET", `${s}/inventory`, { token: w.exec.token })).status).toBe(200);
			expect(
				(
					await app.request("POST", `${s}/pos-transactions`, {
						token: w.exec.token,
						body: { items: [item], paymentMethod: "CASH" },
					})
				).status,
			).toBe(403);
		});

		it("takes access away the moment a clerk is unassigned, and only accepts CLERK users as staff", async () => {
			const shopId = await createShop(app, w.exec, "Temp Shop");
			const temp = await app.createUser("CLERK");
			await assignClerk(app, w.exec, shopId, temp);
			expect((await app.request("GET", `/api/v1/sales/shops/${shopId}/inventory`, { token: temp.token })).status).toBe(200);
			expect(await app.broker.call("sales.shops.staffIds", { shopId })).toEqual([temp.id]);
			const dup = await app.request("POST", `/api/v1/sales/shops/${shopId}/staff`, {
				token: w.exec.token,
				body: { userId: temp.id },
			});
			expect(dup.status).toBe(409);
			await ok(app.request("DELETE", `/api/v1/sales/shops/${shopId}/staff/${temp.id}`, { token: w.exec.token }), 204);
			expect((await app.request("GET", `/api/v1/sales/shops/${shopId}/inventory`, { token: temp.token })).status).toBe(403);
			expect((await app.request("DELETE", `/api/v1/sales/shops/${shopId}/staff/${temp.id}`, { token: w.exec.token })).status).toBe(
				404,
			);
			const notClerk = await app.request("POST", `/api/v1/sales/shops/${shopId}/staff`, {
				token: w.exec.token,
				body: { userId: w.patron.id },
			});
			expect(notClerk.status).toBe(422);
			expect(notClerk.body.error.details[0].field).toBe("userId");
			const badManager = await app.request("PUT", `/api/v1/sales/shops/${shopId}`, {
				token: w.exec.token,
				body: { managerId: w.maker.id },
			});
			expect(badManager.body.error.details[0].field).toBe("managerId");
			// The manager counts as staff.
			const manager = await app.createUser("CLERK");
			await ok(app.request("PUT", `/api/v1/sales/shops/${shopId}`, { token: w.exec.token, body: { managerId: manager.id } }));
			expect((await app.request("GET", `/api/v1/sales/shops/${shopId}/inventory`, { token: manager.token })).status).toBe(200);
			expect(await app.broker.call("sales.shops.staffIds", { shopId })).toEqual([manager.id]);
		});

		it("answers 404 for unknown shops, orders and reviews in the path (422 for an unknown shop in a body)", async () => {
			const s = `/api/v1/sales/shops/${ZERO_UUID}`;
			expect((await app.request("GET", s)).status).toBe(404);
			expect((await app.request("GET", `${s}/menu`)).status).toBe(404);
			expect((await app.request("GET", `${s}/reviews`)).status).toBe(404);
			expect((await app.request("GET", `${s}/inventory`, { token: w.exec.token })).status).toBe(404);
			expect((await app.request("PUT", s, { token: w.exec.token, body: { capacity: 1 } })).status).toBe(404);
			// An unknown shop named in a body is that field's fault: 422 naming it (a path's unknown id is the 404).
			expect(
				(await app.request("POST", "/api/v1/sales/feedback", { token: w.patron.token, body: { shopId: ZERO_UUID, rating: 3 } }))
					.status,
			).toBe(422);
			expect(
				(
					await app.request("PUT", `/api/v1/sales/orders/${ZERO_UUID}/status`, {
						token: w.exec.token,
						body: { status: "CONFIRMED" },
					})
				).status,
			).toBe(404);
			expect(
				(await app.request("PUT", `/api/v1/sales/reviews/${ZERO_UUID}`, { token: w.patron.token, body: { rating: 3 } })).status,
			).toBe(404);
			expect((await app.request("GET", "/api/v1/sales/shops/not-a-uuid")).status).toBe(422);
		});
	});

	describe("bad input", () => {
		const sale = (body: unknown) =>
			app.request("POST", `/api/v1/sales/shops/${w.shopId}/pos-transactions`, { token: w.clerk.token, body });
		const fields = (res: { body: { error: { details?: { field: string }[] } } }) => (res.body.error.details ?? []).map((d) => d.field);

		beforeAll(async () => {
			await setStock(
				app,
				w.clerk,
				w.shopId,
				w.flavors.map((f) => ({ flavorId: f.id, quantity: 5 })),
			);
		});

		it("rejects empty, zero, negative and unknown items with 422 naming the item", async () => {
			const [vanilla] = w.flavors;
			let res = await sale({ items: [], paymentMethod: "CASH" });
			expect([res.status, fields(res)]).toEqual([422, ["items"]]);
			res = await sale({ items: [{ flavorId: vanilla.id, quantity: 0 }], paymentMethod: "CASH" });
			expect([res.status, fields(res)]).toEqual([422, ["items[0].quantity"]]);
			res = await sale({
				items: [
					{ flavorId: vanilla.id, quantity: 1 },
					{ flavorId: vanilla.id, quantity: -2 },
				],
				paymentMethod: "CASH",
			});
			expect([res.status, fields(res)]).toEqual([422, ["items[1].quantity"]]);
			res = await sale({
				items: [
					{ flavorId: vanilla.id, quantity: 1 },
					{ flavorId: ZERO_UUID, quantity: 1 },
				],
				paymentMethod: "CASH",
			});
			expect([res.status, fields(res)]).toEqual([422, ["items[1].flavorId"]]);
			res = await sale({ items: [{ flavorId: vanilla.id, quantity: 1 }], paymentMethod: "BITCOIN" });
			expect([res.status, fields(res)]).toEqual([422, ["paymentMethod"]]);
			res = await sale({ items: [{ flavorId: vanilla.id, quantity: 1 }], paymentMethod: "CASH", patronId: ZERO_UUID });
			expect([res.status, fields(res)]).toEqual([422, ["patronId"]]);
			expect(await stockOf(w.shopId, vanilla.id)).toBe(5);
		});

		it("answers 409 naming the item when stock is short, writing nothing", async () => {
			const [vanilla, hazelnut] = w.flavors;
			const before = Number((await pg.query("SELECT count(*) FROM sales.transactions")).rows[0].count);
			const res = await sale({
				items: [
					{ flavorId: vanilla.id, quantity: 2 },
					{ flavorId: hazelnut.id, quantity: 6 },
				],
				paymentMethod: "CASH",
			});
			expect(res.status).toBe(409);
			expect(res.body.error.code).toBe("INSUFFICIENT_STOCK");
			expect(res.body.error.details).toEqual([
				expect.objectContaining({ field: "items[1].quantity", flavorId: hazelnut.id, requested: 6, available: 5 }),
			]);
			expect(await stockOf(w.shopId, vanilla.id)).toBe(5);
			expect(Number((await pg.query("SELECT count(*) FROM sales.transactions")).rows[0].count)).toBe(before);
		});

		it("takes prices from the catalog, never from the client", async () => {
			const [vanilla] = w.flavors;
			const res = await sale({ items: [{ flavorId: vanilla.id, quantity: 2, unitPrice: 1 }], paymentMethod: "CASH", totalAmount: 1 });
			expect(res.status).toBe(201);
			expect(res.body.totalAmount).toBe(500);
			expect(res.body.items).toEqual([{ flavorId: vanilla.id, name: "Vanilla", quantity: 2, unitPrice: 250, lineTotal: 500 }]);
		});

		it("rejects unknown sort fields, bad ratings, bad hours and stock writes with bad items", async () => {
			let res = await app.request("GET", "/api/v1/sales/shops?sort=password");
			expect([res.status, fields(res)]).toEqual([422, ["sort"]]);
			res = await app.request("GET", `/api/v1/sales/shops/${w.shopId}/transactions?sort=clerkPin`, { token: w.clerk.token });
			expect([res.status, fields(res)]).toEqual([422, ["sort"]]);
			for (const rating of [0, 6, 2.5]) {
				res = await app.request("POST", "/api/v1/sales/feedback", { token: w.patron.token, body: { shopId: w.shopId, rating } });
				expect([res.status, fields(res)]).toEqual([422, ["rating"]]);
			}
			res = await app.request("POST", "/api/v1/sales/shops", {
				token: w.exec.token,
				body: { name: "H", address: "A", hours: { mon: { open: "25:00", close: "22:00" } } },
			});
			expect([res.status, fields(res)]).toEqual([422, ["hours.mon.open"]]);
			res = await app.request("PUT", `/api/v1/sales/shops/${w.shopId}/inventory`, {
				token: w.clerk.token,
				body: { items: [{ flavorId: w.flavors[0].id, quantity: -1 }], reason: "COUNT" },
			});
			expect([res.status, fields(res)]).toEqual([422, ["items[0].quantity"]]);
			res = await app.request("PUT", `/api/v1/sales/shops/${w.shopId}/inventory`, {
				token: w.clerk.token,
				body: { items: [{ flavorId: ZERO_UUID, quantity: 1 }], reason: "COUNT" },
			});
			expect([res.status, fields(res)]).toEqual([422, ["items[0].flavorId"]]);
			res = await app.request("GET", `/api/v1/sales/shops/${w.shopId}/menu?excludeAllergens=nuts,plutonium`);
			expect([res.status, fields(res)]).toEqual([422, ["excludeAllergens"]]);
		});
	});

	describe("purchase orders", () => {
		const po = async () =>
			ok<{ id: string; status: string; invoiceId: string | null }>(
				app.request("POST", `/api/v1/sales/shops/${w.shopId}/purchase-orders`, {
					token: w.clerk.token,
					body: { factoryId: w.factoryId, items: [{ flavorId: w.flavors[2].id, quantity: 4 }] },
				}),
				201,
			);
		const move = (user: { token: string }, id: string, status: string) =>
			app.request("PUT", `/api/v1/sales/orders/${id}/status`, { token: user.token, body: { status } });

		it("follows the state machine with the right party for each move", async () => {
			const order = await po();
			expect(order.invoiceId).toBeNull();
			const stranger = await app.createUser("MANUFACTURER");
			expect((await move(stranger, order.id, "CONFIRMED")).status).toBe(404);
			expect((await move(w.otherClerk, order.id, "CANCELLED")).status).toBe(404);
			expect((await move(w.clerk, order.id, "CONFIRMED")).status).toBe(403);
			expect((await move(w.exec, order.id, "SHIPPED")).status).toBe(409);
			expect((await move(w.exec, order.id, "DELIVERED")).body.error.code).toBe("ILLEGAL_TRANSITION");
			expect((await move(w.maker, order.id, "CONFIRMED")).status).toBe(200);
			expect((await move(w.clerk, order.id, "CANCELLED")).status).toBe(403);
			expect((await move(w.maker, order.id, "SHIPPED")).status).toBe(200);
			expect((await move(w.maker, order.id, "DELIVERED")).status).toBe(403);
			const before = (await stockOf(w.shopId, w.flavors[2].id)) ?? 0;
			expect((await move(w.clerk, order.id, "DELIVERED")).status).toBe(200);
			expect(await stockOf(w.shopId, w.flavors[2].id)).toBe(before + 4);
			const again = await move(w.clerk, order.id, "DELIVERED");
			expect(again.status).toBe(409);
			expect(await stockOf(w.shopId, w.flavors[2].id)).toBe(before + 4);
			expect((await move(w.exec, order.id, "CANCELLED")).status).toBe(409);

			const second = await po();
			expect((await move(w.clerk, second.id, "CANCELLED")).status).toBe(200);
			const third = await po();
			await ok(move(w.maker, third.id, "CONFIRMED"));
			expect((await move(w.exec, third.id, "CANCELLED")).status).toBe(200);
		});

		it("rejects unknown factories and flavors", async () => {
			let res = await app.request("POST", `/api/v1/sales/shops/${w.shopId}/purchase-orders`, {
				token: w.clerk.token,
				body: { factoryId: ZERO_UUID, items: [{ flavorId: w.flavors[0].id, quantity: 1 }] },
			});
			expect([res.status, res.body.error.details[0].field]).toEqual([422, "factoryId"]);
			res = await app.request("POST", `/api/v1/sales/shops/${w.shopId}/purchase-orders`, {
				token: w.clerk.token,
				body: { factoryId: w.factoryId, items: [{ flavorId: ZERO_UUID, quantity: 1 }] },
			});
			expect([res.status, res.body.error.details[0].field]).toEqual([422, "items[0].flavorId"]);
			res = await app.request("POST", `/api/v1/sales/shops/${w.shopId}/purchase-orders`, {
				token: w.clerk.token,
				body: { factoryId: w.factoryId, items: [{ flavorId: w.flavors[0].id, quantity: 0 }] },
			});
			expect([res.status, res.body.error.details[0].field]).toEqual([422, "items[0].quantity"]);
		});
	});

	describe("reviews", () => {
		it("allows one review per patron per shop per day; the author edits; author or executive deletes", async () => {
			const patron = await app.createUser("PATRON");
			const other = await app.createUser("PATRON");
			const comment = `<script>alert("x")</script> "quoted" & more`;
			const review = await ok<{ id: string; comment: string }>(
				app.request("POST", "/api/v1/sales/feedback", { token: patron.token, body: { shopId: w.shopId, rating: 3, comment } }),
				201,
			);
			expect(review.comment).toBe(comment);
			const again = await app.request("POST", "/api/v1/sales/feedback", {
				token: patron.token,
				body: { shopId: w.shopId, rating: 5 },
			});
			expect([again.status, again.body.error.code]).toEqual([409, "REVIEW_EXISTS"]);
			expect(
				(await app.request("POST", "/api/v1/sales/feedback", { token: w.clerk.token, body: { shopId: w.shopId, rating: 5 } }))
					.status,
			).toBe(403);
			expect(
				(await app.request("PUT", `/api/v1/sales/reviews/${review.id}`, { token: other.token, body: { rating: 1 } })).status,
			).toBe(403);
			expect(
				(await app.request("PUT", `/api/v1/sales/reviews/${review.id}`, { token: other.token, body: { deleted: true } })).status,
			).toBe(403);
			expect(
				(await app.request("PUT", `/api/v1/sales/reviews/${review.id}`, { token: w.exec.token, body: { rating: 1 } })).status,
			).toBe(403);
			const res = await app.request("GET", `/api/v1/sales/shops/${w.shopId}`);
			expect(res.body).toMatchObject({ averageRating: 3, reviewCount: 1 });
			expect(
				await ok(app.request("PUT", `/api/v1/sales/reviews/${review.id}`, { token: w.exec.token, body: { deleted: true } })),
			).toEqual({ id: review.id, deleted: true });
			expect(
				(await app.request("PUT", `/api/v1/sales/reviews/${review.id}`, { token: patron.token, body: { rating: 2 } })).status,
			).toBe(404);
			expect((await ok<{ reviewCount: number }>(app.request("GET", `/api/v1/sales/shops/${w.shopId}`))).reviewCount).toBe(0);
		});
	});

	it("documents every sales route in the OpenAPI document", async () => {
		const doc = await ok<{ paths: Record<string, Record<string, unknown>> }>(app.request("GET", "/api/v1/openapi.json"));
		const ops = Object.entries(doc.paths)
			.filter(([p]) => p.startsWith("/api/v1/sales/"))
			.flatMap(([p, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${p.slice("/api/v1/sales".length)}`));
		expect(ops.sort()).toEqual(
			[
				"GET /shops",
				"POST /shops",
				"GET /shops/{shopId}",
				"PUT /shops/{shopId}",
				"DELETE /shops/{shopId}",
				"POST /shops/{shopId}/staff",
				"GET /shops/{shopId}/staff",
				"DELETE /shops/{shopId}/staff/{userId}",
				"GET /shops/{shopId}/menu",
				"GET /shops/{shopId}/inventory",
				"PUT /shops/{shopId}/inventory",
				"GET /shops/{shopId}/analytics",
				"POST /shops/{shopId}/pos-transactions",
				"POST /shops/{shopId}/pos-transactions/sync",
				"GET /shops/{shopId}/transactions",
				"POST /shops/{shopId}/purchase-orders",
				"GET /shops/{shopId}/orders",
				"PUT /orders/{orderId}/status",
				"POST /feedback",
				"GET /shops/{shopId}/reviews",
				"PUT /reviews/{reviewId}",
				// Lots and markdowns (issue #15).
				"GET /shops/{shopId}/transactions/{transactionId}",
				"GET /markdown-policy",
				"PUT /markdown-policy",
				"GET /shops/{shopId}/markdown-policy",
				"PUT /shops/{shopId}/markdown-policy",
				"DELETE /shops/{shopId}/markdown-policy",
				"GET /shops/{shopId}/lots",
				"PUT /shops/{shopId}/lots/{lotId}/freezer",
				"POST /shops/{shopId}/lots/release",
				"POST /shops/{shopId}/lots/write-off",
				"GET /shops/{shopId}/reorder-suggestions",
			].sort(),
		);
	});

	describe("caching", () => {
		it("shows shop, stock and catalog changes at once on cached public reads", async () => {
			const shopId = await createShop(app, w.exec, "Cache Shop");
			await assignClerk(app, w.exec, shopId, w.clerk);
			const mint = await createFlavor(app, w.maker, { name: "Mint", price: 270 });
			await setStock(app, w.clerk, shopId, [{ flavorId: mint.id, quantity: 1 }]);
			const menu = () => ok<{ items: { name: string; price: number }[] }>(app.request("GET", `/api/v1/sales/shops/${shopId}/menu`));
			expect((await menu()).items).toEqual([expect.objectContaining({ name: "Mint", price: 270 })]);
			expect(await menu()).toEqual(await menu()); // served from the cache
			// Catalog change (inventory service) → menu.
			await ok(app.request("PUT", `/api/v1/inventory/flavors/${mint.id}`, { token: w.maker.token, body: { price: 290 } }));
			expect((await menu()).items[0].price).toBe(290);
			// Stock change: the last scoop sold → off the menu.
			await ok(
				app.request("POST", `/api/v1/sales/shops/${shopId}/pos-transactions`, {
					token: w.clerk.token,
					body: { items: [{ flavorId: mint.id, quantity: 1 }], paymentMethod: "CASH" },
				}),
				201,
			);
			expect((await menu()).items).toEqual([]);
			// Shop change → details and list.
			await ok(app.request("GET", `/api/v1/sales/shops/${shopId}`));
			await ok(app.request("GET", "/api/v1/sales/shops?name=Cache"));
			await ok(
				app.request("PUT", `/api/v1/sales/shops/${shopId}`, {
					token: w.exec.token,
					body: { name: "Cache Shop Renamed", status: "TEMPORARILY_CLOSED" },
				}),
			);
			expect((await ok<{ name: string }>(app.request("GET", `/api/v1/sales/shops/${shopId}`))).name).toBe("Cache Shop Renamed");
			expect(
				(await ok<{ rows: { name: string; status: string }[] }>(app.request("GET", "/api/v1/sales/shops?name=Cache"))).rows,
			).toEqual([expect.objectContaining({ name: "Cache Shop Renamed", status: "TEMPORARILY_CLOSED" })]);
			expect((await ok<{ rows: unknown[] }>(app.request("GET", "/api/v1/sales/shops?name=Cache&status=OPEN"))).rows).toEqual([]);
		});
	});
});
