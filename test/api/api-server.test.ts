import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { request } from 'node:http';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiServer, type ApiServerOptions } from '../../daemon/api/api-server.js';
import { parseListenAddress, type ListenAddress } from '../../daemon/util/listen-address.js';
import type { StatusReport } from '../../daemon/api/status.js';
import { LatencyTracker } from '../../daemon/health/latency.js';
import type { ResultRecord } from '../../daemon/gallery/types.js';
import { UserError } from '../../daemon/util/errors.js';
import { silentLogger } from '../../daemon/util/log.js';
import { FakePipeline, fakeBroker, get, shortTempDir } from './helpers.js';

async function startApi(t: Test, options: Partial<ApiServerOptions> & { pipeline: FakePipeline }): Promise<ApiServer> {
  const api = new ApiServer({ listen: '127.0.0.1:0', model: 'test-model-v1', executionProvider: 'cpu', version: '9.9.9', logger: silentLogger(), ...options });
  await api.start();
  t.teardown(() => api.stop());
  return api;
}

/** Opens /events and collects its events as they arrive. */
function subscribe(address: ListenAddress): Promise<{ events: { event: string; data: unknown }[]; next(): Promise<{ event: string; data: unknown }>; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { ...(address.kind === 'unix' ? { socketPath: address.path } : { host: address.host, port: address.port }), path: '/events' },
      (res) => {
        const events: { event: string; data: unknown }[] = [];
        const waiters: ((e: { event: string; data: unknown }) => void)[] = [];
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (!event || data === undefined) continue;
            const e = { event, data: JSON.parse(data) as unknown };
            events.push(e);
            waiters.shift()?.(e);
          }
        });
        const closed = new Promise<void>((done) => res.on('close', () => done()));
        t.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
        resolve({ events, next: () => new Promise((r) => waiters.push(r)), closed });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

t.test('GET /status over loopback TCP: counters, broker, latency, version and model', async (t) => {
  const pipeline = new FakePipeline();
  const latency = new LatencyTracker(pipeline);
  latency.start();
  const api = await startApi(t, { pipeline, broker: fakeBroker, latency });
  pipeline.result({ latencyMs: 120 });
  pipeline.result({ latencyMs: 8, fromCache: true });
  const reply = await get(api.listening, '/status');
  t.equal(reply.status, 200);
  t.match(reply.headers['content-type'], /^application\/json/);
  const status = JSON.parse(reply.body) as StatusReport;
  t.same(status.counters, {
    frames: 7, frames_dropped: 2, frames_gated: 4, extracted: 6, real_queries: 3, dummy_queries: 11,
    results: 5, cache_hits: 2, unknown: 1, errors: 1, superseded: 0, frames_off_gallery: 3, frames_held_back: 4, failed_queries: 2,
    frames_retried: 4, frames_failed: 1,
  });
  t.equal(status.broker?.state, 'connected');
  t.equal(status.broker?.bytes_in, 90000);
  t.same(status.queues, { scheduler: 1, broker_pending: 1 });
  t.equal(status.latency_ms?.all.count, 2);
  t.equal(status.latency_ms?.queried.p50, 120);
  t.equal(status.latency_ms?.cached.p99, 8);
  t.equal(status.version, '9.9.9');
  t.equal(status.model, 'test-model-v1');
  t.equal(status.execution_provider, 'cpu', 'the provider the extractor runs on');
  t.ok(status.uptime_s >= 0 && status.uptime_s < 60);
  t.equal(status.telemetry, null, 'no telemetry source given');
  t.equal(status.thermal, null);
  pipeline.counters = { ...pipeline.counters, frames: 8 };
  t.equal((JSON.parse((await get(api.listening, '/status')).body) as StatusReport).counters.frames, 8, 'read live, not cached');
  latency.stop();
});

t.test('over a unix socket: owner/group only, stale socket replaced, a live one refused, removed on stop', async (t) => {
  const dir = shortTempDir(t);
  const path = join(dir, 'run', 'api.sock');
  const pipeline = new FakePipeline();
  const first = new ApiServer({ listen: `unix:${path}`, pipeline, model: 'm', version: 'v', logger: silentLogger() });
  await first.start();
  t.equal(statSync(path).mode & 0o777, 0o660);
  const status = JSON.parse((await get(first.listening, '/status')).body) as StatusReport;
  t.equal(status.counters.real_queries, 3);

  const second = new ApiServer({ listen: `unix:${path}`, pipeline, model: 'm', version: 'v', logger: silentLogger() });
  await t.rejects(second.start(), { name: 'UserError', message: /another process already serves/ });
  await first.stop();
  t.notOk(existsSync(path), 'socket removed on stop');

  // A daemon killed with SIGKILL leaves its socket file behind.
  const killed = spawnSync(process.execPath, [
    '-e',
    "require('node:net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))",
    path,
  ]);
  t.equal(killed.signal, 'SIGKILL');
  t.ok(existsSync(path), 'a dead socket file is there');
  const third = new ApiServer({ listen: `unix:${path}`, pipeline, model: 'm', version: 'v', logger: silentLogger() });
  await third.start();
  t.equal((await get(third.listening, '/status')).status, 200, 'the stale socket was replaced');
  await third.stop();

  writeFileSync(path, 'not a socket');
  const fourth = new ApiServer({ listen: `unix:${path}`, pipeline, model: 'm', version: 'v', logger: silentLogger() });
  await t.rejects(fourth.start(), { name: 'UserError', message: /not a socket/ });
});

