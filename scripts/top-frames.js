// The top self-time frames of a .cpuprofile (node --cpu-prof, or bench:gateway with BENCH_CPU_PROFILE=dir):
//   node scripts/top-frames.js file.cpuprofile [count]
const fs = require("fs");
const file = process.argv[2];
const n = Number(process.argv[3] || 15);
const p = JSON.parse(fs.readFileSync(file, "utf8"));
const byId = new Map(p.nodes.map((x) => [x.id, x]));
const self = new Map();
const dt = p.timeDeltas; let total = 0;
const counts = new Map();
for (let i = 0; i < p.samples.length; i++) { counts.set(p.samples[i], (counts.get(p.samples[i]) || 0) + (dt[i] || 0)); total += dt[i] || 0; }
const label = (cf) => { const u = cf.url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*\/(dist|edgeperf)\//, "").replace(/^node:/, "node:"); return `${cf.functionName || "(anonymous)"} ${u ? u.split("/").slice(-2).join("/") + ":" + (cf.lineNumber + 1) : ""}`; };
for (const [id, t] of counts) { const node = byId.get(id); const k = label(node.callFrame); self.set(k, (self.get(k) || 0) + t); }
const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, n);
console.log(`total ${(total / 1000).toFixed(0)} ms sampled`);
for (const [k, t] of rows) console.log(`${(100 * t / total).toFixed(1).padStart(5)} %  ${k}`);
