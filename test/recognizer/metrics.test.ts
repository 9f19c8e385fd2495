/**
 * The recognizer's /metrics and /healthz (daemon/recognizer/metrics.ts, metrics-server.ts) on a real recognizer
 * serving a real Mosquitto: counts that follow the traffic, nothing that identifies a device or a query, every metric
 * the Grafana dashboard queries, the listener's lifecycle and its errors.
 */
import t, { type Test } from 'tap';
import mqtt from 'mqtt';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadRecognizerConfig } from '../../daemon/config/load.js';
import { loadManifest } from '../../daemon/extractor/manifest.js';
import { MetricsServer } from '../../daemon/recognizer/metrics-server.js';
import { createRecognizerMetrics } from '../../daemon/recognizer/metrics.js';
import { RecognizerService } from '../../daemon/recognizer/service.js';
import { SpotStore, type StoredSpot } from '../../daemon/recognizer/spot-store.js';
import { encode } from '../../daemon/transport/codec.js';
import { wireLimitsFor } from '../../daemon/transport/limits.js';
import { TOPICS, requestTopic } from '../../daemon/transport/messages.js';
import { RecognitionClient, RecognizerError } from '../../daemon/transport/recognition-client.js';
import { UserError } from '../../daemon/util/errors.js';
import { silentLogger } from '../../daemon/util/log.js';
import { defaultModelManifest } from '../../daemon/util/paths.js';
import { get } from '../api/helpers.js';
import { checkDashboardServed } from '../helpers/grafana.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { eventually, vectors } from '../transport/fixtures.js';

const manifest = await loadManifest(defaultModelManifest);
const dimension = manifest.output.dimension;
const limits = wireLimitsFor(dimension);
const broker = await startMosquitto();
t.teardown(() => broker.stop());

/** Spot ids that must never show in /metrics. */
const SPOTS: StoredSpot[] = vectors(12, 7, dimension).map((feature, i) => ({
  id: `secret-spot-${i}`,
  feature,
  region: i % 2 ? 'north' : 'south',
  x: i * 10,
  y: 0,
  popularity: 1,
  info: { name: `Spot ${i}` },
}));

/** A gallery for the shipped model and a profile for it; `metrics` is the profile's metrics section. */
function profile(dir: string, url: string, metrics?: Record<string, unknown>): string {
  const gallery = join(dir, 'gallery.db');
  const store = SpotStore.create(gallery, { model: manifest.id, dimension });
  store.putAll(SPOTS);
  store.close();
  const file = join(dir, 'recognizer.yaml');
  writeFileSync(file, stringify({ broker: { url }, gallery, model: defaultModelManifest, index: { kind: 'exact' }, log: { level: 'silent' }, ...(metrics ? { metrics } : {}) }));
  return file;
}

async function startService(t: Test, url: string, metrics?: Record<string, unknown>): Promise<RecognizerService> {
  const service = new RecognizerService({ config: await loadRecognizerConfig(profile(t.testdir(), url, metrics)), logger: silentLogger() });
  await service.start();
  t.teardown(() => service.stop());
  return service;
}

