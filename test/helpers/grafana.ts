/** Reading the Grafana dashboards of monitoring/ for tests: their panels, the PromQL they run, the metrics named in it. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { packageRoot } from '../../daemon/util/paths.js';

export interface Panel {
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
  panels?: Panel[];
}

export interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; query: { query: string } }[] };
  __inputs: { name: string }[];
}

export interface DashboardQuery {
  /** The panel's title, or 'variable NAME'. */
  title: string;
  expr: string;
}

/** monitoring/<file>, its panels (rows flattened) and every query of its panels and variables. */
export function loadDashboard(file: string): { dashboard: Dashboard; panels: Panel[]; queries: DashboardQuery[] } {
  const dashboard = JSON.parse(readFileSync(join(packageRoot, 'monitoring', file), 'utf8')) as Dashboard;
  const flat = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...flat(p.panels ?? [])]);
  const panels = flat(dashboard.panels);
  const queries = [
    ...panels.flatMap((p) => (p.targets ?? []).map((target) => ({ title: p.title, expr: target.expr }))),
    ...dashboard.templating.list.map((v) => ({ title: `variable ${v.name}`, expr: v.query.query })),
  ];
  return { dashboard, panels, queries };
}

/** Metric names in a PromQL expression (ours all start with enfpire_). */
export const metricsIn = (expr: string): string[] => expr.match(/\benfpire_[a-z0-9_]+/g) ?? [];

/**
 * The series names a Prometheus exposition serves: every `# TYPE` family, and for a histogram its _bucket, _sum and
 * _count series, which is what a query names.
 */
export function servedMetrics(exposition: string): Set<string> {
  const served = new Set<string>();
  for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    served.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) served.add(name + suffix);
  }
  return served;
}

/** Asserts that every query of monitoring/<file> names at least one metric, and every metric it names is served. */
export function checkDashboardServed(t: Test, file: string, exposition: string, minMetrics: number): void {
  const served = servedMetrics(exposition);
  const { queries } = loadDashboard(file);
  const used = new Set(queries.flatMap((q) => metricsIn(q.expr)));
  t.ok(used.size >= minMetrics, `${file} queries ${used.size} metrics`);
  for (const q of queries) {
    const names = metricsIn(q.expr);
    t.ok(names.length > 0, `"${q.title}" queries an enfpire metric: ${q.expr}`);
    for (const name of names) t.ok(served.has(name), `"${q.title}": ${name} is in /metrics`);
  }
}
