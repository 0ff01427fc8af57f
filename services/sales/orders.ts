/** The purchase-order state machine and who may make which move. */
import type { OrderStatus } from "./sales.model";

export const TRANSITIONS: Record<OrderStatus, readonly OrderStatus[]> = {
	PENDING: ["CONFIRMED", "CANCELLED"],
	CONFIRMED: ["SHIPPED", "CANCELLED"],
	SHIPPED: ["DELIVERED"],
	DELIVERED: [],
	CANCELLED: [],
};

export type OrderParty = "FACTORY" | "SHOP" | "EXECUTIVE";

/** The factory's manager confirms and ships; the shop's clerk receives, or cancels while PENDING; an executive may make any legal move. */
export function mayTransition(party: OrderParty, from: OrderStatus, to: OrderStatus): boolean {
	if (party === "EXECUTIVE") return true;
	if (party === "FACTORY") return to === "CONFIRMED" || to === "SHIPPED";
	return to === "DELIVERED" || (to === "CANCELLED" && from === "PENDING");
}

export function isLegal(from: OrderStatus, to: OrderStatus): boolean {
	return TRANSITIONS[from].includes(to);
}
