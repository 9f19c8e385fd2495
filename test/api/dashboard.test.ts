/**
 * monitoring/: every metric the edge's Grafana dashboard queries is one the local API's /metrics serves, both
 * dashboards import anywhere, and the Prometheus scrape configuration points at the endpoints the way they answer (bearer
 * token on the LAN listener). The recognizer's dashboard against a running recognizer: test/recognizer/metrics.test.ts.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ApiServer } from '../../daemon/api/api-server.js';
import { schemaDefault } from '../../daemon/config/load.js';
import { packageRoot } from '../../daemon/util/paths.js';
import { silentLogger } from '../../daemon/util/log.js';
import { checkDashboardServed, loadDashboard, servedMetrics } from '../helpers/grafana.js';
import { allSources, FakePipeline, get } from './helpers.js';

t.test('every metric the dashboard queries is served by /metrics', async (t) => {
  const pipeline = new FakePipeline();
  const api = new ApiServer({
    listen: '127.0.0.1:0',
    ...allSources(pipeline),
    model: 'm',
    version: '1',
    logger: silentLogger(),
  });
  await api.start();
  t.teardown(() => api.stop());
  const exposition = (await get(api.listening, '/metrics')).body;
  const served = servedMetrics(exposition);
  t.ok(served.size > 20, `the API serves ${served.size} metrics`);
  checkDashboardServed(t, 'grafana-enfpire-edge.json', exposition, 20);
  // Labels the dashboard selects on exist with those values.
  t.match(exposition, /^enfpire_queries_total\{kind="dummy"\} \d+$/m);
  t.match(exposition, /^enfpire_result_latency_ms\{path="all",quantile="0\.5"\} \d+/m);
});

for (const [file, uid] of [['grafana-enfpire-edge.json', 'enfpire-edge'], ['grafana-enfpire-recognizer.json', 'enfpire-recognizer']]) {
  t.test(`${file} imports anywhere: Prometheus chosen at import, one instance or all`, async (t) => {
    const { dashboard, panels, queries } = loadDashboard(file);
    t.equal(dashboard.uid, uid);
    t.same(dashboard.__inputs.map((i) => i.name), ['DS_PROMETHEUS']);
    t.ok(panels.length > 5, `${panels.length} panels`);
    for (const panel of panels.filter((p) => p.type !== 'row')) {
      t.equal(panel.datasource?.uid, '${DS_PROMETHEUS}', `${panel.title}: no hard-coded data source`);
      for (const target of panel.targets ?? []) t.equal(target.datasource?.uid, '${DS_PROMETHEUS}', `${panel.title}: no hard-coded data source in a query`);
    }
    for (const q of queries.filter((q) => !q.title.startsWith('variable'))) t.match(q.expr, /instance=~"\$instance"/, `${q.title} follows the instance picker`);
  });
}

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
  const recognizer = config.scrape_configs.find((c) => c.job_name === 'enfpire-recognizer');
  t.equal(recognizer?.metrics_path, '/metrics', 'an enfpire-recognizer job');
  t.same(recognizer?.static_configs[0].targets, [schemaDefault('recognizer', 'metrics.listen')], "the recognizer's default metrics.listen");
});
