/**
 * The status registry (daemon/api/status-registry.ts) is the one list of counters and gauges: every entry shows in
 * /status, on /metrics and in `enfpire status`, /metrics serves nothing else but the two families the registry says
 * it leaves out, and the camera's health (restarts, stalls, delivered and dropped frame rates) comes through the paced
 * source into all three.
 */
import t, { type Test } from 'tap';
import { ApiServer, type ApiServerOptions } from '../../daemon/api/api-server.js';
import { formatListenAddress } from '../../daemon/util/listen-address.js';
import type { PipelineStats } from '../../daemon/api/sources.js';
import type { StatusReport } from '../../daemon/api/status.js';
import { metricValue, STATUS_ENTRIES, statusValue, summaryText } from '../../daemon/api/status-registry.js';
import type { Frame, FrameSource, SourceHealth } from '../../daemon/camera/types.js';
import { runStatusCommand } from '../../daemon/cli/status-command.js';
import { PacedFrameSource } from '../../daemon/health/paced-source.js';
import { silentLogger } from '../../daemon/util/log.js';
import { allSources, FakePipeline, get } from './helpers.js';

/** The families /metrics serves outside the registry, as status-registry.ts names them. */
const OUTSIDE = ['enfpire_build_info', 'enfpire_result_latency_ms'];

/** An API with every source present, so every section of /status has its readings. */
async function fullApi(t: Test, pipeline: FakePipeline, more: Partial<ApiServerOptions> = {}): Promise<ApiServer> {
  const api = new ApiServer({
    listen: '127.0.0.1:0',
    ...allSources(pipeline),
    model: 'test-model-v1',
    version: '1.2.3',
    logger: silentLogger(),
    ...more,
  });
  await api.start();
  t.teardown(() => api.stop());
  return api;
}

/** /status, /metrics and `enfpire status` of one API. */
async function views(api: ApiServer): Promise<{ status: StatusReport; metrics: string; summary: string }> {
  const status = JSON.parse((await get(api.listening, '/status')).body) as StatusReport;
  const metrics = (await get(api.listening, '/metrics')).body;
  let summary = '';
  await runStatusCommand(['--api', formatListenAddress(api.listening)], (text) => (summary += text));
  return { status, metrics, summary };
}

function sample(name: string, labels: Record<string, string> | undefined): RegExp {
  const labelText = labels ? `\\{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}\\}` : '';
  return new RegExp(`^${name}${labelText} (\\S+)$`, 'm');
}

t.test('every registry entry shows in /status, on /metrics and in enfpire status', async (t) => {
  const api = await fullApi(t, new FakePipeline());
  const { status, metrics, summary } = await views(api);
  t.ok(STATUS_ENTRIES.length > 50, `${STATUS_ENTRIES.length} entries`);
  for (const entry of STATUS_ENTRIES) {
    const value = statusValue(status, entry);
    t.not(value, undefined, `${entry.path} is in /status`);
    if (value === undefined) continue;
    const served = sample(entry.metric.name, entry.metric.labels).exec(metrics);
    t.ok(served, `${entry.path} is on /metrics as ${entry.metric.name}`);
    const expected = metricValue(entry, value);
    if (entry.path === 'uptime_s') {
      // Read anew by each of the three requests: it moves on between them.
      t.ok(served && Math.abs(Number(served[1]) - Number(value)) < 5, 'enfpire_uptime_seconds reads uptime_s');
      t.match(summary, /, up \d+s$/m, 'uptime_s is in enfpire status');
      continue;
    }
    if (served && expected !== null) t.equal(Number(served[1]), expected, `${entry.metric.name} reads ${entry.path}`);
    t.ok(summary.includes(summaryText(entry, value)), `${entry.path} is in enfpire status as '${summaryText(entry, value)}'`);
  }
});

