/**
 * monitoring/: every metric the Grafana dashboard queries is one the local API's /metrics serves, and the Prometheus
 * scrape configuration points at that endpoint the way the API answers it (bearer token on the LAN listener).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ApiServer } from '../../daemon/api/api-server.js';
import { LatencyTracker } from '../../daemon/health/latency.js';
import { packageRoot } from '../../daemon/util/paths.js';
import { silentLogger } from '../../daemon/util/log.js';
import { FakePipeline, fakeBroker, get } from './helpers.js';

interface Panel {
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
  panels?: Panel[];
}

const dashboard = JSON.parse(readFileSync(join(packageRoot, 'monitoring', 'grafana-enfpire-edge.json'), 'utf8')) as {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; query: { query: string } }[] };
  __inputs: { name: string }[];
};

const flat = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...flat(p.panels ?? [])]);
const queries = [
  ...flat(dashboard.panels).flatMap((p) => (p.targets ?? []).map((target) => ({ title: p.title, expr: target.expr }))),
  ...dashboard.templating.list.map((v) => ({ title: `variable ${v.name}`, expr: v.query.query })),
];
/** Metric names in a PromQL expression (ours all start with enfpire_). */
const metricsIn = (expr: string): string[] => expr.match(/\benfpire_[a-z0-9_]+/g) ?? [];

t.test('every metric the dashboard queries is served by /metrics', async (t) => {
  const pipeline = new FakePipeline();
  const latency = new LatencyTracker(pipeline);
  latency.start();
  pipeline.result({ latencyMs: 30 });
  const api = new ApiServer({
    listen: '127.0.0.1:0',
    pipeline,
    broker: fakeBroker,
    latency,
    telemetry: {
      latest: () => ({
        at: Date.now(),
        cpuTemperatureC: 51.5,
        cpuPercent: 12,
        loadAverage: [0.5, 0.4, 0.3],
        memory: { totalBytes: 8e9, availableBytes: 6e9, usedBytes: 2e9 },
        processRssBytes: 2e8,
        thermalZones: [],
        throttling: null,
        unavailable: {},
      }),
    },
    thermal: { state: () => ({ targetFps: 5, baseFps: 5, throttled: false, temperatureC: 51.5 }) },
    privacy: { privacy: () => ({ transform: 'kmix', k: 4, identityAgeMs: 5000, identityRotations: 1, region: null }) },
    model: 'm',
    version: '1',
    logger: silentLogger(),
  });
  await api.start();
  t.teardown(() => api.stop());
  const exposition = (await get(api.listening, '/metrics')).body;
  const served = new Set([...exposition.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
  t.ok(served.size > 20, `the API serves ${served.size} metrics`);

  const used = new Set(queries.flatMap((q) => metricsIn(q.expr)));
  t.ok(used.size >= 20, `the dashboard queries ${used.size} metrics`);
  for (const q of queries) {
    const names = metricsIn(q.expr);
    t.ok(names.length > 0, `"${q.title}" queries an enfpire metric: ${q.expr}`);
    for (const name of names) t.ok(served.has(name), `"${q.title}": ${name} is in /metrics`);
  }
  // Labels the dashboard selects on exist with those values.
  t.match(exposition, /^enfpire_queries_total\{kind="dummy"\} \d+$/m);
  t.match(exposition, /^enfpire_result_latency_ms\{path="all",quantile="0\.5"\} \d+/m);
});

t.test('the dashboard imports anywhere: Prometheus chosen at import, one device or all', async (t) => {
  t.equal(dashboard.uid, 'enfpire-edge');
  t.same(dashboard.__inputs.map((i) => i.name), ['DS_PROMETHEUS']);
  for (const panel of flat(dashboard.panels).filter((p) => p.type !== 'row')) {
    t.equal(panel.datasource?.uid, '${DS_PROMETHEUS}', `${panel.title}: no hard-coded data source`);
  }
  for (const q of queries.filter((q) => !q.title.startsWith('variable'))) t.match(q.expr, /instance=~"\$instance"/, `${q.title} follows the device picker`);
});

t.test('the Prometheus scrape configuration reads /metrics, with the bearer token on the LAN', async (t) => {
  const config = parse(readFileSync(join(packageRoot, 'monitoring', 'prometheus.yml'), 'utf8')) as {
    scrape_configs: { job_name: string; metrics_path: string; authorization?: { type: string; credentials_file: string }; static_configs: { targets: string[] }[] }[];
  };
  const lan = config.scrape_configs.find((c) => c.job_name === 'enfpire-edge');
  t.ok(lan, 'an enfpire-edge job');
  t.equal(lan?.metrics_path, '/metrics');
  t.same(lan?.authorization?.type, 'Bearer');
  t.match(lan?.authorization?.credentials_file, /^\//, 'the token comes from a file, not the config');
  const local = config.scrape_configs.find((c) => c.job_name === 'enfpire-edge-local');
  t.same(local?.static_configs[0].targets, ['127.0.0.1:8765'], "the API's default loopback address");
});
