/**
 * Prometheus text for a node's `/metrics`: Moleculer's own Prometheus reporter
 * renders the registry (request counts and latency histograms per action, event
 * counts, transporter traffic, process figures), but without its separate HTTP
 * server: the node's health server (lib/health.ts) or the gateway serves the text.
 */
import { MetricReporters, type MetricRegistry, type MetricRegistryOptions, type ServiceBroker } from "moleculer";

type Reporter = MetricReporters.Prometheus & { generatePrometheusResponse(): string; defaultLabels: unknown; registry: unknown };

/** The Prometheus reporter without its listening socket. */
export class PrometheusTextReporter extends MetricReporters.Prometheus {
	override init(registry: MetricRegistry): void {
		// Base init only (the parent's would open a server on a port).
		MetricReporters.Base.prototype.init.call(this, registry);
		const self = this as unknown as Reporter & { opts: { defaultLabels?: unknown } };
		const labels = self.opts.defaultLabels;
		self.defaultLabels = typeof labels === "function" ? (labels as (r: unknown) => unknown).call(this, registry) : labels;
	}

	stop(): Promise<void> {
		return Promise.resolve();
	}

	render(): string {
		return (this as unknown as Reporter).generatePrometheusResponse();
	}
}

/** Our extra gauges and counters, registered once per broker. */
export const APP_METRICS = {
	outboxBacklog: "eislager.outbox.backlog",
	outboxOldestSec: "eislager.outbox.oldest.seconds",
	dbPool: "eislager.db.pool.connections",
	relayed: "eislager.kafka.relayed.total",
	relayErrors: "eislager.kafka.relay.errors.total",
	inbound: "eislager.kafka.inbound.total",
	inboundDuplicates: "eislager.kafka.inbound.duplicates.total",
	inboundRejected: "eislager.kafka.inbound.rejected.total",
	ready: "eislager.ready",
	streamLag: "eislager.stream.lag",
	streamDeadLetters: "eislager.stream.dead_letters",
	streamDelivered: "eislager.stream.delivered.total",
	pushQueueDue: "eislager.push.queue.due",
	pushQueueOldestSec: "eislager.push.queue.oldest.seconds",
	pushDeliveries: "eislager.push.deliveries.total",
} as const;

/** What became of one push attempt (services/communications/push.service.ts). */
export type PushOutcome = "sent" | "gone" | "dropped" | "retry" | "given_up";

/** Gauges and counter of the Web Push queue. */
export function registerPushMetrics(broker: ServiceBroker): void {
	const m = broker.metrics;
	if (!m.isEnabled() || m.getMetric(APP_METRICS.pushQueueDue)) return;
	m.register({ name: APP_METRICS.pushQueueDue, type: "gauge", labelNames: [], description: "Web Push queue rows due to be sent now" });
	m.register({
		name: APP_METRICS.pushQueueOldestSec,
		type: "gauge",
		labelNames: [],
		description: "How long the longest-waiting due Web Push row has been due",
	});
	m.register({
		name: APP_METRICS.pushDeliveries,
		type: "counter",
		labelNames: ["outcome"],
		description: "Web Push attempts by outcome (sent, gone: subscription removed, dropped: refused, retry, given_up)",
	});
}

/** Gauges and counters of the durable internal consumer groups (lib/event-stream.ts). */
export function registerStreamMetrics(broker: ServiceBroker): void {
	const m = broker.metrics;
	if (!m.isEnabled() || m.getMetric(APP_METRICS.streamLag)) return;
	m.register({
		name: APP_METRICS.streamLag,
		type: "gauge",
		labelNames: ["group"],
		description: "Outbox events a consumer group has not consumed yet",
	});
	m.register({
		name: APP_METRICS.streamDeadLetters,
		type: "gauge",
		labelNames: ["group"],
		description: "Dead letters of a consumer group not replayed yet",
	});
	m.register({
		name: APP_METRICS.streamDelivered,
		type: "counter",
		labelNames: ["group"],
		description: "Events a consumer group applied",
	});
}

export function registerAppMetrics(broker: ServiceBroker): void {
	const m = broker.metrics;
	if (!m.isEnabled() || m.getMetric(APP_METRICS.outboxBacklog)) return;
	m.register({
		name: APP_METRICS.outboxBacklog,
		type: "gauge",
		labelNames: ["schema"],
		description: "Outbox rows not yet relayed to Kafka",
	});
	m.register({
		name: APP_METRICS.outboxOldestSec,
		type: "gauge",
		labelNames: ["schema"],
		description: "Age of the oldest unsent outbox row",
	});
	m.register({
		name: APP_METRICS.dbPool,
		type: "gauge",
		labelNames: ["schema", "state"],
		description: "Database pool connections (size, available, using, waiting)",
	});
	m.register({ name: APP_METRICS.relayed, type: "counter", labelNames: ["topic"], description: "Outbox events relayed to Kafka" });
	m.register({ name: APP_METRICS.relayErrors, type: "counter", labelNames: [], description: "Failed relay attempts" });
	m.register({
		name: APP_METRICS.inbound,
		type: "counter",
		labelNames: ["topic"],
		description: "External Kafka events emitted on the broker",
	});
	m.register({
		name: APP_METRICS.inboundDuplicates,
		type: "counter",
		labelNames: ["topic"],
		description: "Inbound Kafka events skipped as duplicates or our own",
	});
	m.register({
		name: APP_METRICS.inboundRejected,
		type: "counter",
		labelNames: ["reason"],
		description: "Inbound Kafka messages dropped (not allowed, unsigned, bad signature, invalid envelope or payload)",
	});
	m.register({
		name: APP_METRICS.ready,
		type: "gauge",
		labelNames: [],
		description: "1 when every dependency of this node is reachable",
	});
}

export function prometheusText(broker: ServiceBroker): string {
	const reporters = (broker.metrics as unknown as { reporter?: unknown[] }).reporter ?? [];
	const reporter = reporters.find((r): r is PrometheusTextReporter => r instanceof PrometheusTextReporter);
	return reporter ? reporter.render() : "# metrics disabled\n";
}

/** Broker `metrics` options: on, with the text-only Prometheus reporter. */
export function metricsOptions(): MetricRegistryOptions {
	const reporter = new PrometheusTextReporter({
		port: 0,
		path: "/metrics",
		// snake_case label names (promtool check metrics); `node_id` is the broker node, Prometheus adds the target labels.
		defaultLabels: (registry: { broker: { namespace: string; nodeID: string } }) => ({
			namespace: registry.broker.namespace,
			node_id: registry.broker.nodeID,
		}),
	});
	// The typings only list option objects; Moleculer accepts a reporter instance too.
	return { enabled: true, reporter: [reporter as unknown as string] };
}