t.test('GET /events streams the results the pipeline emits', async (t) => {
  const pipeline = new FakePipeline();
  const api = await startApi(t, { pipeline });
  const stream = await subscribe(api.listening);
  const next = stream.next();
  pipeline.result({ spotId: 'fountain', score: 0.87, info: { name: 'The fountain' }, latencyMs: 55 });
  const e = await next;
  t.equal(e.event, 'result');
  t.match(e.data, { spot_id: 'fountain', score: 0.87, info: { name: 'The fountain' }, latency_ms: 55, from_cache: false, label: 'spot-a.jpg' });
  t.equal((JSON.parse((await get(api.listening, '/status')).body) as StatusReport).events.clients, 1);
  await api.stop();
  await stream.closed;
  t.pass('stop() closed the stream');
  t.equal(pipeline.listenerCount('result'), 0, 'no listener left on the pipeline');
});

t.test('a client that stops reading is dropped; the pipeline and other clients go on', async (t) => {
  const pipeline = new FakePipeline();
  const api = await startApi(t, { pipeline, sseMaxBufferedBytes: 64 * 1024 });
  const address = api.listening;
  if (address.kind !== 'tcp') throw new Error('tcp expected');
  // A raw client that sends the request and then never reads.
  const stalled = connect(address.port, address.host);
  await new Promise<void>((r) => stalled.once('connect', () => r()));
  stalled.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  stalled.pause();
  const stalledClosed = new Promise<void>((r) => stalled.once('close', () => r()));
  const healthy = await subscribe(address);
  await new Promise((r) => setTimeout(r, 50));

  const info = { name: 'x'.repeat(8_000) };
  const started = performance.now();
  let emitted = 0;
  // Results leave one at a time, as the pipeline emits them; the stalled client's kernel buffers fill first, then its
  // in-process buffer passes the bound.
  while (emitted < 20_000 && api.status().events.dropped_clients === 0) {
    pipeline.result({ spotId: `s${emitted++}`, info });
    await new Promise((r) => setImmediate(r));
  }
  t.equal(api.status().events.dropped_clients, 1, `the stalled client, and only it, was dropped after ${emitted} results`);
  t.equal(api.status().events.clients, 1, 'the reading client is still connected');
  t.ok(performance.now() - started < 20_000, 'emitting never blocked');
  stalled.resume();
  await stalledClosed;
  const next = healthy.next();
  pipeline.result({ spotId: 'after-drop' });
  // The healthy client may still be catching up on the big events first.
  let e = await next;
  while ((e.data as { spot_id: string }).spot_id !== 'after-drop') e = await healthy.next();
  t.pass('the reading client still receives results');
  stalled.destroy();
});

