/**
 * Gives a service this node's copy of the system settings (lib/settings.ts):
 * loads it at start, refreshes it periodically and applies the admin node's
 * broadcasts. Read it with `settingsOf(this.broker)`.
 */
import type { Context, Service } from "moleculer";
import { INTERNAL_EVENTS } from "../lib/events";
import { applySettings, closeSettings, openSettings, type SettingsSnapshot } from "../lib/settings";
import { defineMixin } from "../lib/service";

export const SettingsMixin = defineMixin<Service>({
	events: {
		[INTERNAL_EVENTS.settingsChanged]: {
			// Every service with the mixin receives the broadcast; applying the same snapshot twice is harmless.
			handler(this: Service, ctx: Context<SettingsSnapshot>) {
				applySettings(this.broker, ctx.params);
			},
		},
	},
	started(this: Service) {
		openSettings(this.broker);
	},
	stopped(this: Service) {
		closeSettings(this.broker);
	},
});
