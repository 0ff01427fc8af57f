/**
 * Where the project is: its root, version and service folders. Building a
 * broker and loading the folders is bin/broker.ts (it needs moleculer.config.ts,
 * which sits above lib/).
 */
import fs from "node:fs";
import path from "node:path";

export const SERVICES_DIR = path.resolve(__dirname, "..", "services");

/** The project root (holds package.json), from source or from dist/. */
export const PROJECT_ROOT = fs.existsSync(path.resolve(__dirname, "..", "package.json"))
	? path.resolve(__dirname, "..")
	: path.resolve(__dirname, "..", "..");

export function packageVersion(): string {
	return (JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8")) as { version: string }).version;
}

/** Service folders present in this build, e.g. ["auth", "gateway", "sales"]. */
export function availableServices(): string[] {
	return fs
		.readdirSync(SERVICES_DIR, { withFileTypes: true })
		.filter((d) => d.isDirectory() && serviceFiles(d.name).length > 0)
		.map((d) => d.name)
		.sort();
}

/** The service files of a folder (`*.service.ts`, or .js in dist/). */
export function serviceFiles(folder: string): string[] {
	const dir = path.join(SERVICES_DIR, folder);
	return fs
		.readdirSync(dir)
		.filter((f) => /\.service\.(js|ts)$/.test(f) && !f.endsWith(".d.ts"))
		.map((f) => path.join(dir, f));
}
