/**
 * The documented success status is the real one. Walks every operation of the
 * served OpenAPI document (every published action with a route), calls it with
 * inputs drawn from its documented schema by the roles it names, and compares
 * the first success it gets with the documented success codes: a single code
 * must be met exactly, a list (e.g. 200|201) must contain it. Operations that no
 * generated input gets past validation or ownership are listed, not failed; the
 * routes once documented wrong must be among those checked. Where the operation
 * documents a response schema, the real body must validate against it (ajv).
 */
import Ajv from "ajv";
import fc from "fast-check";
import { startTestApp, type TestApp, type TestUser } from "../helpers/app";
import { operations, requestInput, type Operation } from "../helpers/openapi-arbitrary";
import { restoreSystemConfig, seedWorld, tokenFor } from "../helpers/fixtures";
import { ROLES, type Role } from "../../lib/types";

const SEED = Number(process.env.PROPERTY_SEED ?? 4242);
const TRIES = 8;
/** Google sign-in is not configured in tests. */
const UNCONFIGURED = new Set(["auth.google"]);
/**
 * Every action that declares its status must be checked here, except these, whose
 * success needs what a generated request cannot hold; their status is asserted
 * by the named test.
 */
const CHECKED_ELSEWHERE: Record<string, string> = {
	"auth.google": "not configured in tests (auth-google.test.ts)",
	"auth.verifyEmail": "the token only travels by mail (auth-verify-email.test.ts)",
	"auth.resetPassword": "the token only travels by mail (auth-reset.test.ts)",
	"communications.chat.markRead": "needs a message (communications.test.ts)",
	"admin.deadLetters.replay": "needs a dead letter (event-delivery.test.ts)",
	"files.upload": "multipart body (files.test.ts)",
	"files.uploadBatch": "multipart body; 200 or 207 (files.test.ts)",
	"files.remove": "needs an uploaded file (files.test.ts)",
	"inventory.stock.expiry": "needs a registered batch (inventory-stock.test.ts)",
	"admin.config.liftMaintenance": "needs a scheduled window (admin-settings.test.ts, admin-settings-cluster.test.ts: 204)",
	"files.compress.compress": "needs an uploaded image or video (files.test.ts: 201; files-media.test.ts: 202)",
	"sales.quarantine.release": "needs a quarantined lot (cold-chain.test.ts)",
	"sales.quarantine.writeOff": "needs a quarantined lot (cold-chain.test.ts)",
	"inventory.batches.recall": "needs a delivered batch (lots.test.ts: 202)",
	"inventory.freezers.rotateKey": "needs a registered freezer (cold-chain.test.ts)",
	"inventory.freezers.ingest": "needs a freezer's device key (cold-chain.test.ts)",
	"inventory.freezers.releaseBatch": "needs a quarantined factory batch (cold-chain.test.ts)",
	"communications.push.subscribe": "needs a real P-256 key pair (communications-push.test.ts: 201, then 200 for the same endpoint)",
};

/** Per-operation values for fields a generator cannot guess (credentials, tokens). */
async function overlay(app: TestApp, users: Record<Role, TestUser>, operationId: string): Promise<Record<string, string[]>> {
	const patron = users.PATRON;
	switch (operationId) {
		case "auth.login":
			return { email: [patron.email], password: [patron.password] };
		case "auth.refresh": {
			const session = await app.broker.call<{ refreshToken: string }, object>("auth.login", {
				email: patron.email,
				password: patron.password,
			});
			return { refreshToken: [session.refreshToken] };
		}
		case "auth.verify":
			return { token: [patron.token] };
		case "communications.chat.createConversation":
			return { participantIds: [users.CLERK.id] };
		default:
			return {};
	}
}

