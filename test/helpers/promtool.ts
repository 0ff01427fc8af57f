/** promtool (Prometheus' checker) on PATH or in /usr/bin, as Debian's `prometheus` package installs it. */
import { spawnSync } from "node:child_process";

export function promtool(): string {
	for (const candidate of ["promtool", "/usr/bin/promtool"]) if (spawnSync(candidate, ["--version"]).status === 0) return candidate;
	throw new Error("promtool not found: apt-get install -y prometheus (or put promtool on PATH)");
}
