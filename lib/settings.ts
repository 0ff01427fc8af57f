/**
 * System settings (admin.config) as every node sees them. The admin schema in
 * PostgreSQL is the source of truth; each node keeps a local copy of its
 * snapshot (settings + upcoming maintenance windows), so the hot paths (every
 * gateway request, a registration, a new stock row) never ask across the
 * network:
 *   - the admin node broadcasts `INTERNAL_EVENTS.settingsChanged` with the new
 *     snapshot after every change (reaches every node at once);
 *   - a node loads the snapshot at start (`admin.config.snapshot`) and again every
 *     SETTINGS_REFRESH_MS, which repairs a missed broadcast (a node that was cut off).
 * Snapshots carry the database time they were read at; an older one never replaces a newer one.
 */
import type { ServiceBroker } from "moleculer";
import { call } from "./contracts";

export const THEMES = [
	{ id: "classic", name: "Classic", primary: "#d94f70", background: "#fff8f0" },
	{ id: "pistachio", name: "Pistachio", primary: "#7aa34b", background: "#f6fbef" },
	{ id: "chocolate", name: "Chocolate", primary: "#5a3825", background: "#fbf6f2" },
	{ id: "dark", name: "Dark", primary: "#f2a7bb", background: "#16161a" },
] as const;

export interface SystemSettings {
	siteName: string;
	theme: (typeof THEMES)[number]["id"];
	defaultLanguage: "de" | "en";
	registrationOpen: boolean;
	supportEmail: string;
	logRetentionDays: number;
	lowStockThreshold: number;
}

export const SETTING_DEFAULTS: SystemSettings = {
	siteName: "EisLager",
	theme: "classic",
	defaultLanguage: "de",
	registrationOpen: true,
	supportEmail: "support@eislager.example",
	logRetentionDays: 90,
	lowStockThreshold: 10,
};

export interface MaintenanceWindow {
	id: string;
	startsAt: string;
	endsAt: string;
	message: string;
}

export interface SettingsSnapshot {
	settings: SystemSettings;
	/** Windows not yet over, earliest first. */
	maintenance: MaintenanceWindow[];
	/** Database time (ms) the snapshot was read at. */
	version: number;
}

export const SETTINGS_REFRESH_MS = 30_000;

const EMPTY: SettingsSnapshot = { settings: SETTING_DEFAULTS, maintenance: [], version: 0 };

/** One node's copy. Keyed by broker: tests run several brokers in one process. */
class SettingsCache {
	snapshot: SettingsSnapshot = EMPTY;
	/** Services on this node holding the cache open (refresh timer runs while > 0). */
	users = 0;
	timer: NodeJS.Timeout | undefined;
	loading: Promise<void> | undefined;

	apply(next: SettingsSnapshot | undefined): void {
		if (next && typeof next.version === "number" && next.version >= this.snapshot.version)
			this.snapshot = { ...next, settings: { ...SETTING_DEFAULTS, ...next.settings } };
	}
}

const caches = new WeakMap<ServiceBroker, SettingsCache>();

function cacheOf(broker: ServiceBroker): SettingsCache {
	let cache = caches.get(broker);
	if (!cache) caches.set(broker, (cache = new SettingsCache()));
	return cache;
}

/** The snapshot this node holds (defaults until the first load). */
export function settingsOf(broker: ServiceBroker): SettingsSnapshot {
	return cacheOf(broker).snapshot;
}

/** Replaces the local copy when `snapshot` is not older (the broadcast handler, the admin node itself). */
export function applySettings(broker: ServiceBroker, snapshot: SettingsSnapshot | undefined): void {
	cacheOf(broker).apply(snapshot);
}

/** Asks the admin service for the current snapshot; keeps the old copy when it is not reachable. */
export function loadSettings(broker: ServiceBroker): Promise<void> {
	const cache = cacheOf(broker);
	// No admin node yet: defaults until it starts (it broadcasts its snapshot when it does).
	if (!(broker.registry.getServiceList({ onlyAvailable: true }) as { name: string }[]).some((s) => s.name === "admin.config"))
		return Promise.resolve();
	cache.loading ??= call(broker, "admin.config.snapshot", {}, { timeout: 5000, retries: 0 })
		.then((s) => cache.apply(s))
		.catch((err: unknown) =>
			broker.logger.debug(`Settings not loaded (admin unreachable, keeping the last copy): ${(err as Error).message}`),
		)
		.finally(() => (cache.loading = undefined));
	return cache.loading;
}

/** A service on this node starts using the settings: first load now (not awaited), then refresh periodically. */
export function openSettings(broker: ServiceBroker): void {
	const cache = cacheOf(broker);
	cache.users += 1;
	if (cache.timer) return;
	void loadSettings(broker);
	cache.timer = setInterval(() => void loadSettings(broker), SETTINGS_REFRESH_MS);
	cache.timer.unref();
}

export function closeSettings(broker: ServiceBroker): void {
	const cache = cacheOf(broker);
	cache.users = Math.max(0, cache.users - 1);
	if (cache.users === 0 && cache.timer) {
		clearInterval(cache.timer);
		cache.timer = undefined;
	}
}

/** Whether this node keeps a copy (a service with the settings mixin runs here). */
export function settingsOpen(broker: ServiceBroker): boolean {
	return (caches.get(broker)?.users ?? 0) > 0;
}

/** What a non-ADMIN may call during a maintenance window: sign-in (auth answers MAINTENANCE to non-ADMINs itself) and the public settings. */
export const OPEN_DURING_MAINTENANCE: ReadonlySet<string> = new Set(["auth.login", "auth.google", "auth.refresh", "admin.config.public"]);

/** The maintenance window in force at `now`, if any. */
export function activeMaintenance(snapshot: SettingsSnapshot, now = Date.now()): MaintenanceWindow | undefined {
	return snapshot.maintenance.find((w) => Date.parse(w.startsAt) <= now && now < Date.parse(w.endsAt));
}
