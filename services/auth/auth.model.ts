/** Sequelize models of the auth schema (tables are created by migrations/auth). */
import { DataTypes, Model, type InferAttributes, type InferCreationAttributes, type CreationOptional, type Sequelize } from "sequelize";
import type { Role } from "../../lib/types";

export class User extends Model<InferAttributes<User>, InferCreationAttributes<User>> {
	declare id: CreationOptional<string>;
	declare email: string;
	declare passwordHash: string | null;
	declare name: string;
	declare role: CreationOptional<Role>;
	declare phone: string | null;
	declare preferences: CreationOptional<Record<string, unknown>>;
	declare status: CreationOptional<"ACTIVE" | "INACTIVE">;
	declare googleSub: string | null;
	/** When the address was proven (verification mail, password reset by mail, or Google); null: never. */
	declare emailVerifiedAt: CreationOptional<Date | null>;
	declare tokensValidAfter: CreationOptional<Date>;
	declare failedLogins: CreationOptional<number>;
	declare lockedUntil: Date | null;
	declare lastLoginAt: Date | null;
	declare createdAt: CreationOptional<Date>;
	declare updatedAt: CreationOptional<Date>;
	declare deletedAt: Date | null;
}

export class UserSession extends Model<InferAttributes<UserSession>, InferCreationAttributes<UserSession>> {
	declare id: CreationOptional<string>;
	declare userId: string;
	declare familyId: string;
	declare tokenHash: string;
	declare expiresAt: Date;
	declare ipAddress: string | null;
	declare userAgent: string | null;
	declare createdAt: CreationOptional<Date>;
	declare rotatedAt: Date | null;
	declare revokedAt: Date | null;
}

export class PasswordResetToken extends Model<InferAttributes<PasswordResetToken>, InferCreationAttributes<PasswordResetToken>> {
	declare id: CreationOptional<string>;
	declare userId: string;
	declare tokenHash: string;
	declare expiresAt: Date;
	declare usedAt: Date | null;
	declare createdAt: CreationOptional<Date>;
}

export class EmailVerificationToken extends Model<
	InferAttributes<EmailVerificationToken>,
	InferCreationAttributes<EmailVerificationToken>
> {
	declare id: CreationOptional<string>;
	declare userId: string;
	/** The address the token was mailed to: it verifies that address only. */
	declare email: string;
	declare tokenHash: string;
	declare expiresAt: Date;
	declare usedAt: Date | null;
	declare createdAt: CreationOptional<Date>;
}

const uuidPk = { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 };

/** Fresh model classes per Sequelize instance, so several brokers in one process never share a connection. */
export function defineAuthModels(db: Sequelize) {
	const UserModel = class extends User {};
	const UserSessionModel = class extends UserSession {};
	const PasswordResetTokenModel = class extends PasswordResetToken {};
	const EmailVerificationTokenModel = class extends EmailVerificationToken {};
	UserModel.init(
		{
			id: uuidPk,
			email: { type: DataTypes.TEXT, allowNull: false },
			passwordHash: { type: DataTypes.TEXT, allowNull: true },
			name: { type: DataTypes.TEXT, allowNull: false },
			role: { type: DataTypes.TEXT, allowNull: false, defaultValue: "PATRON" },
			phone: { type: DataTypes.TEXT, allowNull: true },
			preferences: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
			status: { type: DataTypes.TEXT, allowNull: false, defaultValue: "ACTIVE" },
			googleSub: { type: DataTypes.TEXT, allowNull: true },
			emailVerifiedAt: { type: DataTypes.DATE, allowNull: true },
			tokensValidAfter: { type: DataTypes.DATE, allowNull: false, defaultValue: new Date(0) },
			failedLogins: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
			lockedUntil: { type: DataTypes.DATE, allowNull: true },
			lastLoginAt: { type: DataTypes.DATE, allowNull: true },
			createdAt: DataTypes.DATE,
			updatedAt: DataTypes.DATE,
			deletedAt: { type: DataTypes.DATE, allowNull: true },
		},
		{ sequelize: db, modelName: "User", tableName: "users", schema: "auth", paranoid: true },
	);
	UserSessionModel.init(
		{
			id: uuidPk,
			userId: { type: DataTypes.UUID, allowNull: false },
			familyId: { type: DataTypes.UUID, allowNull: false },
			tokenHash: { type: DataTypes.TEXT, allowNull: false },
			expiresAt: { type: DataTypes.DATE, allowNull: false },
			ipAddress: { type: DataTypes.TEXT, allowNull: true },
			userAgent: { type: DataTypes.TEXT, allowNull: true },
			createdAt: DataTypes.DATE,
			rotatedAt: { type: DataTypes.DATE, allowNull: true },
			revokedAt: { type: DataTypes.DATE, allowNull: true },
		},
		{ sequelize: db, modelName: "UserSession", tableName: "user_sessions", schema: "auth", updatedAt: false },
	);
	PasswordResetTokenModel.init(
		{
			id: uuidPk,
			userId: { type: DataTypes.UUID, allowNull: false },
			tokenHash: { type: DataTypes.TEXT, allowNull: false },
			expiresAt: { type: DataTypes.DATE, allowNull: false },
			usedAt: { type: DataTypes.DATE, allowNull: true },
			createdAt: DataTypes.DATE,
		},
		{ sequelize: db, modelName: "PasswordResetToken", tableName: "password_reset_tokens", schema: "auth", updatedAt: false },
	);
	EmailVerificationTokenModel.init(
		{
			id: uuidPk,
			userId: { type: DataTypes.UUID, allowNull: false },
			email: { type: DataTypes.TEXT, allowNull: false },
			tokenHash: { type: DataTypes.TEXT, allowNull: false },
			expiresAt: { type: DataTypes.DATE, allowNull: false },
			usedAt: { type: DataTypes.DATE, allowNull: true },
			createdAt: DataTypes.DATE,
		},
		{ sequelize: db, modelName: "EmailVerificationToken", tableName: "email_verification_tokens", schema: "auth", updatedAt: false },
	);
	return {
		User: UserModel,
		UserSession: UserSessionModel,
		PasswordResetToken: PasswordResetTokenModel,
		EmailVerificationToken: EmailVerificationTokenModel,
	};
}

export type AuthModels = ReturnType<typeof defineAuthModels>;

/** The public view of a user: never the password hash or security counters. */
export interface PublicUser {
	id: string;
	email: string;
	name: string;
	role: Role;
	phone: string | null;
	preferences: Record<string, unknown>;
	status: "ACTIVE" | "INACTIVE";
	/** The address was proven (verification mail, password reset by mail, or Google). */
	emailVerified: boolean;
	createdAt: string;
	updatedAt: string;
}

export function toPublicUser(u: User): PublicUser {
	return {
		id: u.id,
		email: u.email,
		name: u.name,
		role: u.role,
		phone: u.phone,
		preferences: u.preferences,
		status: u.status,
		emailVerified: !!u.emailVerifiedAt,
		createdAt: u.createdAt.toISOString(),
		updatedAt: u.updatedAt.toISOString(),
	};
}
