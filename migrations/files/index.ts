import type { Migration } from "../types";
import { commonTables, outboxTxid } from "../common";
import { files } from "./001-files";
import { storageUsage } from "./060-storage-usage";
import { media } from "./140-media";

/** The files schema's migrations, in order. Append; never edit one that has shipped. */
export const filesMigrations: Migration[] = [commonTables, files, outboxTxid, storageUsage, media];
