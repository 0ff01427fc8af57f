/**
 * communications.notifications: the caller's notifications (list, read, delete,
 * mark all), creation by ADMIN/EXECUTIVE, and notifications created from domain
 * events (INVENTORY_LOW and REVIEW_SUBMITTED → the shop's staff, EXPIRY_WARNING →
 * the factory's manager; COLD_CHAIN_EXCURSION → the shop's staff or the factory's manager; durable stream, group "communications.notifications": each
 * event once). Each one is emitted as NOTIFICATION_SENT through the outbox; after the
 * commit the gateway relays that broker event to the user's sockets as
 * NOTIFICATION_RECEIVED (the view rides along as `meta.live`), and communications.push
 * sends it by Web Push. Another user's notification is 404.
 */
import type { Context, ServiceSettingSchema } from "moleculer";
import type { Transaction } from "sequelize";
import { DbMixin } from "../../mixins/db.mixin";
import { OutboxMixin } from "../../mixins/outbox.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { EventStreamMixin, stream, type EnvelopeOf } from "../../mixins/event-stream.mixin";
import { respondCreated, respondNoContent } from "../../lib/actions";
import { notFound, validationError } from "../../lib/errors";
import { findOptions, toPage } from "../../lib/pagination";
import { pageProps, r, type TypeOf } from "../../lib/response";
import { pushToSockets } from "../../lib/presence";
import { sendMail } from "../../lib/mailer";
import { defineCommunicationsModels, type Notification } from "./communications.model";
import * as P from "./communications.params";
import { COMMS_SCHEMA, usersById, type CommsThis } from "./shared";
import { defineService, type ServiceDefinition } from "../../lib/service";
import type { Ctx } from "../../lib/types";
import { call, type Params, type Result } from "../../lib/contracts";

export interface NotificationInput {
	userId: string;
	type: string;
	message: string;
	data?: Record<string, unknown>;
	sourceEventId?: string | null;
	createdBy?: string | null;
}

/** Notifications written per INSERT. */
const CREATE_CHUNK = 1000;

/** A notification as the API shows it (response schema of the notification routes; the type derives from it). */
const NotificationSchema = r.object({
	id: r.uuid(),
	userId: r.uuid(),
	type: r.string(),
	message: r.string(),
	data: r.record(r.any()),
	read: r.boolean(),
	readAt: r.nullable(r.dateTime()),
	createdAt: r.dateTime(),
});
export type NotificationView = TypeOf<typeof NotificationSchema>;
/** A page of notifications and the caller's unread count. */
const NotificationPageSchema = r.object({ ...pageProps(NotificationSchema), unreadCount: r.integer() });

interface Methods {
	createNotifications(t: Transaction, ctx: Context | null, inputs: NotificationInput[]): Promise<Notification[]>;
	notifyFromEvent(t: Transaction, event: EnvelopeOf<NotifyingEvent>): Promise<Notification[]>;
	shopStaff(shopId: string): Promise<string[]>;
	nameOf(action: string, params: Record<string, string>): Promise<string | null>;
}
type This = CommsThis & Methods;

const NOTIFYING_EVENTS = ["INVENTORY_LOW", "REVIEW_SUBMITTED", "EXPIRY_WARNING", "COLD_CHAIN_EXCURSION"] as const;
type NotifyingEvent = (typeof NOTIFYING_EVENTS)[number];

