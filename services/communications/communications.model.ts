/** Sequelize models of the communications schema (tables are created by migrations/communications). */
import { DataTypes, Model, type CreationOptional, type InferAttributes, type InferCreationAttributes, type Sequelize } from "sequelize";

export type ConversationType = "DIRECT" | "GROUP";
export type MessageType = "TEXT" | "IMAGE" | "FILE";

export class Conversation extends Model<InferAttributes<Conversation>, InferCreationAttributes<Conversation>> {
	declare id: CreationOptional<string>;
	declare type: ConversationType;
	declare name: string | null;
	declare createdBy: string;
	declare directKey: string | null;
	declare createdAt: CreationOptional<Date>;
	declare updatedAt: CreationOptional<Date>;
	declare deletedAt: CreationOptional<Date | null>;
}

export class Participant extends Model<InferAttributes<Participant>, InferCreationAttributes<Participant>> {
	declare conversationId: string;
	declare userId: string;
	declare joinedAt: CreationOptional<Date>;
	/** BIGINT: Sequelize returns it as a string. */
	declare lastReadSeq: CreationOptional<string>;
	declare lastReadAt: CreationOptional<Date | null>;
	/** Created the conversation (or opened the DIRECT pair again) or wrote in it: the others may see this user's presence. */
	declare tookPart: CreationOptional<boolean>;
}

export class Message extends Model<InferAttributes<Message>, InferCreationAttributes<Message>> {
	declare id: CreationOptional<string>;
	/** BIGSERIAL: Sequelize returns it as a string. */
	declare seq: CreationOptional<string>;
	declare conversationId: string;
	declare senderId: string;
	declare content: string;
	declare messageType: MessageType;
	declare attachmentId: string | null;
	declare createdAt: CreationOptional<Date>;
	declare updatedAt: CreationOptional<Date>;
	declare deletedAt: CreationOptional<Date | null>;
}

export class Attachment extends Model<InferAttributes<Attachment>, InferCreationAttributes<Attachment>> {
	declare id: CreationOptional<string>;
	declare conversationId: string;
	declare uploaderId: string;
	declare storageName: string;
	declare originalName: string;
	declare mimeType: string;
	declare size: number;
	declare createdAt: CreationOptional<Date>;
	declare deletedAt: CreationOptional<Date | null>;
}

export class Email extends Model<InferAttributes<Email>, InferCreationAttributes<Email>> {
	declare id: CreationOptional<string>;
	declare threadId: string;
	declare replyToId: string | null;
	declare senderId: string;
	declare receiverId: string;
	declare subject: string;
	declare content: string;
	declare status: CreationOptional<"UNREAD" | "READ">;
	declare readAt: CreationOptional<Date | null>;
	declare starredBySender: CreationOptional<boolean>;
	declare starredByReceiver: CreationOptional<boolean>;
	declare relayedAt: CreationOptional<Date | null>;
	declare createdAt: CreationOptional<Date>;
	declare updatedAt: CreationOptional<Date>;
	declare deletedAt: CreationOptional<Date | null>;
}

export class Notification extends Model<InferAttributes<Notification>, InferCreationAttributes<Notification>> {
	declare id: CreationOptional<string>;
	declare userId: string;
	declare type: string;
	declare message: string;
	declare data: CreationOptional<Record<string, unknown>>;
	declare readStatus: CreationOptional<boolean>;
	declare readAt: CreationOptional<Date | null>;
	declare sourceEventId: string | null;
	declare createdBy: string | null;
	declare createdAt: CreationOptional<Date>;
	declare updatedAt: CreationOptional<Date>;
	declare deletedAt: CreationOptional<Date | null>;
}

const uuidPk = { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 };
const SCHEMA = "communications";

