/** Helpers the communications services share: user look-ups, serializers, type aliases. */
import type { Context, Service, ServiceBroker } from "moleculer";
import type { DbThis } from "../../mixins/db.mixin";
import type { OutboxThis } from "../../mixins/outbox.mixin";
import type { Role } from "../../lib/types";
import type { Attachment, CommunicationsModels, Message } from "./communications.model";
import { call } from "../../lib/contracts";
import type { AttachmentView, MessageView } from "../../lib/contracts";

export type CommsThis = Service & DbThis<CommunicationsModels> & OutboxThis;

/** The schema every communications service shares (one migrations list). */
export const COMMS_SCHEMA = "communications";

/** Roles that see other users' roles: the business's staff. A PATRON sees a name only (need-to-know). */
export const STAFF_ROLES: readonly Role[] = ["CLERK", "MANUFACTURER", "EXECUTIVE", "ADMIN"];

/** A user as another user sees them: id and name, and the role only when the viewer is staff. */
export function personView(
	user: { id: string; name: string | null; role?: Role },
	viewerRole: Role,
): { id: string; name: string | null; role?: Role | null } {
	return STAFF_ROLES.includes(viewerRole) ? { id: user.id, name: user.name, role: user.role ?? null } : { id: user.id, name: user.name };
}

export interface UserSummary {
	id: string;
	name: string;
	email: string;
	role: Role;
}

/** Users by id through `auth.getUsers`; unknown or deleted ids are absent from the map. */
export async function usersById(caller: Context | ServiceBroker, ids: string[]): Promise<Map<string, UserSummary>> {
	const unique = [...new Set(ids)];
	if (unique.length === 0) return new Map();
	const users = await call(caller, "auth.getUsers", { ids: unique });
	return new Map(users.map((u) => [u.id, { id: u.id, name: u.name, email: u.email, role: u.role }]));
}

export const attachmentUrl = (id: string) => `/api/v1/communications/chat/attachments/${id}`;

export type { AttachmentView, MessageView } from "../../lib/contracts";

export function toAttachmentView(a: Attachment): AttachmentView {
	return { id: a.id, name: a.originalName, mimeType: a.mimeType, size: a.size, url: attachmentUrl(a.id) };
}

export function toMessageView(m: Message, readBy: string[] = [], attachment: Attachment | null = null): MessageView {
	return {
		id: m.id,
		conversationId: m.conversationId,
		senderId: m.senderId,
		content: m.content,
		messageType: m.messageType,
		attachment: attachment ? toAttachmentView(attachment) : null,
		createdAt: m.createdAt.toISOString(),
		readBy,
	};
}
