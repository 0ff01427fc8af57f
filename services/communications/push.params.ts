/** fastest-validator schemas of communications.push (Web Push) and the param types derived from them. */
import { STRICT, uuid, type Infer } from "../../lib/params";
import { pageParams } from "../../lib/pagination";

/** URL-safe base64; the alphabet and decoded length are checked by the handler (a pattern plus lengths here is hard on generated inputs). */
const base64url = (min: number, max: number) => ({ type: "string", min, max }) as const;
/** A notification type as stored (UPPER_SNAKE_CASE), or NEW_MESSAGE for chat messages. */
const notificationType = { type: "string", pattern: /^[A-Z][A-Z0-9_]{0,63}$/ } as const;

export const subscribeParams = {
	...STRICT,
	endpoint: { type: "url", max: 2048 },
	// PushSubscription.toJSON(): p256dh is the browser's P-256 public key (65 bytes), auth a 16-byte secret.
	keys: { type: "object", strict: "remove", props: { p256dh: base64url(86, 90), auth: base64url(16, 24) } },
	expirationTime: { type: "number", nullable: true, optional: true },
	userAgent: { type: "string", max: 300, optional: true },
} as const;
export type SubscribeParams = Infer<typeof subscribeParams>;

export const listSubscriptionsParams = { ...STRICT, ...pageParams(["createdAt"] as const) } as const;
export type ListSubscriptionsParams = Infer<typeof listSubscriptionsParams>;

export const subscriptionIdParams = { ...STRICT, id: uuid } as const;
export type SubscriptionIdParams = Infer<typeof subscriptionIdParams>;

export const preferencesParams = {
	...STRICT,
	enabled: { type: "boolean", optional: true },
	mutedTypes: { type: "array", items: notificationType, max: 100, unique: true, optional: true },
} as const;
export type PreferencesParams = Infer<typeof preferencesParams>;
