/**
 * Custom REPL commands for operators (as in icebob's kantab): domain look-ups
 * that would otherwise take a `call` with the right params.
 *   find-user <email>          users whose email contains the text (auth.listUsers)
 *   stock <shopId>             a shop's stock levels (sales.inventory.get)
 *   outbox                     unsent outbox rows per schema and the relay's state
 *   replay <eventId>           re-emit an outbox event on the broker and relay it again
 *   dead-letters [group]       events internal consumer groups dead-lettered (admin.deadLetters.list)
 *   replay-dead-letter <schema> <id>   re-deliver one to its group after a fix (admin.deadLetters.replay)
 */
import type { ServiceBroker } from "moleculer";
import { call } from "../lib/contracts";

interface Helpers {
	table(rows: unknown[][], opts?: object): string;
	kleur: { green(s: string): string; red(s: string): string; yellow(s: string): string; bold(s: string): string };
}

export interface ReplCommand {
	command: string;
	description: string;
	alias?: string[];
	options?: { option: string; description: string }[];
	action(broker: ServiceBroker, args: Record<string, unknown> & { options: Record<string, unknown> }, helpers: Helpers): Promise<void>;
}

function print(helpers: Helpers, header: string[], rows: unknown[][]): void {
	if (!rows.length) return void console.log(helpers.kleur.yellow("  (none)"));
	console.log(
		helpers.table([
			header.map((h) => helpers.kleur.bold(h)),
			...rows.map((r) => r.map((c) => (c === null || c === undefined ? "" : String(c)))),
		]),
	);
}

async function guarded(fn: () => Promise<void>, helpers: Helpers): Promise<void> {
	try {
		await fn();
	} catch (err) {
		const e = err as { message?: string; code?: unknown; type?: unknown };
		console.log(helpers.kleur.red(`  ${e.type ?? e.code ?? "Error"}: ${e.message ?? String(err)}`));
	}
}

export const findUser: ReplCommand = {
	command: "find-user <email>",
	description: "Find users by (part of) their email",
	alias: ["fu"],
	action: (broker, args, helpers) =>
		guarded(async () => {
			const page = await call(broker, "auth.listUsers", {
				email: String(args.email),
				pageSize: 20,
			});
			print(
				helpers,
				["id", "email", "name", "role", "status", "created"],
				page.rows.map((u) => [u.id, u.email, u.name, u.role, u.status, u.createdAt]),
			);
			console.log(`  ${page.total} match(es)`);
		}, helpers),
};

export const shopStock: ReplCommand = {
	command: "stock <shopId>",
	description: "A shop's stock levels and reorder thresholds",
	action: (broker, args, helpers) =>
		guarded(async () => {
			const { items } = await call(broker, "sales.inventory.get", { shopId: String(args.shopId) });
			print(
				helpers,
				["flavorId", "name", "quantity", "reorderThreshold", "low"],
				items.map((i) => [i.flavorId, i.name, i.quantity, i.reorderThreshold, i.low ? "LOW" : ""]),
			);
		}, helpers),
};

export const outboxBacklog: ReplCommand = {
	command: "outbox",
	description: "Unsent outbox rows per schema and the Kafka relay's state",
	alias: ["backlog"],
	action: (broker, _args, helpers) =>
		guarded(async () => {
			const backlog = await call(broker, "kafka-bridge.backlog", {});
			print(
				helpers,
				["schema", "unsent", "failing", "oldest unsent", "last error"],
				backlog.map((b) => [b.schema, b.unsent, b.failing, b.oldest, b.lastError]),
			);
			const status = await call(broker, "kafka-bridge.status", {});
			console.log(`  relay: ${JSON.stringify(status)}`);
		}, helpers),
};

export const replayEvent: ReplCommand = {
	command: "replay <eventId>",
	description:
		"Replay an outbox event: emit it on the broker again and mark it unsent so the relay sends it to Kafka again (consumers de-duplicate by id)",
	options: [
		{ option: "--no-broker", description: "do not emit on the broker" },
		{ option: "--no-kafka", description: "do not relay to Kafka again" },
	],
	action: (broker, args, helpers) =>
		guarded(async () => {
			const res = await call(broker, "kafka-bridge.replay", {
				id: String(args.eventId),
				broker: args.options.broker !== false,
				kafka: args.options.kafka !== false,
			});
			console.log(helpers.kleur.green(`  replayed ${JSON.stringify(res)}`));
		}, helpers),
};

export const deadLetters: ReplCommand = {
	command: "dead-letters [group]",
	description: "Events internal consumer groups gave up on (not replayed yet), newest first",
	alias: ["dlq"],
	action: (broker, args, helpers) =>
		guarded(async () => {
			const page = await call(broker, "admin.deadLetters.list", {
				...(args.group ? { group: String(args.group) } : {}),
				replayed: false,
				pageSize: 50,
			});
			print(
				helpers,
				["schema", "id", "group", "type", "eventId", "attempts", "last error", "at"],
				page.rows.map((r) => [r.schema, r.id, r.group, r.type, r.eventId, r.attempts, r.lastError, r.createdAt]),
			);
			console.log(`  ${page.total} dead letter(s)`);
		}, helpers),
};

export const replayDeadLetter: ReplCommand = {
	command: "replay-dead-letter <schema> <id>",
	description: "Re-deliver a dead letter to its consumer group (after a fix); see dead-letters for schema and id",
	action: (broker, args, helpers) =>
		guarded(async () => {
			const row = await call(broker, "admin.deadLetters.replay", { schema: String(args.schema), id: Number(args.id) });
			console.log(
				helpers.kleur.green(`  replay requested for ${String(row.type)} ${String(row.eventId)} (group ${String(row.group)})`),
			);
		}, helpers),
};

export const REPL_COMMANDS: ReplCommand[] = [findUser, shopStock, outboxBacklog, replayEvent, deadLetters, replayDeadLetter];
