import type { Sequelize, Transaction } from "sequelize";

/**
 * A versioned, forward-only migration of one service schema. Never drops data.
 * All pending migrations of a schema run in one transaction: all or nothing.
 */
export interface Migration {
	name: string;
	up(db: Sequelize, schema: string, transaction: Transaction): Promise<void>;
}

/** A migration written as SQL statements; `:schema` is replaced by the schema name. */
export function sql(name: string, statements: string): Migration {
	return {
		name,
		async up(db, schema, transaction) {
			await db.query(statements.replaceAll(":schema", `"${schema}"`), { transaction });
		},
	};
}
