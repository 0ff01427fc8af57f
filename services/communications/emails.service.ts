/**
 * communications.emails: the internal mailbox between users (inbox/sent folders,
 * starred and unread filters, read, star, threaded replies). With SMTP_URL set,
 * each email is also relayed to the receiver's real address (best effort, after
 * commit). Only the sender and the receiver see an email; anyone else gets 404.
 * Sends and replies together are capped per sender at EMAIL_SEND_PER_HOUR (429
 * RATE_LIMITED with Retry-After): the relay reaches real mailboxes.
 */
import type { ServiceSettingSchema } from "moleculer";
import { Op, type WhereOptions } from "sequelize";
import { randomUUID } from "node:crypto";
import { DbMixin } from "../../mixins/db.mixin";
import { OutboxMixin } from "../../mixins/outbox.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { respondCreated } from "../../lib/actions";
import { forbidden, notFound, validationError } from "../../lib/errors";
import { findOptions, toPage } from "../../lib/pagination";
import { pushToSockets, userRoom } from "../../lib/presence";
import { sendMail } from "../../lib/mailer";
import { config } from "../../lib/config";
import { consumePoint, limiter } from "../../lib/rate-limit";
import { defineCommunicationsModels, type Email } from "./communications.model";
import * as P from "./communications.params";
import { COMMS_SCHEMA, usersById, type CommsThis, type UserSummary } from "./shared";
import { defineService, type ServiceDefinition } from "../../lib/service";
import type { Ctx } from "../../lib/types";

interface Methods {
	findVisible(id: string, userId: string): Promise<Email>;
	deliver(email: Email, sender: UserSummary | undefined, receiver: UserSummary): Promise<void>;
	countSend(senderId: string): Promise<void>;
}
type This = CommsThis & Methods;

export function toEmailView(e: Email, viewer: string, users?: Map<string, UserSummary>) {
	const party = (id: string) => ({ id, name: users?.get(id)?.name ?? null });
	return {
		id: e.id,
		threadId: e.threadId,
		replyToId: e.replyToId,
		sender: party(e.senderId),
		receiver: party(e.receiverId),
		subject: e.subject,
		content: e.content,
		status: e.status,
		read: e.status === "READ",
		readAt: e.readAt?.toISOString() ?? null,
		starred: viewer === e.senderId ? e.starredBySender : e.starredByReceiver,
		folder: viewer === e.receiverId ? "inbox" : "sent",
		createdAt: e.createdAt.toISOString(),
	};
}

