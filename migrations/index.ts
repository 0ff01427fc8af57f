/** Every service schema and its ordered migrations. */
import type { Migration } from "./types";
import { authMigrations } from "./auth";
import { salesMigrations } from "./sales";
import { inventoryMigrations } from "./inventory";
import { communicationsMigrations } from "./communications";
import { kafkaBridgeMigrations } from "./kafka_bridge";
import { analyticsMigrations } from "./analytics";
import { adminMigrations } from "./admin";
import { filesMigrations } from "./files";

export const MIGRATIONS: Record<string, Migration[]> = {
	auth: authMigrations,
	sales: salesMigrations,
	inventory: inventoryMigrations,
	communications: communicationsMigrations,
	kafka_bridge: kafkaBridgeMigrations,
	analytics: analyticsMigrations,
	admin: adminMigrations,
	files: filesMigrations,
};
