/** Param schemas of the admin actions and the types derived from them. */
import { STRICT, email, isoDate, isoDateTime, positiveInt, trimmed, uuid, type Infer } from "../../lib/params";
import { pageParams } from "../../lib/pagination";
import { SETTING_DEFAULTS, THEMES } from "../../lib/settings";

export { THEMES } from "../../lib/settings";
export const THEME_IDS = THEMES.map((t) => t.id);

/** Every configuration key, its validation and its default (GET /config answers the defaults until set). Each one acts: docs/admin.md, "Configuration". */
export const SETTINGS = {
	siteName: { rule: trimmed(1, 100), default: SETTING_DEFAULTS.siteName },
	theme: { rule: { type: "enum", values: THEME_IDS }, default: SETTING_DEFAULTS.theme },
	defaultLanguage: { rule: { type: "enum", values: ["de", "en"] }, default: SETTING_DEFAULTS.defaultLanguage },
	registrationOpen: { rule: { type: "boolean" }, default: SETTING_DEFAULTS.registrationOpen },
	supportEmail: { rule: email, default: SETTING_DEFAULTS.supportEmail },
	logRetentionDays: { rule: { type: "number", integer: true, min: 1, max: 3650 }, default: SETTING_DEFAULTS.logRetentionDays },
	lowStockThreshold: { rule: { type: "number", integer: true, min: 0, max: 100_000 }, default: SETTING_DEFAULTS.lowStockThreshold },
} as const;

const optionalSettings = Object.fromEntries(Object.entries(SETTINGS).map(([k, v]) => [k, { ...v.rule, optional: true }]));

// The user routes forward to auth: one contract, so the same schemas.
export { listUsersParams, setRoleParams, setStatusParams, userIdParams } from "../../lib/contracts";
import { listUsersParams, setRoleParams, setStatusParams, userIdParams } from "../../lib/contracts";
export const userStatsParams = {
	...STRICT,
	days: { type: "number", integer: true, min: 1, max: 366, default: 30, convert: true },
} as const;

export const logsParams = {
	...STRICT,
	...pageParams(["createdAt"] as const, 50),
	level: { type: "enum", values: ["warn", "error"], optional: true },
	service: { type: "string", trim: true, max: 100, optional: true },
} as const;
export const clearLogsParams = { ...STRICT, before: isoDateTime } as const;
export const deadLettersParams = {
	...STRICT,
	...pageParams(["createdAt"] as const, 50),
	group: { type: "string", trim: true, max: 100, optional: true },
	replayed: { type: "boolean", optional: true, convert: true },
} as const;
export const replayDeadLetterParams = {
	...STRICT,
	schema: { type: "string", trim: true, max: 63, pattern: /^[a-z_]+$/ },
	id: positiveInt,
} as const;

const auditFilters = {
	schema: { type: "string", pattern: /^[a-z_]{1,40}$/, optional: true },
	actorId: { ...uuid, optional: true },
	action: { type: "string", trim: true, max: 200, optional: true },
	target: { type: "string", trim: true, max: 200, optional: true },
	outcome: { type: "enum", values: ["SUCCESS", "FAILURE"], optional: true },
	from: { ...isoDateTime, optional: true },
	to: { ...isoDateTime, optional: true },
} as const;
export const auditListParams = { ...STRICT, ...pageParams(["createdAt"] as const, 50), ...auditFilters } as const;
export const auditSearchParams = { ...STRICT, ...pageParams(["createdAt"] as const, 50), ...auditFilters } as const;
export const complianceParams = { ...STRICT, from: { ...isoDate, optional: true }, to: { ...isoDate, optional: true } } as const;

export const updateConfigParams = { ...STRICT, ...optionalSettings } as const;
export const maintenanceParams = { ...STRICT, startsAt: isoDateTime, endsAt: isoDateTime, message: trimmed(1, 2000) } as const;

export const createBroadcastParams = { ...STRICT, title: trimmed(1, 200), message: trimmed(1, 2000) } as const;
export const listBroadcastsParams = {
	...STRICT,
	...pageParams(["createdAt", "sentAt"] as const),
	status: { type: "enum", values: ["DRAFT", "SENT", "ARCHIVED"], optional: true },
} as const;
export const broadcastStatusParams = { ...STRICT, id: uuid, status: { type: "enum", values: ["DRAFT", "SENT", "ARCHIVED"] } } as const;

export type ListUsersParams = Infer<typeof listUsersParams>;
export type SetRoleParams = Infer<typeof setRoleParams>;
export type SetStatusParams = Infer<typeof setStatusParams>;
export type UserIdParams = Infer<typeof userIdParams>;
export type UserStatsParams = Infer<typeof userStatsParams>;
export type LogsParams = Infer<typeof logsParams>;
export type DeadLettersParams = Infer<typeof deadLettersParams>;
export type ReplayDeadLetterParams = Infer<typeof replayDeadLetterParams>;
export type ClearLogsParams = Infer<typeof clearLogsParams>;
export type AuditListParams = Infer<typeof auditListParams>;
export type ComplianceParams = Infer<typeof complianceParams>;
export type UpdateConfigParams = Record<string, unknown>;
export type MaintenanceParams = Infer<typeof maintenanceParams>;
export const maintenanceIdParams = { ...STRICT, id: uuid } as const;
export type MaintenanceIdParams = Infer<typeof maintenanceIdParams>;
export type CreateBroadcastParams = Infer<typeof createBroadcastParams>;
export type ListBroadcastsParams = Infer<typeof listBroadcastsParams>;
export type BroadcastStatusParams = Infer<typeof broadcastStatusParams>;
