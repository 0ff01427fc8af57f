/**
 * communications.push: Web Push (VAPID) for users who are not connected by socket.
 *
 * - Keys: VAPID_PUBLIC_KEY/VAPID_PRIVATE_KEY; unset outside production, a pair is
 *   generated once and kept in `push_vapid_keys` (restarts keep subscriptions valid).
 *   Unset in production: push is off (503 PUSH_DISABLED).
 * - Routes: the public key, the caller's subscriptions (one per endpoint), preferences.
 * - What is pushed: every notification row (NOTIFICATION_SENT) and every chat message
 *   (MESSAGE_RECEIVED) to each recipient with no live socket. A durable consumer group
 *   ("communications.push", tailing the outbox) turns those events into rows of
 *   `push_queue`, one per subscription, in its own transaction: the request that
 *   caused them never waits for a push service.
 * - The worker (every node; rows claimed with SKIP LOCKED) sends due rows. The push
 *   service's answer decides: 2xx done, 404/410 the subscription is removed, 429/5xx
 *   and network errors retried with exponential backoff (Retry-After honoured),
 *   other 4xx dropped.
 */
import { createPublicKey } from "node:crypto";
import type { ServiceSchema, ServiceSettingSchema } from "moleculer";
import { QueryTypes, type Transaction } from "sequelize";
import { DbMixin } from "../../mixins/db.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { EventStreamMixin, stream, type EnvelopeOf } from "../../mixins/event-stream.mixin";
import { respondCreated, respondNoContent } from "../../lib/actions";
import { config } from "../../lib/config";
import { notFound, serviceUnavailable, validationError } from "../../lib/errors";
import { toPage } from "../../lib/pagination";
import { presence } from "../../lib/presence";
import { APP_METRICS, registerPushMetrics, type PushOutcome } from "../../lib/metrics";
import { defineCommunicationsModels } from "./communications.model";
import * as P from "./push.params";
import { backoffSeconds, generateVapidKeys, sendPush, type VapidDetails } from "./push-sender";
import { isInternalHostLiteral } from "../../lib/internal-address";
import { COMMS_SCHEMA, type CommsThis } from "./shared";
import type { Ctx } from "../../lib/types";

/** Subscriptions one user may keep; the oldest beyond it are dropped (a browser per device). */
export const MAX_SUBSCRIPTIONS_PER_USER = 20;
/** Tries of one queued push before it is given up. */
export const PUSH_MAX_ATTEMPTS = 8;
const WORKER_INTERVAL_MS = 1000;
const CLAIM_BATCH = 20;
/** A claimed row not finished within this (a node died mid-send) is claimed again. */
const CLAIM_LEASE_SEC = 60;
/** Longest chat text put into a push (push payloads are small; the app fetches the rest). */
const PREVIEW_CHARS = 200;

/** What the service worker receives (JSON, encrypted end to end). */
export interface PushPayload {
	/** NEW_MESSAGE for chat, otherwise the notification's type (INVENTORY_LOW, ...). */
	type: string;
	title: string;
	body: string;
	/** Where the app should open. */
	url: string;
	data: Record<string, unknown>;
}

interface SubscriptionRow {
	id: string;
	endpoint: string;
	user_agent: string | null;
	created_at: Date;
	last_success_at: Date | null;
}

interface ClaimedRow {
	id: string;
	payload: PushPayload;
	attempts: number;
	subscription_id: string;
	endpoint: string;
	p256dh: string;
	auth: string;
}

interface Methods {
	vapid(): Promise<VapidDetails | null>;
	requireVapid(): Promise<VapidDetails>;
	enqueue(t: Transaction, userIds: string[], payload: PushPayload): Promise<void>;
	pushFor(t: Transaction, event: EnvelopeOf<"MESSAGE_RECEIVED" | "NOTIFICATION_SENT">, online: Set<string>): Promise<void>;
	runWorker(): Promise<number>;
	deliver(row: ClaimedRow, vapid: VapidDetails): Promise<void>;
	wake(): void;
	refreshMetrics(): Promise<void>;
}
interface State {
	vapidPromise?: Promise<VapidDetails | null>;
	workerTimer?: NodeJS.Timeout;
	working?: Promise<unknown>;
	stopping?: boolean;
}
type This = CommsThis & Methods & State;

const subscriptionView = (r: SubscriptionRow) => ({
	id: r.id,
	endpoint: r.endpoint,
	userAgent: r.user_agent,
	createdAt: new Date(r.created_at).toISOString(),
	lastSuccessAt: r.last_success_at ? new Date(r.last_success_at).toISOString() : null,
});