export function toNotificationView(n: Notification): NotificationView {
	return {
		id: n.id,
		userId: n.userId,
		type: n.type,
		message: n.message,
		data: n.data ?? {},
		read: n.readStatus,
		readAt: n.readAt?.toISOString() ?? null,
		createdAt: n.createdAt.toISOString(),
	};
}

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "communications.notifications",
	mixins: [DbMixin({ schema: COMMS_SCHEMA, models: defineCommunicationsModels }), OutboxMixin, AuditMixin, EventStreamMixin],
	settings: { rest: "/communications" },

	actions: {
		list: {
			rest: "GET /notifications",
			response: NotificationPageSchema,
			summary: "The caller's notifications, newest first (`unread=true` for unread only); `unreadCount` counts all unread",
			params: P.listNotificationsParams,
			async handler(ctx: Ctx<P.ListNotificationsParams>) {
				const userId = ctx.meta.user!.id;
				const where = { userId, ...(ctx.params.unread !== undefined && { readStatus: !ctx.params.unread }) };
				const { rows, count } = await this.models.Notification.findAndCountAll({ where, ...findOptions(ctx.params, "-createdAt") });
				const unreadCount = await this.models.Notification.count({ where: { userId, readStatus: false } });
				return { ...toPage(rows.map(toNotificationView), count, ctx.params), unreadCount };
			},
		},

		create: {
			rest: "POST /notifications",
			response: NotificationSchema,
			roles: ["ADMIN", "EXECUTIVE"],
			audit: true,
			summary: "Send a notification to a user (pushed live as NOTIFICATION_RECEIVED)",
			params: P.createNotificationParams,
			async handler(ctx: Ctx<P.CreateNotificationParams>) {
				const users = await usersById(ctx, [ctx.params.userId]);
				if (!users.has(ctx.params.userId)) throw validationError("userId", "Unknown user.", "reference");
				const [row] = await this.transaction((t) =>
					this.createNotifications(t, ctx, [{ ...ctx.params, createdBy: ctx.meta.user?.id ?? null }]),
				);
				respondCreated(ctx, `/api/v1/communications/notifications/${row.id}`);
				return toNotificationView(row);
			},
		},

		markRead: {
			rest: "PUT /notifications/:id/read",
			response: NotificationSchema,
			audit: true,
			summary: "Mark one of the caller's notifications as read",
			params: P.notificationIdParams,
			async handler(ctx: Ctx<P.NotificationIdParams>) {
				const row = await this.models.Notification.findOne({ where: { id: ctx.params.id, userId: ctx.meta.user!.id } });
				if (!row) throw notFound("Notification", ctx.params.id);
				if (!row.readStatus) await row.update({ readStatus: true, readAt: new Date() });
				return toNotificationView(row);
			},
		},

		remove: {
			rest: "DELETE /notifications/:id",
			audit: true,
			summary: "Delete one of the caller's notifications",
			params: P.notificationIdParams,
			async handler(ctx: Ctx<P.NotificationIdParams>) {
				const deleted = await this.models.Notification.destroy({ where: { id: ctx.params.id, userId: ctx.meta.user!.id } });
				if (!deleted) throw notFound("Notification", ctx.params.id);
				return respondNoContent(ctx);
			},
		},

		markAll: {
			rest: "POST /notifications/mark-all",
			status: 200,
			audit: true,
			summary: "Mark all of the caller's notifications as read",
			async handler(ctx: Ctx<Record<string, never>>) {
				const [updated] = await this.models.Notification.update(
					{ readStatus: true, readAt: new Date() },
					{ where: { userId: ctx.meta.user!.id, readStatus: false } },
				);
				return { updated };
			},
		},

		// ---- internal ----

		/**
		 * Notifies many users of one domain event (e.g. a batch recall): one row each (relayed live and by Web Push as every notification), and
		 * mailed when `mail`. Idempotent per (sourceEventId, user): a consumer's retry notifies nobody twice.
		 */
		notifyUsers: {
			visibility: "public",
			params: P.notifyUsersParams,
			async handler(this: This, ctx: Ctx<P.NotifyUsersParams>) {
				const { userIds, type, message, data, sourceEventId, mail } = ctx.params;
				const rows = await this.transaction(async (t) => {
					const done = new Set(
						(
							await this.models.Notification.findAll({
								where: { sourceEventId, userId: userIds },
								attributes: ["userId"],
								transaction: t,
							})
						).map((n) => n.userId),
					);
					const todo = [...new Set(userIds)].filter((id) => !done.has(id));
					return this.createNotifications(
						t,
						ctx,
						todo.map((userId) => ({ userId, type, message, data: data ?? {}, sourceEventId })),
					);
				});
				if (mail && rows.length) {
					const users = await usersById(
						ctx,
						rows.map((r) => r.userId),
					);
					for (const row of rows) {
						const to = users.get(row.userId)?.email;
						if (to)
							sendMail({ to, subject: `EisLager: ${type.replace(/_/g, " ").toLowerCase()}`, text: message }).catch(
								(err: Error) => this.logger.warn(`Mail of notification ${row.id} failed: ${err.message}`),
							);
					}
				}
				return { created: rows.length };
			},
		},

		/** SYSTEM_ANNOUNCEMENT to every connected socket (admin broadcasts). Not stored per user. */
		announce: {
			visibility: "public",
			params: P.announceParams,
			async handler(
				ctx: Ctx<Params<"communications.notifications.announce">>,
			): Promise<Result<"communications.notifications.announce">> {
				const data = { ...ctx.params, sentAt: new Date().toISOString() };
				await pushToSockets(ctx, { event: "SYSTEM_ANNOUNCEMENT", rooms: [], all: true, data });
				return data;
			},
		},
	},

	streams: [
		stream({
			group: "communications.notifications",
			types: NOTIFYING_EVENTS,
			async handler(this: This, events, t: Transaction) {
				// Each row's NOTIFICATION_SENT reaches the sockets after the group's commit.
				for (const event of events) await this.notifyFromEvent(t, event);
			},
		}),
	],

	methods: {
		/** The rows and their NOTIFICATION_SENT outbox rows, one INSERT each per chunk (a recall may notify thousands). */
		async createNotifications(t: Transaction, ctx: Context | null, inputs: NotificationInput[]) {
			const rows: Notification[] = [];
			for (let i = 0; i < inputs.length; i += CREATE_CHUNK) {
				const chunk = await this.models.Notification.bulkCreate(
					inputs.slice(i, i + CREATE_CHUNK).map((input) => ({
						userId: input.userId,
						type: input.type,
						message: input.message,
						data: input.data ?? {},
						sourceEventId: input.sourceEventId ?? null,
						createdBy: input.createdBy ?? null,
					})),
					{ transaction: t, returning: true },
				);
				await this.publishMany(
					t,
					ctx,
					"NOTIFICATION_SENT",
					chunk.map((row) => ({
						data: { notificationId: row.id, userId: row.userId, type: row.type, message: row.message },
						aggregateId: row.userId,
						live: toNotificationView(row),
					})),
				);
				rows.push(...chunk);
			}
			return rows;
		},

		/** The notifications an event makes (the stream runs each event once). */
		async notifyFromEvent(t: Transaction, event: EnvelopeOf<NotifyingEvent>) {
			let recipients: string[] = [];
			let message = "";
			let data: Record<string, unknown> = {};
			switch (event.type) {
				case "INVENTORY_LOW": {
					const { shopId, flavorId, quantity, reorderThreshold } = event.data;
					const [staff, shop, flavor] = await Promise.all([
						this.shopStaff(shopId),
						this.nameOf("sales.shops.get", { shopId }),
						this.nameOf("inventory.flavors.get", { flavorId }),
					]);
					[recipients, data] = [staff, { shopId, flavorId, quantity, reorderThreshold }];
					message = `Low stock at ${shop ?? "your shop"}: ${flavor ?? "a flavor"} is down to ${quantity} (reorder threshold ${reorderThreshold}).`;
					break;
				}
				case "REVIEW_SUBMITTED": {
					const { shopId, reviewId, rating } = event.data;
					const [staff, shop] = await Promise.all([this.shopStaff(shopId), this.nameOf("sales.shops.get", { shopId })]);
					[recipients, data] = [staff, { shopId, reviewId, rating }];
					message = `New ${rating}-star review for ${shop ?? "your shop"}.`;
					break;
				}
				case "EXPIRY_WARNING": {
					const { managerId, factoryId, flavorId, stockItemId, batchId, quantity, expiryDate } = event.data;
					if (!managerId) return [];
					const flavor = await this.nameOf("inventory.flavors.get", { flavorId });
					[recipients, data] = [[managerId], { factoryId, stockItemId, batchId, quantity, expiryDate }];
					message = `Batch ${batchId}${flavor ? ` of ${flavor}` : ""} (${quantity} units) expires on ${expiryDate}.`;
					break;
				}
				case "COLD_CHAIN_EXCURSION": {
					const { freezerId, shopId, factoryId, startedAt, maxCelsius } = event.data;
					if (shopId) {
						const [staff, shop] = await Promise.all([this.shopStaff(shopId), this.nameOf("sales.shops.get", { shopId })]);
						recipients = staff;
						message = `Cold-chain excursion at ${shop ?? "your shop"}: a freezer has been above the limit since ${startedAt} (up to ${maxCelsius} °C). Its lots are quarantined until released or written off.`;
					} else if (factoryId) {
						const factory = await this.broker.call<{ name: string; managerId: string | null } | null, { id: string }>(
							"inventory.factories.resolve",
							{ id: factoryId },
						);
						recipients = factory?.managerId ? [factory.managerId] : [];
						message = `Cold-chain excursion at ${factory?.name ?? "your factory"}: a freezer has been above the limit since ${startedAt} (up to ${maxCelsius} °C). Its batches are quarantined.`;
					}
					data = { freezerId, shopId, factoryId, startedAt, maxCelsius };
					break;
				}
			}
			const unique = [...new Set(recipients)];
			return this.createNotifications(
				t,
				null,
				unique.map((userId) => ({ userId, type: event.type, message, data, sourceEventId: event.id })),
			);
		},

		/** A display name for a message (best effort: the notification goes out without it). */
		async nameOf(action: string, params: Record<string, string>): Promise<string | null> {
			try {
				const entity = await this.broker.call<{ name?: unknown } | null, Record<string, string>>(action, params);
				return typeof entity?.name === "string" ? entity.name : null;
			} catch {
				return null;
			}
		},

		/** The shop's manager and assigned staff (sales.shops.staffIds). */
		async shopStaff(shopId: string): Promise<string[]> {
			return call(this.broker, "sales.shops.staffIds", { shopId });
		},
	},
};

export default defineService(schema);
