/** fastest-validator schemas of the analytics routes and the param types derived from them. */
import { STRICT, uuid, isoDate, type Infer } from "../../lib/params";
import { ROLES } from "../../lib/types";
import { REPORT_TYPES } from "./analytics.model";

const range = { from: { ...isoDate, optional: true }, to: { ...isoDate, optional: true } } as const;
const optUuid = { ...uuid, optional: true } as const;

export const shopRangeParams = { ...STRICT, ...range, shopId: optUuid } as const;
export const trendParams = {
	...STRICT,
	...range,
	shopId: optUuid,
	interval: { type: "enum", values: ["day", "week"], default: "day" },
} as const;
export const productParams = {
	...STRICT,
	...range,
	shopId: optUuid,
	limit: { type: "number", integer: true, min: 1, max: 100, default: 20, convert: true },
} as const;
export const factoryRangeParams = { ...STRICT, ...range, factoryId: optUuid } as const;
export const hoursParams = {
	...STRICT,
	...range,
	shopId: optUuid,
	by: { type: "enum", values: ["hour", "weekday"], default: "hour" },
} as const;
/** Grid cell edge in degrees (latitude and longitude). */
export const heatmapParams = {
	...STRICT,
	...range,
	shopId: optUuid,
	cellSize: { type: "number", min: 0.001, max: 10, default: 0.05, convert: true },
} as const;
export const rangeParams = { ...STRICT, ...range } as const;
export const roleParams = { ...STRICT, ...range, role: { type: "enum", values: ROLES } } as const;
export const realTimeParams = {
	...STRICT,
	minutes: { type: "number", integer: true, min: 1, max: 1440, default: 15, convert: true },
} as const;

const filters = { type: "object", optional: true, default: {}, strict: "remove", props: { shopId: optUuid, factoryId: optUuid } } as const;
export const generateParams = { ...STRICT, type: { type: "enum", values: REPORT_TYPES }, from: isoDate, to: isoDate, filters } as const;
export const reportIdParams = { ...STRICT, reportId: uuid } as const;
export const scheduleParams = {
	...STRICT,
	type: { type: "enum", values: REPORT_TYPES },
	interval: { type: "enum", values: ["DAILY", "WEEKLY"] },
	filters,
} as const;
export const runDueParams = { ...STRICT, now: { type: "string", optional: true } } as const;

export type ShopRangeParams = Infer<typeof shopRangeParams>;
export type TrendParams = Infer<typeof trendParams>;
export type ProductParams = Infer<typeof productParams>;
export type FactoryRangeParams = Infer<typeof factoryRangeParams>;
export type HeatmapParams = Infer<typeof heatmapParams>;
export type HoursParams = Infer<typeof hoursParams>;
export type RangeParams = Infer<typeof rangeParams>;
export type RoleParams = Infer<typeof roleParams>;
export type RealTimeParams = Infer<typeof realTimeParams>;
export type GenerateParams = Infer<typeof generateParams>;
export type ReportIdParams = Infer<typeof reportIdParams>;
export type ScheduleParams = Infer<typeof scheduleParams>;
export type RunDueParams = Infer<typeof runDueParams>;
