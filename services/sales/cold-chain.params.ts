/** Param schemas of lot quarantine, release, write-off, the waste forecast and reorder suggestions. */
import { STRICT, isoDate, uuid, type Infer } from "../../lib/params";

const lotIds = { type: "array", min: 1, max: 200, unique: true, items: uuid } as const;
const horizon = (fallback: number) => ({ type: "number", integer: true, min: 1, max: 60, default: fallback, convert: true }) as const;

export const LOT_STATUSES = ["SELLABLE", "RECALLED", "QUARANTINED"] as const;
/** Reasons a manager may give for writing lots off by hand (recall and expiry have their own flows). */
export const MANUAL_WRITE_OFF_REASONS = ["QUARANTINE", "DAMAGE"] as const;

export const listLotsParams = { ...STRICT, shopId: uuid, status: { type: "enum", values: LOT_STATUSES, optional: true } } as const;
export const releaseLotsParams = { ...STRICT, shopId: uuid, lotIds } as const;
export const writeOffLotsParams = { ...STRICT, shopId: uuid, lotIds, reason: { type: "enum", values: MANUAL_WRITE_OFF_REASONS } } as const;
export const placeLotParams = { ...STRICT, shopId: uuid, lotId: uuid, freezerId: { ...uuid, nullable: true } } as const;
export const wasteForecastParams = { ...STRICT, shopId: uuid, days: horizon(7), asOf: { ...isoDate, optional: true } } as const;
export const reorderParams = { ...STRICT, shopId: uuid, days: horizon(7) } as const;

export type ListLotsParams = Infer<typeof listLotsParams>;
export type ReleaseLotsParams = Infer<typeof releaseLotsParams>;
export type WriteOffLotsParams = Infer<typeof writeOffLotsParams>;
export type PlaceLotParams = Infer<typeof placeLotParams>;
export type WasteForecastParams = Infer<typeof wasteForecastParams>;
export type ReorderParams = Infer<typeof reorderParams>;