const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addFormat("uuid", /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
ajv.addFormat("email", /^[^@\s]+@[^@\s]+$/);
ajv.addFormat("date-time", (v: string) => !Number.isNaN(Date.parse(v)) && /^\d{4}-\d{2}-\d{2}T/.test(v));
ajv.addFormat("date", /^\d{4}-\d{2}-\d{2}$/);

/** Who may call an operation, as its description says ("Roles: A, B." / "Public." / "Any signed-in user."). */
function callers(op: Operation["op"] & { description?: string }): (Role | "ANONYMOUS")[] {
	const roles = /Roles: ([A-Z, ]+)\./.exec(op.description ?? "")?.[1].split(", ") as Role[] | undefined;
	if (roles) return roles;
	return op.security?.length ? [...ROLES] : ["ANONYMOUS", ...ROLES];
}

describe("documented success status = real status", () => {
	let app: TestApp;
	let users: Record<Role, TestUser>;
	let known: Record<string, string[]>;
	let ops: Operation[];

	beforeAll(async () => {
		app = await startTestApp({ env: { LOG_LEVEL: "fatal" } });
		({ users, known } = await seedWorld(app));
		const doc = await app.request("GET", "/api/v1/openapi.json");
		// Deletions last: they may remove what the others act on.
		ops = operations(doc.body).sort((a, b) => Number(a.method === "DELETE") - Number(b.method === "DELETE"));
	});
	afterAll(async () => app?.stop());

	it("answers every reachable operation with its documented success code", async () => {
		const mismatches: string[] = [];
		const checked = new Map<string, number>();
		const unreached: string[] = [];
		const validated: string[] = [];
		for (const operation of ops) {
			const { method, op } = operation;
			if (UNCONFIGURED.has(op.operationId)) continue;
			const fields = { ...known, ...(await overlay(app, users, op.operationId)) };
			const documented = Object.keys(op.responses)
				.filter((s) => /^2\d\d$/.test(s))
				.map(Number);
			const inputs = fc.sample(requestInput(operation, fields, "valid"), { numRuns: TRIES, seed: SEED });
			let reached = false;
			for (const role of callers(op)) {
				for (const input of inputs) {
					const token = await tokenFor(app, users, role, operation.path);
					const res = await app.request(method, input.path + input.query, { token, body: input.body });
					if (res.status >= 300) continue;
					reached = true;
					checked.set(op.operationId, res.status);
					const ok = documented.length === 1 ? res.status === documented[0] : documented.includes(res.status);
					if (!ok)
						mismatches.push(
							`${op.operationId} (${method} ${operation.path}) documents ${documented.join("|")} but answered ${res.status}`,
						);
					const schema = (op.responses[String(res.status)] as { content?: Record<string, { schema: object }> } | undefined)
						?.content?.["application/json"]?.schema;
					if (schema) {
						validated.push(op.operationId);
						if (!ajv.validate(schema, res.body))
							mismatches.push(
								`${op.operationId} answered a body its schema refuses: ${ajv.errorsText()} in ${JSON.stringify(res.body).slice(0, 300)}`,
							);
					}
					break;
				}
				if (reached) break;
			}
			if (!reached) unreached.push(op.operationId);
			if (op.operationId.startsWith("admin.config.")) await restoreSystemConfig(app, users.ADMIN);
		}
		console.log(
			`status test: ${checked.size} of ${ops.length} operations checked; not reached with generated input: ${unreached.join(", ")}`,
		);
		expect(mismatches).toEqual([]);
		console.log(`status test: bodies validated against their schema: ${[...new Set(validated)].join(", ")}`);
		expect(validated).toEqual(
			expect.arrayContaining([
				"auth.login",
				"auth.refresh",
				"inventory.flavors.list",
				"inventory.flavors.get",
				"inventory.factories.list",
				"inventory.factories.get",
				"communications.notifications.list",
				"files.listByUser",
			]),
		);
		// The routes whose status is declared (the ones the generator's guess got wrong) were all met.
		const services = app.broker.registry.getServiceList({ withActions: true }) as {
			actions?: Record<string, { name: string; rest?: unknown; status?: unknown }>;
		}[];
		const declared = services
			.flatMap((svc) => Object.values(svc.actions ?? {}))
			.filter((a) => a.rest && a.status !== undefined)
			.map((a) => a.name);
		expect(declared).toEqual(expect.arrayContaining(["auth.login", "auth.logout", "auth.forgotPassword"]));
		const missed = [...new Set(declared)].filter((id) => !checked.has(id) && !CHECKED_ELSEWHERE[id]);
		expect(missed).toEqual([]);
	}, 600_000);
});