/** The value of one series of an exposition, e.g. sample(text, 'enfpire_recognizer_queries_total{outcome="answered"}'). */
function sample(exposition: string, series: string): number | undefined {
  const line = exposition.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

t.test('/metrics follows the traffic, by outcome, and names no device, topic or spot', async (t) => {
  const service = await startService(t, broker.url, { enabled: true, listen: '127.0.0.1:0' });
  const address = service.metricsListening!;
  t.match(address, { kind: 'tcp', host: '127.0.0.1' });
  t.not(address.kind === 'tcp' && address.port, 0, 'a free port was bound');

  const before = (await get(address, '/metrics')).body;
  t.equal(sample(before, 'enfpire_recognizer_queries_total{outcome="answered"}'), 0, 'zero before any query, not absent');
  t.equal(sample(before, 'enfpire_recognizer_gallery_spots'), SPOTS.length);
  t.equal(sample(before, 'enfpire_recognizer_broker_connected'), 1);

  const client = new RecognitionClient({ url: broker.url, limits, model: manifest.id, requestTimeoutMs: 3000, infoWaitMs: 1000 });
  await client.start();
  t.teardown(() => client.stop());
  const topMs = [5, 3, 7];
  for (const [i, topM] of topMs.entries()) {
    const reply = await client.query({ type: 'query', model: manifest.id, vector: SPOTS[i].feature, topM });
    t.equal(reply.candidates.length, topM);
  }
  t.equal((await client.fetchRegion('north')).spots.length, SPOTS.length / 2);
  await t.rejects(client.fetchRegion('west'), RecognizerError);

  // A query for another model, from a bare MQTT v5 peer (a device's client refuses to send one).
  const clientId = randomBytes(12).toString('hex');
  const peer = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId });
  t.teardown(() => peer.endAsync());
  const replyTopic = TOPICS.replyPrefix + clientId;
  let peerReplies = 0;
  peer.on('message', () => peerReplies++);
  await peer.subscribeAsync(replyTopic);
  await peer.publishAsync(requestTopic('query', clientId), encode({ type: 'query', model: 'other-model', vector: SPOTS[0].feature, topM: 3 }), {
    qos: 1,
    properties: { responseTopic: replyTopic, correlationData: randomBytes(8) },
  });
  t.ok(await eventually(() => peerReplies === 1), 'the peer got its wrong-model reply');

  const text = (await get(address, '/metrics')).body;
  t.equal(sample(text, 'enfpire_recognizer_queries_total{outcome="answered"}'), topMs.length, 'answered queries');
  t.equal(sample(text, 'enfpire_recognizer_queries_total{outcome="wrong-model"}'), 1, 'rejected: wrong-model');
  t.equal(sample(text, 'enfpire_recognizer_queries_total{outcome="bad-request"}'), 0);
  t.equal(sample(text, 'enfpire_recognizer_region_requests_total{outcome="answered"}'), 1, 'region packs served');
  t.equal(sample(text, 'enfpire_recognizer_region_requests_total{outcome="unknown-region"}'), 1);
  t.equal(sample(text, 'enfpire_recognizer_reply_candidates_count'), topMs.length, 'candidates: one per answered query');
  t.equal(sample(text, 'enfpire_recognizer_reply_candidates_sum'), topMs.reduce((a, b) => a + b), 'candidates: their sum');
  t.equal(sample(text, 'enfpire_recognizer_reply_seconds_count{request="query"}'), topMs.length + 1, 'latency of every query answer');
  t.equal(sample(text, 'enfpire_recognizer_reply_seconds_count{request="region"}'), 2);
  const seconds = sample(text, 'enfpire_recognizer_reply_seconds_sum{request="query"}')!;
  t.ok(seconds > 0 && seconds < 10, `latency sum ${seconds} s`);
  t.match(text, new RegExp(`^enfpire_recognizer_gallery_info\\{model="${manifest.id}",gallery_version="[^"]+",index="exact"\\} 1$`, 'm'));
  t.ok(sample(text, 'enfpire_recognizer_process_resident_bytes')! > 1e6, 'process basics');

  // PRIVACY: nothing that tells devices or queries apart.
  t.notMatch(text, TOPICS.replyPrefix, 'no reply topic');
  t.notMatch(text, replyTopic.slice(TOPICS.replyPrefix.length), "no device's reply address");
  t.notMatch(text, /secret-spot|north|west/, 'no spot id or region asked for');

  const health = await get(address, '/healthz');
  t.equal(health.status, 200);
  t.match(JSON.parse(health.body), { broker: 'connected', spots: SPOTS.length });
  t.equal((await get(address, '/metrics', { method: 'POST' })).status, 405, 'read-only');
  t.equal((await get(address, '/status')).status, 404);
});

