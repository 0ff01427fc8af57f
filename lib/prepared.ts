/**
 * Named prepared statements on a Sequelize pool's own `pg` connections: PostgreSQL
 * parses and plans the statement once per connection, not on every call, and the
 * connection count stays the pool's (no second pool beside it).
 */
import type { ClientBase, QueryResultRow } from "pg";
import type { Sequelize } from "sequelize";

export interface PreparedStatement {
	/** Unique per statement text in the process (PostgreSQL keys the plan by it per connection). */
	name: string;
	text: string;
}

/**
 * A statement whose text names a schema (a service's tables): one prepared statement per schema, named
 * `<schema>.<name>`, built on first use.
 */
export function perSchema(name: string, text: (schema: string) => string): (schema: string) => PreparedStatement {
	const statements = new Map<string, PreparedStatement>();
	return (schema) => {
		let statement = statements.get(schema);
		if (!statement) statements.set(schema, (statement = { name: `${schema}.${name}`, text: text(schema) }));
		return statement;
	};
}

/** Runs `statement` with `values` on one pooled connection, in autocommit (its own transaction). */
export async function queryPrepared<R extends QueryResultRow>(
	db: Sequelize,
	statement: PreparedStatement,
	values: unknown[],
): Promise<R[]> {
	const pool = db.connectionManager;
	const client = (await pool.getConnection({ type: "write" })) as ClientBase;
	try {
		const result = await client.query<R>({ name: statement.name, text: statement.text, values });
		return result.rows;
	} finally {
		pool.releaseConnection(client);
	}
}
