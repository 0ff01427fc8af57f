/**
 * Audit trail: every action declared with `audit: true` records who did what to
 * which target, the request id, the client IP and the outcome, in the service's
 * own `audit_log` table. Failures are recorded too; recording never breaks the call.
 */
import type { Context, Service } from "moleculer";
import type { Meta } from "../lib/types";
import type { DbThis, Models } from "./db.mixin";
import { defineMixin } from "../lib/service";

type This = Service & DbThis<Models>;

/** Target of an audited call: `ctx.locals.auditTarget`, the result's id, or an `...Id` param. */
export function auditTarget(ctx: Context<Record<string, unknown>, Meta>, result: unknown): string | null {
	const locals = ctx.locals as { auditTarget?: string };
	if (locals.auditTarget) return locals.auditTarget;
	if (result && typeof result === "object" && "id" in result && typeof result.id === "string") return result.id;
	const params = ctx.params ?? {};
	const key = Object.keys(params).find((k) => k === "id" || /Id$/.test(k));
	return key ? String(params[key]) : null;
}

/** Who did what, from where: the audit row's columns that do not depend on the outcome. */
export function auditActor(ctx: Context<unknown, Meta>): {
	actorId: string | null;
	actorRole: string | null;
	action: string;
	requestId: string | null;
	ip: string | null;
} {
	return {
		actorId: ctx.meta.user?.id ?? null,
		actorRole: ctx.meta.user?.role ?? null,
		action: ctx.action?.name ?? "unknown",
		requestId: ctx.requestID ?? null,
		ip: ctx.meta.ip ?? null,
	};
}

/** The handler wrote its SUCCESS row itself, in its own transaction (e.g. the POS sale): don't write a second one. */
export function markAudited(ctx: Context): void {
	(ctx.locals as { audited?: boolean }).audited = true;
}

async function record(
	this: This,
	ctx: Context<Record<string, unknown>, Meta>,
	outcome: "SUCCESS" | "FAILURE",
	result: unknown,
	errorCode: string | null,
) {
	try {
		await this.db.query(
			`INSERT INTO "${this.dbSchema}".audit_log (actor_id, actor_role, action, target, request_id, ip, outcome, error_code)
			 VALUES (:actorId, :actorRole, :action, :target, :requestId, :ip, :outcome, :errorCode)`,
			{
				replacements: {
					...auditActor(ctx),
					target: auditTarget(ctx, result),
					outcome,
					errorCode,
				},
			},
		);
	} catch (err) {
		this.logger.error("Audit record failed", { action: ctx.action?.name, requestId: ctx.requestID, err: (err as Error).message });
	}
}

export const AuditMixin = defineMixin<This>({
	hooks: {
		after: {
			async "*"(ctx: Context<Record<string, unknown>, Meta>, result: unknown) {
				if (ctx.action?.audit && !(ctx.locals as { audited?: boolean }).audited)
					await record.call(this, ctx, "SUCCESS", result, null);
				return result;
			},
		},
		error: {
			async "*"(ctx: Context<Record<string, unknown>, Meta>, err: Error & { type?: string; code?: number }) {
				if (ctx.action?.audit) await record.call(this, ctx, "FAILURE", null, err?.type ?? String(err?.code ?? "ERROR"));
				throw err;
			},
		},
	},
});
