/**
 * A consumer process for test/e2e/event-delivery-crash.test.ts: one service in the
 * analytics schema with one consumer group ("test.poison", SALE_COMPLETED) that records
 * each event in `public.test_deliveries` (in the group's transaction), and kills its own
 * process (`process.exit(1)`, as an abort, an OOM or a liveness-probe kill would) when a
 * batch holds the event POISON_EVENT_ID.
 * Env: DATABASE_URL, POISON_EVENT_ID, STREAM_MAX_ATTEMPTS. Runs from dist/ (built by tsc).
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { createBroker } from "../../bin/broker";
import { loadConfig, setConfig } from "../../lib/config";
import { defineService, type ServiceDefinition } from "../../lib/service";
import { DbMixin, type DbThis, type Models } from "../../mixins/db.mixin";
import { EventStreamMixin, stream } from "../../mixins/event-stream.mixin";

type This = Service & DbThis<Models>;

const poison = process.env.POISON_EVENT_ID;
if (!poison) throw new Error("POISON_EVENT_ID is required");

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "test.poison",
	mixins: [DbMixin({ schema: "analytics", models: () => ({}) }), EventStreamMixin],
	streams: [
		stream({
			group: "test.poison",
			types: ["SALE_COMPLETED"],
			async handler(this: This, events, t) {
				if (events.some((e) => e.id === poison)) {
					console.log(`poison-consumer ${process.pid}: the poison event is in a batch of ${events.length}: exiting`);
					process.exit(1);
				}
				await this.db.query("INSERT INTO public.test_deliveries (event_id) SELECT unnest(ARRAY[:ids]::uuid[])", {
					transaction: t,
					replacements: { ids: events.map((e) => e.id) },
				});
			},
		}),
	],
};

const broker = createBroker(setConfig(loadConfig(process.env)), { nodeID: `poison-consumer-${process.pid}` });
broker.createService(defineService(schema));
void broker.start().then(() => console.log(`poison-consumer ${process.pid}: started`));
for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => void broker.stop().then(() => process.exit(0)));
