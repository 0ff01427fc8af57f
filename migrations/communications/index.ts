import type { Migration } from "../types";
import { commonTables, eventStreamTables, outboxTxid, processedEventsAge, streamAttempts } from "../common";
import { chatEmailNotifications } from "./001-chat-email-notifications";
import { storageUsage } from "./061-storage-usage";
import { pushDeliveries } from "./130-push-deliveries";
import { participantTookPart } from "./230-participant-took-part";
import { receiptsLean } from "./240-receipts-lean";

/** The communications schema's migrations, in order. Append; never edit one that has shipped. */
export const communicationsMigrations: Migration[] = [
	commonTables,
	chatEmailNotifications,
	outboxTxid,
	storageUsage,
	eventStreamTables,
	pushDeliveries,
	streamAttempts,
	processedEventsAge,
	participantTookPart,
	receiptsLean,
];
