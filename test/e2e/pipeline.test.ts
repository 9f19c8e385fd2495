/**
 * End to end through a real Mosquitto: enrol the bundled sample spots with the real model, run the recognizer and
 * the edge daemon as separate MQTT v5 clients, replay camera views the gallery never saw, and check both what the
 * user gets (the right spot) and what the broker carried (nothing close to a real feature).
 */
import t from 'tap';
import mqtt from 'mqtt';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadEdgeConfig, loadRecognizerConfig } from '../../daemon/config/load.js';
import { EdgeRuntime } from '../../daemon/edge/edge-runtime.js';
import type { EdgeResult } from '../../daemon/edge/edge-daemon.js';
import { distortPhoto } from '../../daemon/augment/distort.js';
import { OnnxExtractor } from '../../daemon/extractor/onnx-extractor.js';
import { enroll } from '../../daemon/recognizer/enroll.js';
import { RecognizerService } from '../../daemon/recognizer/service.js';
import { decode } from '../../daemon/transport/codec.js';
import { wireLimitsFor } from '../../daemon/transport/limits.js';
import { parseRequestTopic, requestFilter } from '../../daemon/transport/messages.js';
import { silentLogger } from '../../daemon/util/log.js';
import { defaultModelManifest, sampleSpotsDir } from '../../daemon/util/paths.js';
import { listSpotPhotos } from '../../daemon/util/spots-dir.js';
import { cosine } from '../../daemon/util/vector.js';
import { startMosquitto } from '../helpers/mosquitto.js';

const VIEWS_PER_SPOT = 2;

t.test('real queries resolve to the right spot and the broker never carries a real feature', async (t) => {
  const dir = t.testdir();
  const logger = silentLogger();
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());

  // Gallery from the sample photos, and camera views of them (different pixels: crop, rotation, exposure, noise, JPEG).
  const extractor = new OnnxExtractor({ manifestPath: defaultModelManifest });
  await extractor.start();
  const galleryPath = join(dir, 'recognizer.db');
  await enroll({ spotsDir: sampleSpotsDir, outPath: galleryPath, extractor });
  const viewsDir = join(dir, 'camera');
  const originals: Float32Array[] = [];
  let views = 0;
  for (const spot of await listSpotPhotos(sampleSpotsDir)) {
    await mkdir(join(viewsDir, spot.id), { recursive: true });
    const photo = await readFile(spot.files[0]);
    for (let v = 0; v < VIEWS_PER_SPOT; v++) {
      const view = await distortPhoto(photo, 7_000 + views);
      await writeFile(join(viewsDir, spot.id, `view-${v}.jpg`), view);
      originals.push(await extractor.extract(view));
      views++;
    }
  }
  await extractor.stop();

  // An observer on the broker: everything published on the query topic, decoded as the server would.
  const spy = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  t.teardown(() => spy.endAsync());
  const carried: Float32Array[] = [];
  spy.on('message', (topic, payload) => {
    if (parseRequestTopic(topic)?.kind !== 'query') return;
    const msg = decode(payload, wireLimitsFor(originals[0].length));
    if (msg.type === 'query') carried.push(msg.vector);
  });
  await spy.subscribeAsync(requestFilter('query'));

  const recognizerFile = join(dir, 'recognizer.yaml');
  await writeFile(recognizerFile, stringify({ broker: { url: broker.url }, gallery: galleryPath, model: defaultModelManifest, index: { kind: 'hnsw' } }));
  const recognizer = new RecognizerService({ config: await loadRecognizerConfig(recognizerFile), logger });
  await recognizer.start();
  t.teardown(() => recognizer.stop());

  const edgeFile = join(dir, 'edge.yaml');
  await writeFile(
    edgeFile,
    stringify({
      camera: { kind: 'files', dir: viewsDir, fps: 3, loop: false, gate: { enabled: false } },
      model: { manifest: defaultModelManifest },
      // Every view is another spot a moment later; 'immediate' sends each as a real query (the default, 'deferred',
      // names most of them from the region pack: test/edge/deferred-arrival.test.ts).
      privacy: { transform: { kind: 'kmix', k: 4, arrival: 'immediate' } },
      transport: { url: broker.url, rotateIdentityMinutes: 0 },
      gallery: { path: join(dir, 'edge.db') },
      // The cache would answer repeat views locally; switch it off so every view goes over the wire.
      resolver: { cacheThreshold: 1 },
      scheduler: { mode: 'constant', ratePerSecond: 8 },
      api: { enabled: false },
    }),
  );
  const edge = new EdgeRuntime({ config: await loadEdgeConfig(edgeFile), logger });
  const results: EdgeResult[] = [];
  edge.on('result', (r: EdgeResult) => results.push(r));
  await edge.start();
  t.teardown(() => edge.stop());
  await edge.edge.finished;
  const stats = edge.edge.stats();
  await edge.stop();

  const correct = results.filter((r) => r.spotId !== null && r.spotId === r.label?.split('/')[0]).length;
  t.ok(correct / views >= 0.9, `user top-1 ${correct}/${views} with privacy on (k = 4) is at least 0.9`);
  t.ok(stats.realQueries >= views * 0.9, `every view went to the server as a real query (${stats.realQueries} of ${views})`);
  t.ok(stats.dummyQueries > 0, `cover traffic sent dummy queries (${stats.dummyQueries})`);
  t.ok(carried.length >= stats.realQueries + stats.dummyQueries - 1, `the observer saw the queries (${carried.length})`);

  let closest = -1;
  for (const q of carried) for (const f of originals) closest = Math.max(closest, cosine(q, f));
  t.ok(closest < 0.9, `no payload on the broker is close to a real feature (max cosine ${closest.toFixed(3)})`);
});