t.test('every metric the recognizer dashboard queries is in a real scrape', async (t) => {
  const service = await startService(t, broker.url, { enabled: true, listen: '127.0.0.1:0' });
  const exposition = (await get(service.metricsListening!, '/metrics')).body;
  checkDashboardServed(t, 'grafana-enfpire-recognizer.json', exposition, 12);
  // Labels the dashboard selects on exist with those values.
  t.match(exposition, /^enfpire_recognizer_reply_seconds_bucket\{[^}]*request="region"[^}]*\} \d+$/m);
  t.match(exposition, /^enfpire_recognizer_queries_total\{outcome="answered"\} \d+$/m);
});

t.test('/healthz and broker_connected follow the broker; stop() closes the listener', async (t) => {
  const own: Mosquitto = await startMosquitto();
  t.teardown(() => own.stop());
  const service = new RecognizerService({
    config: await loadRecognizerConfig(profile(t.testdir(), own.url, { enabled: true, listen: '127.0.0.1:0' })),
    logger: silentLogger(),
  });
  await service.start();
  const address = service.metricsListening!;
  t.equal((await get(address, '/healthz')).status, 200);
  await own.stop();
  let health = { status: 0, body: '' };
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && (health = await get(address, '/healthz')).status !== 503) await new Promise((r) => setTimeout(r, 50));
  t.equal(health.status, 503, 'unavailable without the broker');
  t.match(JSON.parse(health.body), { broker: /offline|connecting/ });
  t.equal(sample((await get(address, '/metrics')).body, 'enfpire_recognizer_broker_connected'), 0);

  await service.stop();
  t.equal(service.metricsListening, undefined);
  // A fresh TCP connection (an HTTP agent might hold a kept-alive socket that the server just closed).
  const port = address.kind === 'tcp' ? address.port : 0;
  const refused = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', resolve);
  });
  t.equal(refused?.code, 'ECONNREFUSED', 'nothing listens after stop()');
});

t.test('off unless enabled; a bad metrics.listen is one sentence naming the setting', async (t) => {
  const dir = t.testdir();
  const defaults = await loadRecognizerConfig(profile(dir, broker.url));
  t.same(defaults.metrics, { enabled: false, listen: '127.0.0.1:8767' }, 'off by default, loopback when on');
  const service = await startService(t, broker.url);
  t.equal(service.metricsListening, undefined, 'no listener unless metrics.enabled');

  // Taken: the service fails to start, names the setting and the address, and leaves nothing open.
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const port = (taken.address() as { port: number }).port;
  const busy = new RecognizerService({
    config: await loadRecognizerConfig(profile(t.testdir(), broker.url, { enabled: true, listen: `127.0.0.1:${port}` })),
    logger: silentLogger(),
  });
  const err = await busy.start().then(() => undefined, (e: Error) => e);
  t.type(err, UserError);
  t.match(err?.message, new RegExp(`^the recognizer's metrics listener cannot listen on metrics\\.listen '127\\.0\\.0\\.1:${port}': the address is in use`));
  t.notMatch(err?.message, /\n/, 'one line');
  t.equal(busy.counters(), undefined, 'no broker connection was left behind');

  // Malformed: the loader says so before anything starts.
  await t.rejects(loadRecognizerConfig(profile(t.testdir(), broker.url, { enabled: true, listen: 'localhost:70000' })), {
    name: 'UserError',
    message: /metrics\.listen.*'localhost:70000' is not an address/,
  });
  t.throws(
    () => new MetricsServer({ listen: 'unix:/run/x.sock', metrics: createRecognizerMetrics(() => { throw new Error('unused'); }), health: () => ({ serving: true, body: {} }), logger: silentLogger() }),
    { name: 'UserError', message: /metrics\.listen 'unix:\/run\/x\.sock' must be host:port/ },
  );
});
