/**
 * Every custom REPL command (repl-commands/index.ts), run against a real backend
 * the way moleculer-repl runs it: (broker, args, helpers), output on the console.
 */
import { Client } from "pg";
import { startTestApp, type TestApp } from "../helpers/app";
import { seedWorld, type World } from "../helpers/fixtures";
import { REPL_COMMANDS, type ReplCommand } from "../../repl-commands";

const helpers = {
	table: (rows: unknown[][]) => rows.map((r) => r.join(" | ")).join("\n"),
	kleur: { green: (s: string) => s, red: (s: string) => `ERROR ${s}`, yellow: (s: string) => s, bold: (s: string) => s },
};

describe("REPL commands", () => {
	let app: TestApp;
	let world: World;

	beforeAll(async () => {
		app = await startTestApp({ env: { LOG_LEVEL: "fatal" } });
		world = await seedWorld(app);
		const stock = await app.request("PUT", `/api/v1/sales/shops/${world.known.shopId[0]}/inventory`, {
			token: world.users.EXECUTIVE.token,
			body: { items: [{ flavorId: world.known.flavorId[0], quantity: 7, reorderThreshold: 10 }], reason: "COUNT" },
		});
		expect(stock.status).toBe(200);
	});
	afterAll(async () => app?.stop());

	/** Runs a command by name and returns what it printed. */
	async function run(name: string, args: Record<string, unknown> = {}, options: Record<string, unknown> = {}): Promise<string> {
		const command = REPL_COMMANDS.find((c) => c.command.split(" ")[0] === name) as ReplCommand;
		expect(command).toBeDefined();
		const printed: string[] = [];
		const log = jest.spyOn(console, "log").mockImplementation((...parts: unknown[]) => void printed.push(parts.join(" ")));
		try {
			await command.action(app.broker, { ...args, options }, helpers);
		} finally {
			log.mockRestore();
		}
		return printed.join("\n");
	}

	it("find-user lists the users whose email contains the text", async () => {
		const out = await run("find-user", { email: world.users.CLERK.email });
		expect(out).toContain(world.users.CLERK.email);
		expect(out).toContain("1 match(es)");
	});

	it("stock prints the shop's stock with the flavor's name and the low mark", async () => {
		const out = await run("stock", { shopId: world.known.shopId[0] });
		expect(out).not.toContain("ERROR");
		expect(out).toContain("Property Vanilla | 7 | 10 | LOW");
	});

	it("outbox prints the backlog per schema and the relay's state", async () => {
		const out = await run("outbox");
		expect(out).not.toContain("ERROR");
		expect(out).toContain("relay:");
	});

	it("replay re-emits an outbox event", async () => {
		const pg = new Client({ connectionString: app.db.url });
		await pg.connect();
		try {
			const { rows } = await pg.query<{ id: string }>("SELECT id FROM sales.outbox ORDER BY created_at LIMIT 1");
			expect(rows).toHaveLength(1);
			const out = await run("replay", { eventId: rows[0].id }, { broker: true, kafka: false });
			expect(out).toContain("replayed");
			expect(out).not.toContain("ERROR");
		} finally {
			await pg.end();
		}
	});

	it("dead-letters lists none on a healthy system; replay-dead-letter of an unknown one says so", async () => {
		expect(await run("dead-letters")).toContain("0 dead letter(s)");
		expect(await run("replay-dead-letter", { schema: "sales", id: 999999 })).toMatch(/ERROR .*(NOT_FOUND|404)/);
	});
});
