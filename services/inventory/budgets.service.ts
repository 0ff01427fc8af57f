/**
 * inventory.budgets: budget allocations decided outside the cluster. An external
 * finance system produces BUDGET_ALLOCATION_UPDATED on Kafka; the kafka-bridge
 * admits it only when allow-listed (KAFKA_INBOUND_EVENTS) and signed
 * (KAFKA_INBOUND_KEY), and puts it in its outbox, which this group tails
 * (durable, once per envelope, one reader cluster-wide). Each one sets the
 * factory's budget and is kept in the budget history with source
 * `kafka:<envelope source>` (e.g. `kafka:finance`).
 * No loop: envelopes whose source is `inventory` are this service's own (its outbox,
 * or its own event relayed to Kafka and read back) and are never applied; and an
 * applied one is not published again (the inbound event already reached every
 * consumer, analytics included, through the bridge's outbox).
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import type { Transaction } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { EventStreamMixin, stream } from "../../mixins/event-stream.mixin";
import { CacheCleaner, type CacheCleanerThis } from "../../mixins/cache-cleaner.mixin";
import { EVENT_CATALOG } from "../../lib/events";
import { defineInventoryModels, type InventoryModels } from "./inventory.model";
import { defineService, type ServiceDefinition } from "../../lib/service";

type This = Service & DbThis<InventoryModels> & CacheCleanerThis;

/** The envelope source of inventory's own budget events. */
const OWN_SOURCE = EVENT_CATALOG.BUDGET_ALLOCATION_UPDATED.source;

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "inventory.budgets",
	mixins: [DbMixin({ schema: "inventory", models: defineInventoryModels }), EventStreamMixin, CacheCleaner(["inventory"])],

	streams: [
		stream({
			group: "inventory.budgets",
			types: ["BUDGET_ALLOCATION_UPDATED"],
			async handler(this: This, events, t: Transaction) {
				let applied = 0;
				for (const e of events) {
					if (e.source === OWN_SOURCE) continue;
					const { factoryId, budgetAllocated, reason } = e.data;
					const factory = await this.models.Factory.findByPk(factoryId, { transaction: t, lock: t.LOCK.UPDATE });
					// Not retried: the event will not get better. Logged for the operator.
					if (!factory) {
						this.logger.warn(
							`BUDGET_ALLOCATION_UPDATED ${e.id} from "${e.source}" names an unknown factory ${factoryId}; skipped`,
						);
						continue;
					}
					if (budgetAllocated < 0) {
						this.logger.warn(
							`BUDGET_ALLOCATION_UPDATED ${e.id} from "${e.source}" sets a negative budget for ${factoryId}; skipped`,
						);
						continue;
					}
					const previousAmount = factory.budgetAllocated;
					await factory.update({ budgetAllocated }, { transaction: t });
					await this.models.BudgetChange.create(
						{ factoryId, previousAmount, budgetAllocated, reason, changedBy: null, source: `kafka:${e.source}`.slice(0, 100) },
						{ transaction: t },
					);
					applied += 1;
				}
				if (applied) t.afterCommit(() => void this.cleanCache("inventory").catch(() => undefined));
			},
		}),
	],
};

export default defineService(schema);
