/**
 * The OpenAPI generator on hand-made registry entries: the declared success status,
 * the error statuses an action can answer, multipart upload bodies and the
 * ownership rule in words.
 */
import { buildOpenApi } from "../../services/gateway/openapi";
import { multipartRoute } from "../../lib/uploads";

type Op = {
	responses: Record<string, unknown>;
	description: string;
	requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
};

const doc = buildOpenApi(
	[
		{
			name: "sales.inventory",
			settings: { rest: "/sales" },
			actions: {
				get: {
					name: "sales.inventory.get",
					rest: "GET /shops/:shopId/inventory",
					roles: ["CLERK", "EXECUTIVE", "ADMIN"],
					access: { shop: "shopId" },
					params: { shopId: { type: "uuid" } },
				},
				login: { name: "auth.login", rest: "POST /login", auth: "public", status: 200, params: { email: { type: "email" } } },
			},
		},
		{
			name: "files",
			settings: { rest: "/files" },
			actions: {
				upload: { name: "files.upload", rest: multipartRoute("/upload", { maxBytes: 1000 }), status: 201 },
				batch: {
					name: "files.uploadBatch",
					rest: multipartRoute("/upload/batch", { maxBytes: 1000, files: 3 }),
					status: [200, 207],
				},
			},
		},
	],
	{ version: "test" },
) as { paths: Record<string, Record<string, Op>> };

describe("OpenAPI generator", () => {
	it("lists the declared success status and every error status the action's declarations imply", () => {
		const get = doc.paths["/api/v1/sales/shops/{shopId}/inventory"].get;
		expect(Object.keys(get.responses).sort()).toEqual(["200", "401", "403", "404", "422", "429", "4XX", "5XX"]);
		const login = doc.paths["/api/v1/sales/login"].post;
		expect(Object.keys(login.responses).sort()).toEqual(["200", "422", "429", "4XX", "5XX"]);
	});

	it("prints who may call and whose entity it must be", () => {
		expect(doc.paths["/api/v1/sales/shops/{shopId}/inventory"].get.description).toBe(
			"Roles: CLERK, EXECUTIVE, ADMIN. Ownership: CLERK of the shop (shopId); EXECUTIVE, ADMIN: any shop.",
		);
	});

	it("describes multipart upload bodies, one file or several, with their limits", () => {
		const one = doc.paths["/api/v1/files/upload"].post;
		expect(one.requestBody?.content["multipart/form-data"].schema).toEqual({
			type: "object",
			required: ["file"],
			properties: { file: { type: "string", format: "binary", description: "At most 1000 bytes" } },
		});
		expect(Object.keys(one.responses)).toEqual(expect.arrayContaining(["201", "413", "415", "422"]));
		const batch = doc.paths["/api/v1/files/upload/batch"].post;
		expect(batch.requestBody?.content["multipart/form-data"].schema).toMatchObject({
			properties: { files: { type: "array", maxItems: 3 } },
		});
		expect(Object.keys(batch.responses)).toEqual(expect.arrayContaining(["200", "207"]));
	});
});