t.test('/metrics serves the registry and nothing else but the families it leaves out', async (t) => {
  const api = await fullApi(t, new FakePipeline());
  const { metrics } = await views(api);
  const registered = new Set(STATUS_ENTRIES.map((e) => e.metric.name));
  const served = new Set([...metrics.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
  t.same([...served].filter((name) => !registered.has(name)).sort(), OUTSIDE.sort());
  t.same([...registered].filter((name) => !served.has(name)), [], 'every registered family is served');
});

t.test('the registry is consistent: one series per entry, brackets on the same line', async (t) => {
  const series = new Map<string, string>();
  for (const entry of STATUS_ENTRIES) {
    if (entry.repeats) {
      t.ok(STATUS_ENTRIES.some((e) => e.path === entry.repeats && !e.repeats), `${entry.path} repeats an entry of its own`);
      continue;
    }
    const key = `${entry.metric.name}${JSON.stringify(entry.metric.labels ?? {})}`;
    t.notOk(series.has(key), `${entry.path}: series ${key} is not ${series.get(key) ?? 'taken'}`);
    series.set(key, entry.path);
    const family = STATUS_ENTRIES.filter((e) => !e.repeats && e.metric.name === entry.metric.name);
    for (const other of family) {
      t.equal(other.metric.help, entry.metric.help, `${entry.metric.name}: one help text`);
      t.equal(other.metric.type, entry.metric.type, `${entry.metric.name}: one type`);
      if (family.length > 1) t.ok(other.metric.labels, `${entry.metric.name}: a family of several entries is labelled`);
    }
    t.equal(entry.metric.type === 'counter', entry.metric.name.endsWith('_total'), `${entry.metric.name}: counters, and only they, end in _total`);
    t.ok(entry.metric.help.endsWith('.'), `${entry.metric.name} has help text`);
    const under = entry.summary.under;
    if (under) {
      const parent = STATUS_ENTRIES.find((e) => e.path === under);
      t.equal(parent?.summary.line, entry.summary.line, `${entry.path} is bracketed after ${under} on its line`);
    }
  }
});

t.test('without optional sources: sections are null, gauges have no reading, the summary leaves their lines out', async (t) => {
  const pipeline = new FakePipeline();
  const { camera: _camera, ...source } = pipeline.counters.source;
  pipeline.counters = { ...pipeline.counters, source };
  const api = new ApiServer({ listen: '127.0.0.1:0', pipeline, model: 'm', version: '1', logger: silentLogger() });
  await api.start();
  t.teardown(() => api.stop());
  const { status, metrics, summary } = await views(api);
  for (const section of ['broker', 'telemetry', 'thermal', 'privacy', 'camera', 'latency_ms'] as const) t.equal(status[section], null, `${section} is null`);
  t.equal(status.queues.broker_pending, null);
  t.match(metrics, /^enfpire_camera_delivered_fps Nan$/m, 'a gauge without a reading (prom-client writes NaN so)');
  t.match(metrics, /^enfpire_camera_restarts_total 0$/m, 'a counter without a reading');
  t.match(metrics, /^enfpire_broker_connected Nan$/m);
  t.match(summary, /^broker +unknown$/m);
  t.notMatch(summary, /^(camera|device|memory|thermal|privacy|latency) /m);
});

/** A camera that hands out a frame whenever asked and reports the health it is given. */
class FakeCamera implements FrameSource {
  readonly kind = 'fake';
  produced = 0;
  dropped = 0;
  health_: Omit<SourceHealth, 'kind' | 'produced' | 'dropped'> = {
    running: true,
    badFrames: 1,
    restarts: 2,
    lastFrameAt: null,
    stalled: true,
    stalls: 1,
    lastError: 'no frames for 5 s (stalled); ended by SIGTERM',
  };
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async next(): Promise<Frame | null> {
    this.produced++;
    return { data: Buffer.alloc(1), format: 'encoded', seq: this.produced, capturedAt: Date.now() };
  }
  stats(): { produced: number; dropped: number } {
    return { produced: this.produced, dropped: this.dropped };
  }
  health(): SourceHealth {
    return { kind: this.kind, produced: this.produced, dropped: this.dropped, ...this.health_ };
  }
}

t.test('camera health (restarts, stalls, delivered and dropped fps) reaches /status, /metrics and enfpire status through the paced source', async (t) => {
  let now = 0;
  const camera = new FakeCamera();
  const paced = new PacedFrameSource(camera, 10, () => now);
  await paced.start();
  // Two seconds: 10 frames handed out, 4 overwritten in the camera's mailbox.
  for (let i = 1; i <= 10; i++) {
    now = i * 200;
    if (i % 5 === 0) camera.dropped += 2;
    await paced.next();
  }
  const pipeline = new (class extends FakePipeline {
    override stats(): PipelineStats {
      return { ...this.counters, source: paced.stats() };
    }
  })();
  const api = await fullApi(t, pipeline);
  const { status, metrics, summary } = await views(api);
  t.same(status.camera, {
    kind: 'fake',
    running: true,
    delivered_fps: 5,
    dropped_fps: 2,
    restarts: 2,
    stalls: 1,
    stalled: true,
    bad_frames: 1,
    last_error: 'no frames for 5 s (stalled); ended by SIGTERM',
  });
  t.match(metrics, /^enfpire_camera_up 1$/m);
  t.match(metrics, /^enfpire_camera_delivered_fps 5$/m);
  t.match(metrics, /^enfpire_camera_dropped_fps 2$/m);
  t.match(metrics, /^enfpire_camera_restarts_total 2$/m);
  t.match(metrics, /^enfpire_camera_stalls_total 1$/m);
  t.match(metrics, /^enfpire_camera_stalled 1$/m);
  t.match(metrics, /^enfpire_camera_bad_frames_total 1$/m);
  t.match(metrics, /^# HELP enfpire_camera_stalls_total Times the camera sent no frame/m, 'with help text');
  t.match(summary, /^camera +fake, running, 5 fps delivered, 2 fps dropped, restarts 2, stalls 1 \(stalled now yes\), bad frames 1$/m);

  // The rates cover the last 10 s: a camera that stops delivering reads 0 once its frames are older than that.
  now = 13_000;
  const later = JSON.parse((await get(api.listening, '/status')).body) as StatusReport;
  t.match(later.camera, { delivered_fps: 0, dropped_fps: 0, restarts: 2 });
  await paced.stop();
});
