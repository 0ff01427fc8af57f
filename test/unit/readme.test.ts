/** The README is the user's guide: it must name every setting, service, node and npm script that exists. */
import fs from "node:fs";
import path from "node:path";
import { ENV_VARS } from "../../lib/config";
import { NODES } from "../../lib/topology";
import { availableServices } from "../../lib/app";

const ROOT = path.resolve(__dirname, "..", "..");
const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
const configSection = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("## Running as a cluster"));

describe("README", () => {
	it("documents every environment variable the app reads, in the configuration table", () => {
		const missing = ENV_VARS.filter((name) => !configSection.includes(`\`${name}\``));
		expect(missing).toEqual([]);
	});

	it("names no environment variable the app does not read", () => {
		const documented = [...configSection.matchAll(/^\| `([A-Z_]+)`(?:, `([A-Z_]+)`)?/gm)].flatMap((m) => [m[1], m[2]]).filter(Boolean);
		expect(documented.filter((name) => !(ENV_VARS as readonly string[]).includes(name))).toEqual([]);
	});

	it("lists every domain service's route prefix and reference doc", () => {
		for (const service of availableServices().filter((s) => s !== "gateway" && s !== "kafka-bridge")) {
			expect(readme).toContain(`\`/api/v1/${service}\``);
			expect(fs.existsSync(path.join(ROOT, "docs", `${service}.md`))).toBe(true);
		}
	});

	it("gives every node's port", () => {
		for (const node of NODES) expect(readme).toMatch(new RegExp(`${node.name} ${node.port}`));
	});

	it("shows the two commands and every bench script", () => {
		expect(readme).toContain("npm install && npm start");
		expect(readme).toContain("npm test");
		const scripts = Object.keys(
			(JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts,
		);
		for (const bench of scripts.filter((s) => s.startsWith("bench:"))) expect(readme).toContain(`npm run ${bench}`);
	});
});
