import type { Migration } from "../types";
import { commonTables, outboxWakeUp } from "../common";
import { files } from "./001-files";

/** The files schema's migrations, in order. Append; never edit one that has shipped. */
export const filesMigrations: Migration[] = [commonTables, files, outboxWakeUp];
