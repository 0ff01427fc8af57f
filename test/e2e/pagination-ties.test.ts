/**
 * Paged lists (lib/pagination.ts) sorted on a field many rows share: walking the
 * pages returns every row exactly once. Ordered by the sort field alone, PostgreSQL
 * may order tied rows differently for each LIMIT/OFFSET, so a row could show on two
 * pages and another on none; the id breaks ties.
 */
import { startTestApp, type TestApp, type TestUser } from "../helpers/app";
import { createFactory, createFlavor, day, registerBatch } from "../integration/inventory/helpers";

const BATCHES = 45;

describe("paging through tied rows", () => {
	let app: TestApp;
	let maker: TestUser;
	let factoryId: string;
	const ids: string[] = [];

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "inventory"] });
		const exec = await app.createUser("EXECUTIVE");
		maker = await app.createUser("MANUFACTURER");
		factoryId = await createFactory(app, exec.token, maker.id, { budgetAllocated: 1_000_000 });
		const flavorId = await createFlavor(app, maker.token, { name: "Tied Vanilla", price: 300 });
		// Same expiry, same quantity: every batch ties on both sort fields.
		for (let i = 0; i < BATCHES; i++)
			ids.push(
				await registerBatch(app, maker.token, factoryId, {
					flavorId,
					batchId: `TIE-${i}`,
					quantity: 10,
					cost: 100,
					productionDate: day(-1),
					expiryDate: day(10),
				}),
			);
	});
	afterAll(async () => app?.stop());

	it.each(["expiryDate", "-expiryDate", "quantity", "-quantity"])("sort=%s, pages of 7: every batch once", async (sort) => {
		const seen: string[] = [];
		for (let page = 1; page <= Math.ceil(BATCHES / 7); page++) {
			const res = await app.request(
				"GET",
				`/api/v1/inventory/factories/${factoryId}/stock-items?sort=${sort}&pageSize=7&page=${page}`,
				{
					token: maker.token,
				},
			);
			expect(res.status).toBe(200);
			expect(res.body.total).toBe(BATCHES);
			seen.push(...(res.body.rows as { id: string }[]).map((r) => r.id));
		}
		expect(seen).toHaveLength(BATCHES);
		expect([...seen].sort()).toEqual([...ids].sort());
	});
});