t.test('GET /metrics: Prometheus text with the counters, one registry per API instance', async (t) => {
  const pipeline = new FakePipeline();
  const a = await startApi(t, { pipeline, broker: fakeBroker });
  const b = await startApi(t, { pipeline: new FakePipeline() });
  const reply = await get(a.listening, '/metrics');
  t.equal(reply.status, 200);
  t.match(reply.headers['content-type'], /^text\/plain/);
  t.match(reply.body, /^enfpire_frames_total 7$/m);
  t.match(reply.body, /^enfpire_queries_total\{kind="real"\} 3$/m);
  t.match(reply.body, /^enfpire_queries_total\{kind="dummy"\} 11$/m);
  t.match(reply.body, /^enfpire_errors_total 1$/m);
  t.match(reply.body, /^enfpire_frames_off_gallery_total 3$/m, 'frames kept off the wire are counted');
  t.match(reply.body, /^enfpire_frames_held_back_total 4$/m, 'frames held back until their spot is on the wire are counted');
  t.match(reply.body, /^enfpire_failed_queries_total 2$/m, 'failed queries are counted');
  t.match(reply.body, /^enfpire_frames_retried_total 4$/m, 'retried real frames are counted');
  t.match(reply.body, /^enfpire_frames_failed_total 1$/m, 'and frames that failed for good');
  t.match(reply.body, /^enfpire_broker_unauthenticated 2$/m, 'answers refused for their signature are counted');
  t.match(reply.body, /^enfpire_broker_connected 1$/m);
  t.match(reply.body, /^enfpire_build_info\{version="9\.9\.9",model="test-model-v1",provider="cpu"\} 1$/m);
  t.match(reply.body, /# TYPE enfpire_frames_total counter/);
  pipeline.counters = { ...pipeline.counters, frames: 100 };
  t.match((await get(a.listening, '/metrics')).body, /^enfpire_frames_total 100$/m, 'read at scrape time');
  const other = (await get(b.listening, '/metrics')).body;
  t.match(other, /^enfpire_frames_total 7$/m, 'the second instance has its own registry');
  t.match(other, /^enfpire_broker_connected nan$/im, 'no broker: NaN, not a false 0');
  t.match(other, /^enfpire_cpu_temperature_celsius nan$/im, 'no telemetry: NaN');
});

t.test('GET /results?limit=N from the history provider', async (t) => {
  const records: ResultRecord[] = [
    { at: 3000, spotId: 'c', score: 0.9, label: 'c.jpg' },
    { at: 2000, spotId: null, score: 0.2 },
    { at: 1000, spotId: 'a', score: 0.8 },
  ];
  const limits: (number | undefined)[] = [];
  const history = { history: (limit?: number) => (limits.push(limit), records.slice(0, limit)) };
  const api = await startApi(t, { pipeline: new FakePipeline(), history });
  const reply = await get(api.listening, '/results?limit=2');
  t.equal(reply.status, 200);
  t.same(JSON.parse(reply.body), {
    results: [
      { at: new Date(3000).toISOString(), label: 'c.jpg', spot_id: 'c', score: 0.9 },
      { at: new Date(2000).toISOString(), label: null, spot_id: null, score: 0.2 },
    ],
  });
  t.equal((await get(api.listening, '/results')).status, 200);
  t.same(limits, [2, 50], 'default limit 50');
  for (const bad of ['0', '-1', 'abc', '1.5', '100000']) t.equal((await get(api.listening, `/results?limit=${bad}`)).status, 400, `limit=${bad}`);
  const without = await startApi(t, { pipeline: new FakePipeline() });
  t.equal((await get(without.listening, '/results')).status, 404);
});

t.test('read-only, loopback only: other methods, unknown paths and foreign Host headers are refused', async (t) => {
  const api = await startApi(t, { pipeline: new FakePipeline() });
  t.equal((await get(api.listening, '/status', { method: 'POST' })).status, 405);
  t.equal((await get(api.listening, '/nope')).status, 404);
  t.equal((await get(api.listening, '/status', { host: 'attacker.example:8765' })).status, 403, 'DNS rebinding');
  t.equal((await get(api.listening, '/status', { host: 'localhost:8765' })).status, 200);
  t.equal((await get(api.listening, '/status', { host: '[::1]:8765' })).status, 200);
});

t.test('api.listen: non-loopback TCP addresses are refused with a clear sentence', async (t) => {
  for (const listen of ['0.0.0.0:8765', '192.168.1.20:8765', '[::]:8765', 'example.com:8765', '10.0.0.1:80']) {
    t.throws(() => parseListenAddress(listen), UserError, listen);
    t.throws(() => new ApiServer({ listen, pipeline: new FakePipeline(), model: 'm', version: 'v', logger: silentLogger() }), {
      message: /api\.listen .* is not a loopback address .*never be reachable from the network/,
    });
  }
  for (const listen of ['8765', 'unix:relative.sock', '127.0.0.1:99999', '127.0.0.1:']) t.throws(() => parseListenAddress(listen), UserError, listen);
  t.same(parseListenAddress('127.0.0.1:8765'), { kind: 'tcp', host: '127.0.0.1', port: 8765 });
  t.same(parseListenAddress('127.8.9.1:1'), { kind: 'tcp', host: '127.8.9.1', port: 1 });
  t.same(parseListenAddress('[::1]:8765'), { kind: 'tcp', host: '::1', port: 8765 });
  t.same(parseListenAddress('localhost:8765'), { kind: 'tcp', host: 'localhost', port: 8765 });
  t.same(parseListenAddress('unix:/run/enfpire/api.sock'), { kind: 'unix', path: '/run/enfpire/api.sock' });
});

t.test('an address in use is one sentence naming api.listen', async (t) => {
  const first = await startApi(t, { pipeline: new FakePipeline() });
  const port = first.listening.kind === 'tcp' ? first.listening.port : 0;
  const second = new ApiServer({ listen: `127.0.0.1:${port}`, pipeline: new FakePipeline(), model: 'm', version: 'v', logger: silentLogger() });
  await t.rejects(second.start(), { name: 'UserError', message: /api\.listen '127\.0\.0\.1:\d+': the address is in use/ });
});
