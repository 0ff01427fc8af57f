// The top self-time frames of a .cpuprofile (node --cpu-prof, or bench:gateway with BENCH_CPU_PROFILE=dir),
// and the same time grouped by the package (or project file) nearest up the stack, natives and node: internals included:
//   node scripts/top-frames.js file.cpuprofile [count]
const fs = require("fs");
const [file, count] = process.argv.slice(2);
const n = Number(count || 15);
const profile = JSON.parse(fs.readFileSync(file, "utf8"));
const byId = new Map(profile.nodes.map((x) => [x.id, x]));
const parent = new Map();
for (const node of profile.nodes) for (const child of node.children || []) parent.set(child, node.id);
const selfTime = new Map();
let total = 0;
profile.samples.forEach((id, i) => {
	const dt = profile.timeDeltas[i] || 0;
	selfTime.set(id, (selfTime.get(id) || 0) + dt);
	total += dt;
});
const short = (url) =>
	url
		.replace(/^.*node_modules\//, "")
		.replace(/^file:\/\/.*\/dist\//, "")
		.split("/")
		.slice(-2)
		.join("/");
const label = (cf) => `${cf.functionName || "(anonymous)"} ${cf.url ? `${short(cf.url)}:${cf.lineNumber + 1}` : ""}`.trim();
function origin(id) {
	for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
		const url = byId.get(cur).callFrame.url;
		const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url);
		if (pkg) return pkg[1];
		if (/\/dist\//.test(url))
			return `project ${
				url
					.replace(/^.*\/dist\//, "")
					.split("/")
					.slice(0, -1)
					.join("/") || "."
			}`;
	}
	const name = byId.get(id).callFrame.functionName;
	return /^\((idle|garbage collector|program)\)$/.test(name) ? name : "node internals";
}
const frames = new Map();
const origins = new Map();
for (const [id, t] of selfTime) {
	const k = label(byId.get(id).callFrame);
	frames.set(k, (frames.get(k) || 0) + t);
	const o = origin(id);
	origins.set(o, (origins.get(o) || 0) + t);
}
const pct = (t) => `${((100 * t) / total).toFixed(1).padStart(5)} %`;
console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled\n\ntop frames (self time)`);
for (const [k, t] of [...frames].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${pct(t)}  ${k}`);
console.log(`\nby origin (self time, attributed to the nearest package or project frame up the stack)`);
for (const [k, t] of [...origins].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${pct(t)}  ${k}`);
