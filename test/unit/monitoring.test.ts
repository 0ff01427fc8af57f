/**
 * The monitoring files (issue #14 §6, docs/monitoring.md) are checked by Prometheus' own tool:
 * `promtool check rules` and `check config`, the alert unit tests (`promtool test rules`), and
 * every Grafana panel's PromQL (compiled by promtool as recording rules). Prometheus scrapes every
 * node of lib/topology.ts at its operator port, the alerts the issue names exist, and the dashboard
 * only charts metrics the code emits.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse } from "yaml";
import { NODES } from "../../lib/topology";
import { APP_METRICS } from "../../lib/metrics";
import { BUSINESS_METRICS } from "../../lib/business-metrics";
import { isOpenAt } from "../../services/sales/metrics.service";
import { promtool } from "../helpers/promtool";

const ROOT = path.resolve(__dirname, "..", "..");
const PROM = path.join(ROOT, "deploy", "prometheus");
const GRAFANA = path.join(ROOT, "deploy", "grafana");

function run(args: string[], cwd = PROM) {
	const r = spawnSync(promtool(), args, { cwd, encoding: "utf8" });
	return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

interface Panel {
	type: string;
	title: string;
	datasource?: { uid: string };
	targets?: { expr: string; datasource?: { uid: string } }[];
}

describe("Prometheus rules and config", () => {
	it("promtool check rules, check config and the alert unit tests pass", () => {
		const rules = run(["check", "rules", "alerts.yml"]);
		expect(rules).toMatchObject({ status: 0 });
		expect(rules.output).toMatch(/SUCCESS: \d+ rules found/);
		expect(run(["check", "config", "prometheus.yml"])).toMatchObject({ status: 0 });
		const tests = run(["test", "rules", "alerts.test.yml"]);
		expect([tests.status, tests.output]).toEqual([0, expect.stringContaining("SUCCESS")]);
	});

	it("a broken rule is refused (the check can fail)", () => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eislager-rules-"));
		try {
			fs.writeFileSync(
				path.join(dir, "bad.yml"),
				"groups:\n  - name: bad\n    rules:\n      - alert: Broken\n        expr: sum(rate(eislager_sales_total[5m]) > \n",
			);
			expect(run(["check", "rules", "bad.yml"], dir).status).not.toBe(0);
		} finally {
			fs.rmSync(dir, { recursive: true, force: true });
		}
	});

	it("scrapes every node of the topology at its operator port, labelled with the node name", () => {
		const cfg = parse(fs.readFileSync(path.join(PROM, "prometheus.yml"), "utf8")) as {
			rule_files: string[];
			scrape_configs: {
				job_name: string;
				dns_sd_configs?: { names: string[]; port: number }[];
				relabel_configs?: { target_label: string }[];
			}[];
		};
		const job = cfg.scrape_configs.find((j) => j.job_name === "eislager");
		const scraped = (job?.dns_sd_configs ?? []).flatMap((d) => d.names.map((name) => [name, d.port]));
		expect(scraped.sort()).toEqual(NODES.map((n) => [n.name, n.port]).sort());
		expect(job?.relabel_configs?.map((r) => r.target_label)).toContain("node");
		expect(cfg.rule_files).toContain("alerts.yml");
	});

	it("covers every alert the issue asks for", () => {
		const rules = (
			parse(fs.readFileSync(path.join(PROM, "alerts.yml"), "utf8")) as { groups: { rules: { alert: string; expr: string }[] }[] }
		).groups.flatMap((g) => g.rules);
		const expr = (name: string) => rules.find((r) => r.alert === name)?.expr ?? "";
		expect(expr("EisLagerNodeDown")).toMatch(/up\{job="eislager"/);
		expect(expr("EisLagerServiceWithoutNode")).toMatch(/eislager_service_nodes/);
		expect(expr("EisLagerHigh5xxRate")).toMatch(/code="5xx"/);
		expect(expr("EisLagerHighP99Latency")).toMatch(/histogram_quantile\(0\.99/);
		expect(expr("EisLagerOutboxBacklogGrowing")).toMatch(/deriv\(eislager_outbox_backlog/);
		expect(expr("EisLagerKafkaUnreachable")).toMatch(/eislager_kafka_up/);
		expect(expr("EisLagerExpiringStockValue")).toMatch(/eislager_expiring_stock_value_cents/);
		expect(expr("EisLagerPushQueueStuck")).toMatch(/eislager_push_queue_oldest_seconds/);
		expect(expr("EisLagerShopNoSalesWhileOpen")).toMatch(/eislager_shop_open[\s\S]*eislager_sales_total/);
	});
});

describe("Grafana dashboard", () => {
	const dashboards = fs.readdirSync(path.join(GRAFANA, "dashboards")).filter((f) => f.endsWith(".json"));
	const panels = dashboards.flatMap(
		(f) => (JSON.parse(fs.readFileSync(path.join(GRAFANA, "dashboards", f), "utf8")) as { panels: Panel[] }).panels,
	);
	const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));

	it("is provisioned: the data source uid the panels use, the folder the provider loads", () => {
		const ds = parse(fs.readFileSync(path.join(GRAFANA, "provisioning", "datasources", "prometheus.yml"), "utf8")) as {
			datasources: { uid: string; url: string }[];
		};
		const uid = ds.datasources[0].uid;
		expect(ds.datasources[0].url).toBe("http://prometheus:9090");
		for (const p of panels.filter((x) => x.type !== "row")) {
			expect([p.title, p.datasource?.uid]).toEqual([p.title, uid]);
			for (const t of p.targets ?? []) expect(t.datasource?.uid).toBe(uid);
		}
		const provider = parse(fs.readFileSync(path.join(GRAFANA, "provisioning", "dashboards", "eislager.yml"), "utf8")) as {
			providers: { options: { path: string } }[];
		};
		expect(provider.providers[0].options.path).toBe("/var/lib/grafana/dashboards");
	});

	it("charts the figures the issue names, and only metrics the code emits", () => {
		const prom = (name: string) => name.replace(/[.-]/g, "_");
		const emitted = new Set([...Object.values(BUSINESS_METRICS), ...Object.values(APP_METRICS)].map(prom));
		const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(eislager_\w+?)(?:_bucket)?\b(?=[{[)\s]|$)/g)].map((m) => m[1])));
		expect([...used].filter((m) => !emitted.has(m))).toEqual([]);
		for (const figure of [
			"sales_total",
			"revenue_cents_total",
			"stock_low_items",
			"expiring_lots",
			"outbox_backlog",
			"kafka_consumer_lag",
			"socket_connections",
			"http_responses_total",
		]) {
			expect(used).toContain(`eislager_${figure}`);
		}
	});

	it("every panel query is valid PromQL (promtool compiles them as recording rules)", () => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eislager-panels-"));
		try {
			const rules = exprs.map((expr, i) => `      - record: panel:${i}\n        expr: ${JSON.stringify(expr)}`).join("\n");
			fs.writeFileSync(path.join(dir, "panels.yml"), `groups:\n  - name: panels\n    rules:\n${rules}\n`);
			const r = run(["check", "rules", "panels.yml"], dir);
			expect([r.status, r.output]).toEqual([0, expect.stringContaining(`SUCCESS: ${exprs.length} rules found`)]);
		} finally {
			fs.rmSync(dir, { recursive: true, force: true });
		}
	});
});

describe("shop opening hours (eislager_shop_open)", () => {
	const hours = { mon: { open: "10:00", close: "20:00" }, fri: { open: "18:00", close: "02:00" }, sun: null };
	it("is open inside the day's hours in the shop time zone, including a night past midnight", () => {
		// 2026-06-01 is a Monday; Berlin is UTC+2 in summer.
		expect(isOpenAt(hours, new Date("2026-06-01T09:00:00Z"), "UTC")).toBe(false);
		expect(isOpenAt(hours, new Date("2026-06-01T10:00:00Z"), "UTC")).toBe(true);
		expect(isOpenAt(hours, new Date("2026-06-01T19:59:00Z"), "UTC")).toBe(true);
		expect(isOpenAt(hours, new Date("2026-06-01T20:00:00Z"), "UTC")).toBe(false);
		expect(isOpenAt(hours, new Date("2026-06-01T08:30:00Z"), "Europe/Berlin")).toBe(true);
		expect(isOpenAt(hours, new Date("2026-06-01T18:30:00Z"), "Europe/Berlin")).toBe(false);
		// Friday 18:00 to Saturday 02:00.
		expect(isOpenAt(hours, new Date("2026-06-05T23:00:00Z"), "UTC")).toBe(true);
		expect(isOpenAt(hours, new Date("2026-06-06T01:59:00Z"), "UTC")).toBe(true);
		expect(isOpenAt(hours, new Date("2026-06-06T02:00:00Z"), "UTC")).toBe(false);
		expect(isOpenAt(hours, new Date("2026-06-07T12:00:00Z"), "UTC")).toBe(false);
		expect(isOpenAt({}, new Date("2026-06-01T12:00:00Z"), "UTC")).toBe(false);
	});
});
