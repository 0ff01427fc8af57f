import type { Migration } from "../types";
import { commonTables } from "../common";

/** The communications schema's migrations, in order. Append; never edit one that has shipped. */
export const communicationsMigrations: Migration[] = [commonTables];