const replySubject = (subject: string) => (/^re:/i.test(subject) ? subject : `Re: ${subject}`).slice(0, 200);

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "communications.emails",
	mixins: [DbMixin({ schema: COMMS_SCHEMA, models: defineCommunicationsModels }), OutboxMixin, AuditMixin],
	settings: { rest: "/communications" },

	actions: {
		list: {
			rest: "GET /emails",
			summary: "The caller's emails: folder inbox (default) or sent, optionally starred=true / unread=true; paginated",
			params: P.listEmailsParams,
			async handler(ctx: Ctx<P.ListEmailsParams>) {
				const me = ctx.meta.user!.id;
				const inbox = ctx.params.folder === "inbox";
				const where: WhereOptions<Email> = inbox ? { receiverId: me } : { senderId: me };
				if (ctx.params.starred !== undefined)
					Object.assign(where, inbox ? { starredByReceiver: ctx.params.starred } : { starredBySender: ctx.params.starred });
				if (ctx.params.unread !== undefined) Object.assign(where, { status: ctx.params.unread ? "UNREAD" : "READ" });
				const { rows, count } = await this.models.Email.findAndCountAll({ where, ...findOptions(ctx.params, "-createdAt") });
				const users = await usersById(
					ctx,
					rows.flatMap((e) => [e.senderId, e.receiverId]),
				);
				const unreadCount = await this.models.Email.count({ where: { receiverId: me, status: "UNREAD" } });
				return {
					...toPage(
						rows.map((e) => toEmailView(e, me, users)),
						count,
						ctx.params,
					),
					unreadCount,
				};
			},
		},

		send: {
			rest: "POST /emails",
			audit: true,
			summary:
				"Send an email to another user's internal mailbox (also relayed by SMTP when configured); at most EMAIL_SEND_PER_HOUR sends and replies per sender (429 RATE_LIMITED)",
			params: P.sendEmailParams,
			async handler(ctx: Ctx<P.SendEmailParams>) {
				const me = ctx.meta.user!.id;
				if (ctx.params.receiverId === me) throw validationError("receiverId", "You cannot email yourself.", "self");
				const users = await usersById(ctx, [me, ctx.params.receiverId]);
				const receiver = users.get(ctx.params.receiverId);
				if (!receiver) throw validationError("receiverId", "Unknown user.", "reference");
				await this.countSend(me);
				const id = randomUUID();
				const email = await this.models.Email.create({
					id,
					threadId: id,
					replyToId: null,
					senderId: me,
					receiverId: receiver.id,
					subject: ctx.params.subject,
					content: ctx.params.content,
				});
				await this.deliver(email, users.get(me), receiver);
				respondCreated(ctx, `/api/v1/communications/emails/${email.id}`);
				return toEmailView(email, me, users);
			},
		},

		get: {
			rest: "GET /emails/:id",
			summary: "An email with its thread (sender or receiver only)",
			params: P.emailIdParams,
			async handler(ctx: Ctx<P.EmailIdParams>) {
				const me = ctx.meta.user!.id;
				const email = await this.findVisible(ctx.params.id, me);
				const thread = await this.models.Email.findAll({
					where: { threadId: email.threadId, [Op.or]: [{ senderId: me }, { receiverId: me }] },
					order: [["createdAt", "ASC"]],
				});
				const users = await usersById(
					ctx,
					thread.flatMap((e) => [e.senderId, e.receiverId]),
				);
				return { ...toEmailView(email, me, users), thread: thread.map((e) => toEmailView(e, me, users)) };
			},
		},

		markRead: {
			rest: "PUT /emails/:id/read",
			audit: true,
			summary: "Mark a received email as read (body `{ read: false }` marks it unread)",
			params: P.readEmailParams,
			async handler(ctx: Ctx<P.ReadEmailParams>) {
				const me = ctx.meta.user!.id;
				const email = await this.findVisible(ctx.params.id, me);
				if (email.receiverId !== me) throw forbidden("Only the receiver marks an email as read");
				await email.update(
					ctx.params.read ? { status: "READ", readAt: email.readAt ?? new Date() } : { status: "UNREAD", readAt: null },
				);
				return toEmailView(email, me);
			},
		},

		star: {
			rest: "PUT /emails/:id/star",
			audit: true,
			summary: "Star or unstar an email in the caller's own mailbox `{ starred }`",
			params: P.starEmailParams,
			async handler(ctx: Ctx<P.StarEmailParams>) {
				const me = ctx.meta.user!.id;
				const email = await this.findVisible(ctx.params.id, me);
				await email.update(
					me === email.receiverId ? { starredByReceiver: ctx.params.starred } : { starredBySender: ctx.params.starred },
				);
				return toEmailView(email, me);
			},
		},

		reply: {
			rest: "POST /emails/:id/reply",
			audit: true,
			summary:
				"Reply to an email `{ content }`: goes to the other party, in the same thread; counts toward EMAIL_SEND_PER_HOUR (429 RATE_LIMITED)",
			params: P.replyEmailParams,
			async handler(ctx: Ctx<P.ReplyEmailParams>) {
				const me = ctx.meta.user!.id;
				const original = await this.findVisible(ctx.params.id, me);
				const to = original.senderId === me ? original.receiverId : original.senderId;
				const users = await usersById(ctx, [me, to]);
				const receiver = users.get(to);
				if (!receiver) throw validationError("id", "The other party of this email no longer exists.", "reference");
				await this.countSend(me);
				const email = await this.models.Email.create({
					threadId: original.threadId,
					replyToId: original.id,
					senderId: me,
					receiverId: to,
					subject: replySubject(original.subject),
					content: ctx.params.content,
				});
				await this.deliver(email, users.get(me), receiver);
				respondCreated(ctx, `/api/v1/communications/emails/${email.id}`);
				return toEmailView(email, me, users);
			},
		},
	},

	methods: {
		/** Each email may be relayed to a real address: at most EMAIL_SEND_PER_HOUR per sender, else 429 with Retry-After. */
		async countSend(senderId: string) {
			const perHour = config().emailSendPerHour;
			await consumePoint(limiter("email", perHour, 3600), senderId, `At most ${perHour} emails per hour`, "RATE_LIMITED");
		},

		async findVisible(id: string, userId: string): Promise<Email> {
			const email = await this.models.Email.findOne({ where: { id, [Op.or]: [{ senderId: userId }, { receiverId: userId }] } });
			if (!email) throw notFound("Email", id);
			return email;
		},

		/** A live heads-up to the receiver (NOTIFICATION_RECEIVED, type EMAIL_RECEIVED), then the SMTP relay (best effort, logged). */
		async deliver(email: Email, sender: UserSummary | undefined, receiver: UserSummary) {
			await pushToSockets(this.broker, {
				event: "NOTIFICATION_RECEIVED",
				rooms: [userRoom(receiver.id)],
				// Same shape as a notification, not stored as one: the mailbox is the record.
				data: {
					id: email.id,
					userId: receiver.id,
					type: "EMAIL_RECEIVED",
					message: `New email from ${sender?.name ?? "a user"}: ${email.subject}`,
					data: { emailId: email.id, senderId: email.senderId, threadId: email.threadId },
					read: false,
					readAt: null,
					createdAt: email.createdAt.toISOString(),
				},
			});
			sendMail({
				to: receiver.email,
				subject: email.subject,
				text: `${email.content}\n\n-- \nSent by ${sender?.name ?? "an EisLager user"} through EisLager`,
			})
				.then((sent) => (sent ? email.update({ relayedAt: new Date() }) : undefined))
				.catch((err: Error) => this.logger.warn(`SMTP relay of email ${email.id} failed: ${err.message}`));
		},
	},
};

export default defineService(schema);
