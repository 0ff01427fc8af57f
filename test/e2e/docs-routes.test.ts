/**
 * The route tables of docs/<service>.md against the registry (the served OpenAPI
 * document is generated from it), as test/unit/readme.test.ts checks the README:
 * every route a doc names exists, and every published route is in its doc.
 * A doc lists a route as a table row or a list item, with or without the /api/v1/<service> prefix.
 * A route whose action declares ownership (`access`, lib/access.ts; the OpenAPI
 * description says "Ownership: CLERK of the shop (shopId) …") says the same owner
 * in its row ("CLERK of the shop"), so the doc cannot drift from the metadata.
 */
import fs from "node:fs";
import path from "node:path";
import { startTestApp, type TestApp } from "../helpers/app";

const DOCS: Record<string, string> = {
	admin: "/admin",
	analytics: "/analytics",
	auth: "/auth",
	communications: "/communications",
	files: "/files",
	inventory: "/inventory",
	sales: "/sales",
};
/** A route row: "| GET | `/path` |", "| `GET /path` |" or "- `GET /path`" at the start of a line (prose mentions don't count). */
const ROUTE = /^(?:\|\s*|-\s*)`?(GET|POST|PUT|PATCH|DELETE)`?\s*\|?\s*`?(\/[A-Za-z0-9_/:{}-]*)/gm;

/** "METHOD /api/v1/<base>/path/{param}" for a route as a doc writes it; a path may or may not repeat the service's prefix. */
function normalise(method: string, raw: string, base: string, published: Set<string>): string {
	const p = raw
		.replace(/^\/api(\/v1)?(?=\/)/, "")
		.replace(/:(\w+)/g, "{$1}")
		.replace(/\/$/, "");
	const candidates = [base + p, ...(p.startsWith(base + "/") ? [p] : [])].map((c) => `${method} /api/v1${c}`);
	return candidates.find((c) => published.has(c)) ?? candidates[candidates.length - 1];
}

describe("docs route tables = registry", () => {
	let app: TestApp;
	let published: Set<string>;
	/** "METHOD /api/v1/path" → "CLERK of the shop" for operations that declare ownership. */
	const owners = new Map<string, string>();

	beforeAll(async () => {
		app = await startTestApp({ env: { LOG_LEVEL: "fatal" } });
		const doc = await app.request("GET", "/api/v1/openapi.json");
		const paths = doc.body.paths as Record<string, Record<string, { description?: string }>>;
		published = new Set(Object.entries(paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)));
		for (const [p, ops] of Object.entries(paths)) {
			for (const [m, op] of Object.entries(ops)) {
				const owner = /Ownership: (\w+ of the \w+)/.exec(op.description ?? "")?.[1];
				if (owner) owners.set(`${m.toUpperCase()} ${p}`, owner);
			}
		}
	});
	afterAll(async () => app?.stop());

	it.each(Object.entries(DOCS))("docs/%s.md lists exactly its published routes", (name, base) => {
		const text = fs.readFileSync(path.resolve(__dirname, "../../docs", `${name}.md`), "utf8");
		const rows = [...text.matchAll(ROUTE)].map((m) => ({
			route: normalise(m[1], m[2], base, published),
			line: text.slice(m.index, text.indexOf("\n", m.index)),
		}));
		const documented = new Set(rows.map((r) => r.route));
		expect(documented.size).toBeGreaterThan(0);
		const ours = [...published].filter((r) => r.split(" ")[1].startsWith(`/api/v1${base}/`) || r.split(" ")[1] === `/api/v1${base}`);
		expect({ undocumented: ours.filter((r) => !documented.has(r)).sort() }).toEqual({ undocumented: [] });
		expect({ notPublished: [...documented].filter((r) => !published.has(r)).sort() }).toEqual({ notPublished: [] });
		const ownerless = rows
			.filter((r) => owners.has(r.route) && !r.line.toLowerCase().includes(owners.get(r.route)!.toLowerCase()))
			.map((r) => `${r.route}: "${owners.get(r.route)}"`);
		expect({ ownerNotSaid: ownerless.sort() }).toEqual({ ownerNotSaid: [] });
	});
});
