/**
 * gateway.metrics (lib/business-metrics.ts), this gateway node's view:
 * - `eislager_socket_connections`: socket.io connections open here (summed across gateway nodes);
 * - `eislager_service_nodes{service}`: available nodes per service, for every service this node
 *   has seen since it started, so a service whose last node left reports 0 (not a stale count).
 */
import type { Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { Server } from "socket.io";
import { BUSINESS_METRICS as M, registerBusinessMetrics, replaceSeries } from "../../lib/business-metrics";
import { GATEWAY_SERVICE } from "../../middlewares/authorization.middleware";

type This = Service & { seenServices: Set<string> };

const schema: ServiceSchema<ServiceSettingSchema, This> = {
	name: "gateway.metrics",

	methods: {
		/** Called by lib/health.ts before each /metrics render. */
		async refreshMetrics(this: This) {
			registerBusinessMetrics(this.broker);
			const io = (this.broker.getLocalService(GATEWAY_SERVICE) as (Service & { io?: Server }) | undefined)?.io;
			this.broker.metrics.set(M.socketConnections, io ? io.of("/").sockets.size : 0);
			const nodes = new Map<string, number>();
			for (const s of this.broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true }) as { name: string }[])
				nodes.set(s.name, (nodes.get(s.name) ?? 0) + 1);
			for (const name of nodes.keys()) this.seenServices.add(name);
			replaceSeries(
				this.broker,
				M.serviceNodes,
				[...this.seenServices].sort().map((service) => ({ labels: { service }, value: nodes.get(service) ?? 0 })),
			);
		},
	},

	created(this: This) {
		this.seenServices = new Set();
		registerBusinessMetrics(this.broker);
	},
};

export default schema as ServiceSchema;