/** Fresh model classes per Sequelize instance, so several brokers in one process never share a connection. */
export function defineCommunicationsModels(db: Sequelize) {
	const ConversationModel = class extends Conversation {};
	const ParticipantModel = class extends Participant {};
	const MessageModel = class extends Message {};
	const AttachmentModel = class extends Attachment {};
	const EmailModel = class extends Email {};
	const NotificationModel = class extends Notification {};
	ConversationModel.init(
		{
			id: uuidPk,
			type: { type: DataTypes.TEXT, allowNull: false },
			name: { type: DataTypes.TEXT, allowNull: true },
			createdBy: { type: DataTypes.UUID, allowNull: false },
			directKey: { type: DataTypes.TEXT, allowNull: true },
			createdAt: DataTypes.DATE,
			updatedAt: DataTypes.DATE,
			deletedAt: { type: DataTypes.DATE, allowNull: true },
		},
		{ sequelize: db, modelName: "Conversation", tableName: "conversations", schema: SCHEMA, paranoid: true },
	);
	ParticipantModel.init(
		{
			conversationId: { type: DataTypes.UUID, primaryKey: true },
			userId: { type: DataTypes.UUID, primaryKey: true },
			joinedAt: { type: DataTypes.DATE, allowNull: false, defaultValue: DataTypes.NOW },
			lastReadSeq: { type: DataTypes.BIGINT, allowNull: false, defaultValue: 0 },
			lastReadAt: { type: DataTypes.DATE, allowNull: true },
			tookPart: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
		},
		{ sequelize: db, modelName: "Participant", tableName: "conversation_participants", schema: SCHEMA, timestamps: false },
	);
	MessageModel.init(
		{
			id: uuidPk,
			seq: { type: DataTypes.BIGINT, autoIncrement: true },
			conversationId: { type: DataTypes.UUID, allowNull: false },
			senderId: { type: DataTypes.UUID, allowNull: false },
			content: { type: DataTypes.TEXT, allowNull: false },
			messageType: { type: DataTypes.TEXT, allowNull: false },
			attachmentId: { type: DataTypes.UUID, allowNull: true },
			createdAt: DataTypes.DATE,
			updatedAt: DataTypes.DATE,
			deletedAt: { type: DataTypes.DATE, allowNull: true },
		},
		{ sequelize: db, modelName: "Message", tableName: "messages", schema: SCHEMA, paranoid: true },
	);
	AttachmentModel.init(
		{
			id: uuidPk,
			conversationId: { type: DataTypes.UUID, allowNull: false },
			uploaderId: { type: DataTypes.UUID, allowNull: false },
			storageName: { type: DataTypes.TEXT, allowNull: false },
			originalName: { type: DataTypes.TEXT, allowNull: false },
			mimeType: { type: DataTypes.TEXT, allowNull: false },
			size: { type: DataTypes.INTEGER, allowNull: false },
			createdAt: DataTypes.DATE,
			deletedAt: { type: DataTypes.DATE, allowNull: true },
		},
		{ sequelize: db, modelName: "Attachment", tableName: "attachments", schema: SCHEMA, updatedAt: false, paranoid: true },
	);
	EmailModel.init(
		{
			id: uuidPk,
			threadId: { type: DataTypes.UUID, allowNull: false },
			replyToId: { type: DataTypes.UUID, allowNull: true },
			senderId: { type: DataTypes.UUID, allowNull: false },
			receiverId: { type: DataTypes.UUID, allowNull: false },
			subject: { type: DataTypes.TEXT, allowNull: false },
			content: { type: DataTypes.TEXT, allowNull: false },
			status: { type: DataTypes.TEXT, allowNull: false, defaultValue: "UNREAD" },
			readAt: { type: DataTypes.DATE, allowNull: true },
			starredBySender: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
			starredByReceiver: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
			relayedAt: { type: DataTypes.DATE, allowNull: true },
			createdAt: DataTypes.DATE,
			updatedAt: DataTypes.DATE,
			deletedAt: { type: DataTypes.DATE, allowNull: true },
		},
		{ sequelize: db, modelName: "Email", tableName: "emails", schema: SCHEMA, paranoid: true },
	);
	NotificationModel.init(
		{
			id: uuidPk,
			userId: { type: DataTypes.UUID, allowNull: false },
			type: { type: DataTypes.TEXT, allowNull: false },
			message: { type: DataTypes.TEXT, allowNull: false },
			data: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
			readStatus: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
			readAt: { type: DataTypes.DATE, allowNull: true },
			sourceEventId: { type: DataTypes.UUID, allowNull: true },
			createdBy: { type: DataTypes.UUID, allowNull: true },
			createdAt: DataTypes.DATE,
			updatedAt: DataTypes.DATE,
			deletedAt: { type: DataTypes.DATE, allowNull: true },
		},
		{ sequelize: db, modelName: "Notification", tableName: "notifications", schema: SCHEMA, paranoid: true },
	);
	return {
		Conversation: ConversationModel,
		Participant: ParticipantModel,
		Message: MessageModel,
		Attachment: AttachmentModel,
		Email: EmailModel,
		Notification: NotificationModel,
	};
}

export type CommunicationsModels = ReturnType<typeof defineCommunicationsModels>;
