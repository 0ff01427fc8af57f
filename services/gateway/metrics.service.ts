/**
 * gateway.metrics: socket.io connections open on this gateway node (`eislager_socket_connections`,
 * lib/business-metrics.ts); each node counts its own, summed across nodes in PromQL.
 */
import type { Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { Server } from "socket.io";
import { BUSINESS_METRICS as M, registerBusinessMetrics } from "../../lib/business-metrics";
import { GATEWAY_SERVICE } from "../../middlewares/authorization.middleware";

const schema: ServiceSchema<ServiceSettingSchema, Service> = {
	name: "gateway.metrics",

	methods: {
		/** Called by lib/health.ts before each /metrics render. */
		async refreshMetrics(this: Service) {
			registerBusinessMetrics(this.broker);
			const io = (this.broker.getLocalService(GATEWAY_SERVICE) as (Service & { io?: Server }) | undefined)?.io;
			this.broker.metrics.set(M.socketConnections, io ? io.of("/").sockets.size : 0);
		},
	},

	created(this: Service) {
		registerBusinessMetrics(this.broker);
	},
};

export default schema as ServiceSchema;
