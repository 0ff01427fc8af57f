import type { Migration } from "../types";
import { commonTables, outboxTxid } from "../common";
import { adminTables } from "./001-admin";
import { maintenanceNotices } from "./150-maintenance-notices";

/** The admin schema's migrations, in order. Append; never edit one that has shipped. */
export const adminMigrations: Migration[] = [commonTables, adminTables, outboxTxid, maintenanceNotices];
