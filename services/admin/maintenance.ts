/**
 * Advance notices of maintenance windows: MAINTENANCE_NOTICE_MINUTES before a
 * window starts (default 15 and 5), every connected socket gets a
 * SYSTEM_ANNOUNCEMENT. Every admin node runs `sendDueNotices` every few seconds;
 * `admin.maintenance_notices` (primary key window + lead) makes it once
 * cluster-wide: the notice is claimed and sent in one transaction, so a failed
 * send is retried on the next tick and a second node finds the claim. When
 * several lead times are due at once (a window scheduled 4 minutes ahead) only
 * the nearest is sent, the others are marked as passed.
 */
import type { ServiceBroker } from "moleculer";
import { QueryTypes, type Sequelize } from "sequelize";
import { pushToSockets } from "../../lib/presence";

interface Upcoming {
	id: string;
	startsAt: Date;
	endsAt: Date;
	message: string;
}

/** The lead times (minutes) due at `now` for a window starting at `startsAt`, nearest last. */
export function dueLeads(leads: readonly number[], startsAt: number, now: number): number[] {
	return leads.filter((lead) => startsAt - lead * 60_000 <= now && now < startsAt);
}

export async function sendDueNotices(db: Sequelize, broker: ServiceBroker, leads: readonly number[]): Promise<number> {
	if (!leads.length) return 0;
	const horizon = Math.max(...leads);
	const windows = await db.query<Upcoming>(
		`SELECT id, starts_at AS "startsAt", ends_at AS "endsAt", message FROM admin.maintenance_windows
		 WHERE deleted_at IS NULL AND starts_at > now() AND starts_at <= now() + make_interval(mins => :horizon) ORDER BY starts_at`,
		{ type: QueryTypes.SELECT, replacements: { horizon } },
	);
	let sent = 0;
	for (const w of windows) {
		const now = Date.now();
		const due = dueLeads(leads, w.startsAt.getTime(), now);
		if (!due.length) continue;
		const nearest = Math.min(...due);
		await db.transaction(async (t) => {
			const claimed = await db.query<{ lead: number }>(
				`INSERT INTO admin.maintenance_notices (window_id, lead_minutes) SELECT :id, unnest(ARRAY[:due]::int[])
				 ON CONFLICT DO NOTHING RETURNING lead_minutes AS lead`,
				{ type: QueryTypes.SELECT, replacements: { id: w.id, due }, transaction: t },
			);
			if (!claimed.some((c) => c.lead === nearest)) return;
			const minutesLeft = Math.max(1, Math.round((w.startsAt.getTime() - now) / 60_000));
			await pushToSockets(broker, {
				event: "SYSTEM_ANNOUNCEMENT",
				rooms: [],
				all: true,
				data: {
					title: `Maintenance in ${minutesLeft} minute${minutesLeft === 1 ? "" : "s"}`,
					message: w.message,
					maintenanceId: w.id,
					leadMinutes: nearest,
					startsAt: w.startsAt.toISOString(),
					endsAt: w.endsAt.toISOString(),
					sentAt: new Date().toISOString(),
				},
			});
			sent += 1;
		});
	}
	return sent;
}