const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;

/** Whether push can run: configured keys, or (outside production) the generated pair. */
const pushConfigured = () => Boolean(config().vapid.publicKey) || config().env !== "production";

/** The browser's key must be an uncompressed P-256 point (what PushManager gives). */
function validP256(p256dh: string): boolean {
	if (!BASE64URL.test(p256dh)) return false;
	const raw = Buffer.from(p256dh, "base64url");
	if (raw.length !== 65 || raw[0] !== 4) return false;
	try {
		// Refuses a point that is not on the curve.
		createPublicKey({
			key: { kty: "EC", crv: "P-256", x: raw.subarray(1, 33).toString("base64url"), y: raw.subarray(33).toString("base64url") },
			format: "jwk",
		});
		return true;
	} catch {
		return false;
	}
}

const schema: ServiceSchema<ServiceSettingSchema, This> = {
	name: "communications.push",
	mixins: [DbMixin({ schema: COMMS_SCHEMA, models: defineCommunicationsModels }), AuditMixin, EventStreamMixin],
	settings: { rest: "/communications" },

	actions: {
		publicKey: {
			rest: "GET /push/public-key",
			summary: "The VAPID public key for PushManager.subscribe({ applicationServerKey })",
			async handler(this: This) {
				const vapid = await this.requireVapid();
				return { publicKey: vapid.publicKey };
			},
		},

		subscribe: {
			rest: "POST /push/subscriptions",
			status: [200, 201],
			audit: true,
			summary:
				"Register this device's push subscription (PushSubscription.toJSON()); one per endpoint: an existing endpoint is updated (200)",
			params: P.subscribeParams,
			async handler(this: This, ctx: Ctx<P.SubscribeParams>) {
				await this.requireVapid();
				const me = ctx.meta.user!.id;
				const { endpoint, keys } = ctx.params;
				const url = new URL(endpoint);
				const development = config().vapid.allowDevelopmentEndpoints;
				if (url.protocol !== "https:" && !(url.protocol === "http:" && development))
					throw validationError("endpoint", "A push endpoint must be an https: URL.", "url");
				// The server POSTs to it: never to this network's own addresses (names are checked again at each send).
				if (!development && isInternalHostLiteral(url.hostname))
					throw validationError("endpoint", "A push endpoint must be a public address.", "url");
				if (url.username || url.password) throw validationError("endpoint", "A push endpoint carries no credentials.", "url");
				if (!validP256(keys.p256dh))
					throw validationError("keys.p256dh", "Not a P-256 public key (65 bytes, uncompressed, URL-safe base64).", "p256dh");
				if (!BASE64URL.test(keys.auth) || Buffer.from(keys.auth, "base64url").length !== 16)
					throw validationError("keys.auth", "The auth secret is 16 bytes (URL-safe base64).", "auth");
				const [row] = await this.db.query<SubscriptionRow & { inserted: boolean }>(
					`INSERT INTO "${this.dbSchema}".push_subscriptions (user_id, endpoint, p256dh, auth, user_agent)
					 VALUES (:me, :endpoint, :p256dh, :auth, :userAgent)
					 ON CONFLICT (endpoint) DO UPDATE SET user_id = EXCLUDED.user_id, p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth,
					   user_agent = COALESCE(EXCLUDED.user_agent, push_subscriptions.user_agent), updated_at = now()
					 RETURNING id, endpoint, user_agent, created_at, last_success_at, (xmax = 0) AS inserted`,
					{
						type: QueryTypes.SELECT,
						replacements: { me, endpoint, p256dh: keys.p256dh, auth: keys.auth, userAgent: ctx.params.userAgent ?? null },
					},
				);
				// Bounded per user: the oldest devices go first.
				await this.db.query(
					`DELETE FROM "${this.dbSchema}".push_subscriptions WHERE user_id = :me AND id NOT IN (
					   SELECT id FROM "${this.dbSchema}".push_subscriptions WHERE user_id = :me ORDER BY updated_at DESC, id LIMIT :max)`,
					{ replacements: { me, max: MAX_SUBSCRIPTIONS_PER_USER } },
				);
				if (row.inserted) respondCreated(ctx, `/api/v1/communications/push/subscriptions/${row.id}`);
				return subscriptionView(row);
			},
		},

		listSubscriptions: {
			rest: "GET /push/subscriptions",
			summary: "The caller's push subscriptions (devices), newest first",
			params: P.listSubscriptionsParams,
			async handler(this: This, ctx: Ctx<P.ListSubscriptionsParams>) {
				const me = ctx.meta.user!.id;
				const { page, pageSize } = ctx.params;
				const order = ctx.params.sort === "createdAt" ? "ASC" : "DESC";
				const rows = await this.db.query<SubscriptionRow>(
					`SELECT id, endpoint, user_agent, created_at, last_success_at FROM "${this.dbSchema}".push_subscriptions WHERE user_id = :me ORDER BY created_at ${order}, id LIMIT :limit OFFSET :offset`,
					{ type: QueryTypes.SELECT, replacements: { me, limit: pageSize, offset: (page - 1) * pageSize } },
				);
				const [{ n }] = await this.db.query<{ n: number }>(
					`SELECT count(*)::int AS n FROM "${this.dbSchema}".push_subscriptions WHERE user_id = :me`,
					{
						type: QueryTypes.SELECT,
						replacements: { me },
					},
				);
				return toPage(rows.map(subscriptionView), n, ctx.params);
			},
		},

		unsubscribe: {
			rest: "DELETE /push/subscriptions/:id",
			audit: true,
			summary: "Remove one of the caller's push subscriptions (its queued pushes go too)",
			params: P.subscriptionIdParams,
			async handler(this: This, ctx: Ctx<P.SubscriptionIdParams>) {
				const [, count] = (await this.db.query(
					`DELETE FROM "${this.dbSchema}".push_subscriptions WHERE id = :id AND user_id = :me`,
					{
						replacements: { id: ctx.params.id, me: ctx.meta.user!.id },
					},
				)) as [unknown, { rowCount?: number } | number];
				const deleted = typeof count === "number" ? count : (count?.rowCount ?? 0);
				if (!deleted) throw notFound("Push subscription", ctx.params.id);
				return respondNoContent(ctx);
			},
		},

		getPreferences: {
			rest: "GET /push/preferences",
			summary:
				"The caller's push preferences: `enabled`, and `mutedTypes` (notification types, NEW_MESSAGE for chat, that are not pushed)",
			async handler(this: This, ctx: Ctx<Record<string, never>>) {
				const [row] = await this.db.query<{ enabled: boolean; muted_types: string[] }>(
					`SELECT enabled, muted_types FROM "${this.dbSchema}".push_preferences WHERE user_id = :me`,
					{
						type: QueryTypes.SELECT,
						replacements: { me: ctx.meta.user!.id },
					},
				);
				return { enabled: row?.enabled ?? true, mutedTypes: row?.muted_types ?? [] };
			},
		},

		setPreferences: {
			rest: "PUT /push/preferences",
			audit: true,
			summary:
				"Choose what is pushed: `enabled: false` stops every push; `mutedTypes` lists types not pushed (e.g. REVIEW_SUBMITTED, NEW_MESSAGE). Omitted fields keep their value",
			params: P.preferencesParams,
			async handler(this: This, ctx: Ctx<P.PreferencesParams>) {
				const [row] = await this.db.query<{ enabled: boolean; muted_types: string[] }>(
					`INSERT INTO "${this.dbSchema}".push_preferences (user_id, enabled, muted_types) VALUES (:me, COALESCE(:enabled, true), COALESCE(CAST(:muted AS text[]), '{}'))
					 ON CONFLICT (user_id) DO UPDATE SET enabled = COALESCE(:enabled, push_preferences.enabled), muted_types = COALESCE(CAST(:muted AS text[]), push_preferences.muted_types), updated_at = now()
					 RETURNING enabled, muted_types`,
					{
						type: QueryTypes.SELECT,
						replacements: {
							me: ctx.meta.user!.id,
							enabled: ctx.params.enabled ?? null,
							muted: ctx.params.mutedTypes ? `{${ctx.params.mutedTypes.join(",")}}` : null,
						},
					},
				);
				return { enabled: row.enabled, mutedTypes: row.muted_types };
			},
		},
	},

	streams: [
		stream({
			group: "communications.push",
			types: ["MESSAGE_RECEIVED", "NOTIFICATION_SENT"],
			async handler(this: This, events, t: Transaction) {
				// Push off (production without keys): nothing to queue. (No vapid() here: its first call queries on
				// another pooled connection while `t` holds one, which can starve a small pool.)
				if (!pushConfigured()) return;
				// Who has a live socket, asked once for the whole batch: they got NEW_MESSAGE and need no push.
				const recipients = new Set(events.flatMap((e) => (e.type === "MESSAGE_RECEIVED" ? e.data.recipientIds : [])));
				const online = new Set(recipients.size ? await presence().online([...recipients]) : []);
				for (const event of events) await this.pushFor(t, event, online);
				t.afterCommit(() => this.wake());
			},
		}),
	],

	methods: {
		/** The key pair in force: configured, or (not in production) generated once and kept in the database. */
		vapid(this: This): Promise<VapidDetails | null> {
			this.vapidPromise ??= (async () => {
				const cfg = config().vapid;
				if (cfg.publicKey && cfg.privateKey) return { subject: cfg.subject, publicKey: cfg.publicKey, privateKey: cfg.privateKey };
				if (!pushConfigured()) {
					this.logger.warn("Web Push is off: VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY are not set.");
					return null;
				}
				const generated = generateVapidKeys();
				// Several nodes may start at once: the first insert wins, everyone reads it back.
				await this.db.query(
					`INSERT INTO "${this.dbSchema}".push_vapid_keys (id, public_key, private_key) VALUES (1, :publicKey, :privateKey) ON CONFLICT (id) DO NOTHING`,
					{
						replacements: generated,
					},
				);
				const [row] = await this.db.query<{ public_key: string; private_key: string }>(
					`SELECT public_key, private_key FROM "${this.dbSchema}".push_vapid_keys WHERE id = 1`,
					{
						type: QueryTypes.SELECT,
					},
				);
				return { subject: cfg.subject, publicKey: row.public_key, privateKey: row.private_key };
			})();
			this.vapidPromise.catch(() => (this.vapidPromise = undefined));
			return this.vapidPromise;
		},

		async requireVapid(this: This): Promise<VapidDetails> {
			const vapid = await this.vapid();
			if (!vapid) throw serviceUnavailable("Push notifications are not configured on this server.", "PUSH_DISABLED");
			return vapid;
		},

		/** One queue row per subscription of these users whose preferences let this type through. */
		async enqueue(this: This, t: Transaction, userIds: string[], payload: PushPayload) {
			if (userIds.length === 0) return;
			await this.db.query(
				`INSERT INTO "${this.dbSchema}".push_queue (subscription_id, payload)
				 SELECT s.id, CAST(:payload AS jsonb) FROM "${this.dbSchema}".push_subscriptions s
				 LEFT JOIN "${this.dbSchema}".push_preferences p ON p.user_id = s.user_id
				 WHERE s.user_id = ANY(CAST(:userIds AS uuid[])) AND COALESCE(p.enabled, true) AND NOT (CAST(:type AS text) = ANY(COALESCE(p.muted_types, '{}')))`,
				{
					replacements: { payload: JSON.stringify(payload), userIds: `{${userIds.join(",")}}`, type: payload.type },
					transaction: t,
				},
			);
		},

		/** Queues the pushes of one event; `online`: recipients with a live socket (they get no chat push). */
		async pushFor(this: This, t: Transaction, event: EnvelopeOf<"MESSAGE_RECEIVED" | "NOTIFICATION_SENT">, online: Set<string>) {
			if (event.type === "NOTIFICATION_SENT") {
				const { notificationId, userId, type, message } = event.data;
				await this.enqueue(t, [userId], {
					type,
					title: "EisLager",
					body: message,
					url: "/notifications",
					data: { notificationId },
				});
				return;
			}
			const { messageId, conversationId, senderId, recipientIds } = event.data;
			const offline = recipientIds.filter((id) => !online.has(id));
			if (offline.length === 0) return;
			const [message] = await this.db.query<{ content: string }>(
				`SELECT content FROM "${this.dbSchema}".messages WHERE id = :messageId AND deleted_at IS NULL`,
				{
					type: QueryTypes.SELECT,
					replacements: { messageId },
					transaction: t,
				},
			);
			if (!message) return;
			const body = message.content.length > PREVIEW_CHARS ? `${message.content.slice(0, PREVIEW_CHARS - 1)}…` : message.content;
			await this.enqueue(t, offline, {
				type: "NEW_MESSAGE",
				title: "New message",
				body,
				url: `/chat/${conversationId}`,
				data: { conversationId, messageId, senderId },
			});
		},

		/** Claims due rows and sends them; returns how many were claimed. */
		async runWorker(this: This): Promise<number> {
			const vapid = await this.vapid();
			if (!vapid) return 0;
			const rows = await this.db.query<ClaimedRow>(
				`UPDATE "${this.dbSchema}".push_queue q SET locked_until = now() + make_interval(secs => :lease), attempts = q.attempts + 1
				 FROM "${this.dbSchema}".push_subscriptions s
				 WHERE s.id = q.subscription_id AND q.id IN (
				   SELECT id FROM "${this.dbSchema}".push_queue WHERE next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())
				   ORDER BY next_attempt_at LIMIT :batch FOR UPDATE SKIP LOCKED)
				 RETURNING q.id, q.payload, q.attempts, q.subscription_id, s.endpoint, s.p256dh, s.auth`,
				{ type: QueryTypes.SELECT, replacements: { lease: CLAIM_LEASE_SEC, batch: CLAIM_BATCH } },
			);
			await Promise.all(rows.map((row) => this.deliver(row, vapid)));
			return rows.length;
		},

		async deliver(this: This, row: ClaimedRow, vapid: VapidDetails) {
			const s = `"${this.dbSchema}"`;
			const outcome = await sendPush(
				row,
				JSON.stringify(row.payload),
				vapid,
				row.payload.type === "NEW_MESSAGE" ? "high" : "normal",
				!config().vapid.allowDevelopmentEndpoints,
			);
			const count = (what: PushOutcome) => this.broker.metrics.increment(APP_METRICS.pushDeliveries, { outcome: what });
			switch (outcome.kind) {
				case "SENT":
					count("sent");
					await this.db.query(`DELETE FROM ${s}.push_queue WHERE id = :id`, { replacements: { id: row.id } });
					await this.db.query(`UPDATE ${s}.push_subscriptions SET last_success_at = now() WHERE id = :id`, {
						replacements: { id: row.subscription_id },
					});
					return;
				case "GONE":
					// The browser unsubscribed, the subscription expired, or it names an internal address: it will never work.
					count("gone");
					this.logger.info(`Push subscription ${row.subscription_id} is gone (${outcome.reason}); removed.`);
					await this.db.query(`DELETE FROM ${s}.push_subscriptions WHERE id = :id`, {
						replacements: { id: row.subscription_id },
					});
					return;
				case "DROP":
					count("dropped");
					this.logger.warn(`Push ${row.id} refused by the push service (${outcome.error}); dropped.`);
					await this.db.query(`DELETE FROM ${s}.push_queue WHERE id = :id`, { replacements: { id: row.id } });
					return;
				case "RETRY":
					count(row.attempts >= PUSH_MAX_ATTEMPTS ? "given_up" : "retry");
					if (row.attempts >= PUSH_MAX_ATTEMPTS) {
						this.logger.warn(`Push ${row.id} failed ${row.attempts} times (${outcome.error}); given up.`);
						await this.db.query(`DELETE FROM ${s}.push_queue WHERE id = :id`, { replacements: { id: row.id } });
						return;
					}
					await this.db.query(
						`UPDATE ${s}.push_queue SET next_attempt_at = now() + make_interval(secs => :delay), locked_until = NULL, last_error = :error WHERE id = :id`,
						{
							replacements: {
								id: row.id,
								delay: backoffSeconds(row.attempts, outcome.retryAfterSec),
								error: outcome.error.slice(0, 500),
							},
						},
					);
					return;
			}
		},

		/** The queue's gauges for /metrics (lib/health.ts calls each service's refreshMetrics): rows due, and how long the oldest has waited. */
		async refreshMetrics(this: This) {
			const [row] = await this.db.query<{ due: number; oldest: number }>(
				`SELECT count(*)::int AS due, COALESCE(EXTRACT(EPOCH FROM now() - min(next_attempt_at)), 0)::float AS oldest
				 FROM "${this.dbSchema}".push_queue WHERE next_attempt_at <= now()`,
				{ type: QueryTypes.SELECT },
			);
			this.broker.metrics.set(APP_METRICS.pushQueueDue, row.due);
			this.broker.metrics.set(APP_METRICS.pushQueueOldestSec, row.oldest);
		},

		/** Runs the worker now (after new rows committed), unless a run is in progress. */
		wake(this: This) {
			if (this.stopping || this.working) return;
			this.working = (async () => {
				try {
					// A full batch means more may be due.
					while (!this.stopping && (await this.runWorker()) === CLAIM_BATCH);
				} catch (err) {
					this.logger.warn("Push worker run failed:", (err as Error).message);
				} finally {
					this.working = undefined;
				}
			})();
		},
	},

	started(this: This) {
		registerPushMetrics(this.broker);
		this.workerTimer = setInterval(() => this.wake(), WORKER_INTERVAL_MS);
		this.workerTimer.unref();
		this.wake();
	},

	async stopped(this: This) {
		this.stopping = true;
		clearInterval(this.workerTimer);
		await this.working;
	},
};

export default schema as ServiceSchema;
