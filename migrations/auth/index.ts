import type { Migration } from "../types";
import { commonTables, outboxTxid } from "../common";
import { usersAndSessions } from "./001-users-and-sessions";
import { emailVerification } from "./080-email-verification";

/** The auth schema's migrations, in order. Append; never edit one that has shipped. */
export const authMigrations: Migration[] = [commonTables, usersAndSessions, outboxTxid, emailVerification];
