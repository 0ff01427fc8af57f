/**
 * What the bridge accepts from Kafka producers outside the cluster. A message
 * becomes a broker event only when
 *   1. its event type is listed in KAFKA_INBOUND_EVENTS (the consumer subscribes
 *      to those topics only; inbound is off when the list is empty),
 *   2. it carries `eislager-signature: sha256=<hex HMAC-SHA256 of the value>` made
 *      with KAFKA_INBOUND_KEY (or KAFKA_INBOUND_KEY_PREVIOUS during a rotation),
 *   3. it is an envelope for its topic, and its `data` passes the catalog's
 *      payload schema (lib/events.ts, EVENT_PAYLOAD_SCHEMAS).
 * Anything else is counted in eislager_kafka_inbound_rejected_total{reason},
 * logged at most once a minute per reason, and dropped.
 * The relay signs the bridge's own messages the same way (`signMessage`).
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import Validator, { type SyncCheckFunction } from "fastest-validator";
import type { KafkaMessage } from "kafkajs";
import type { LoggerInstance, ServiceBroker } from "moleculer";
import { EVENT_NAMES, EVENT_PAYLOAD_SCHEMAS, eventByTopic, type EventEnvelope, type EventName } from "../../lib/events";
import { APP_METRICS } from "../../lib/metrics";
import { LogThrottle } from "../../lib/log-throttle";
import { HEADERS } from "./kafka";

export type RejectReason = "not_allowed" | "unsigned" | "bad_signature" | "invalid_envelope" | "invalid_payload";

export interface InboundPolicy {
	events: readonly EventName[];
	/** Current key first, then the previous one while a rotation lasts. */
	keys: readonly string[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Parses and checks an envelope against its topic; undefined when it is not one. */
export function parseEnvelope(topic: string, value: Buffer | null): EventEnvelope | undefined {
	if (!value) return undefined;
	let env: Partial<EventEnvelope>;
	try {
		env = JSON.parse(value.toString("utf8")) as Partial<EventEnvelope>;
	} catch {
		return undefined;
	}
	const expected = eventByTopic(topic);
	if (!env || typeof env !== "object" || !expected || env.type !== expected) return undefined;
	if (typeof env.id !== "string" || !UUID.test(env.id) || typeof env.data !== "object" || env.data === null) return undefined;
	return {
		id: env.id.toLowerCase(),
		type: expected,
		occurredAt: typeof env.occurredAt === "string" ? env.occurredAt : new Date().toISOString(),
		source: typeof env.source === "string" ? env.source : "external",
		requestId: typeof env.requestId === "string" ? env.requestId : null,
		data: env.data,
	} as EventEnvelope;
}

const PREFIX = "sha256=";

/** The signature header value for a message value. */
export function signMessage(key: string, value: string | Buffer): string {
	return PREFIX + createHmac("sha256", key).update(value).digest("hex");
}

export function checkSignature(
	keys: readonly string[],
	value: Buffer,
	header: string | undefined,
): "unsigned" | "bad_signature" | undefined {
	if (!header) return "unsigned";
	if (!header.startsWith(PREFIX) || !/^[0-9a-f]{64}$/i.test(header.slice(PREFIX.length))) return "bad_signature";
	const given = Buffer.from(header.slice(PREFIX.length), "hex");
	const ok = keys.some((key) => timingSafeEqual(createHmac("sha256", key).update(value).digest(), given));
	return ok ? undefined : "bad_signature";
}

const validator = new Validator({ haltOnFirstError: true });
const payloadChecks = Object.fromEntries(
	EVENT_NAMES.map((name) => [name, validator.compile(EVENT_PAYLOAD_SCHEMAS[name]) as SyncCheckFunction]),
) as Record<EventName, SyncCheckFunction>;

/** True when `data` is a valid payload of `type` (catalog schema). */
export function validPayload(type: EventName, data: unknown): boolean {
	return typeof data === "object" && data !== null && !Array.isArray(data) && payloadChecks[type]({ ...data }) === true;
}

function header(message: KafkaMessage, name: string): string | undefined {
	const v = message.headers?.[name];
	return v === undefined ? undefined : Array.isArray(v) ? String(v[0]) : String(v);
}

export class InboundGate {
	private readonly allowed: Set<EventName>;
	private readonly throttle = new LogThrottle();

	constructor(
		private readonly policy: InboundPolicy,
		private readonly broker: ServiceBroker,
		private readonly logger: LoggerInstance,
	) {
		this.allowed = new Set(policy.events);
	}

	/** The topics worth subscribing to. */
	topics(topicOf: (name: EventName) => string): string[] {
		return [...new Set(this.policy.events.map(topicOf))];
	}

	/** The envelope to emit, or undefined when the message was rejected (counted and logged). */
	admit(topic: string, partition: number, message: KafkaMessage): EventEnvelope | undefined {
		const type = eventByTopic(topic);
		if (!type || !this.allowed.has(type)) return this.reject("not_allowed", topic, partition, message);
		const value = message.value ?? Buffer.alloc(0);
		const signature = checkSignature(this.policy.keys, value, header(message, HEADERS.signature));
		if (signature) return this.reject(signature, topic, partition, message);
		const env = parseEnvelope(topic, message.value);
		if (!env) return this.reject("invalid_envelope", topic, partition, message);
		if (!validPayload(env.type, env.data)) return this.reject("invalid_payload", topic, partition, message);
		return env;
	}

	private reject(reason: RejectReason, topic: string, partition: number, message: KafkaMessage): undefined {
		this.broker.metrics.increment(APP_METRICS.inboundRejected, { reason });
		this.throttle.run(reason, (suppressed) =>
			this.logger.warn(
				`Kafka inbound: dropped a message on "${topic}" (partition ${partition}, offset ${message.offset}): ${reason.replace("_", " ")}` +
					(suppressed ? ` (${suppressed} more dropped for this reason in the last minute)` : ""),
			),
		);
		return undefined;
	}
}
