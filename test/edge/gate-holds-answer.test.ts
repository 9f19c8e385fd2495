/**
 * The region gate on the shipped daemon (decision 37): a frame that matches no spot of the region closely enough
 * sends nothing, and its "unknown" is voted through the smoothing window, so a weak frame of the scene the device
 * has just named keeps that answer while a run of them ends it. A real Mosquitto, the recognizer and the device as
 * `enfpire edge` assembles them, a files camera replaying sharp-made frames once.
 */
import t from 'tap';
import sharp from 'sharp';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SentQuery } from '../../daemon/edge/edge-daemon.js';
import { OnnxExtractor } from '../../daemon/extractor/onnx-extractor.js';
import { defaultModelManifest, sampleSpotsDir } from '../../daemon/util/paths.js';
import { listSpotPhotos } from '../../daemon/util/spots-dir.js';
import { cosine } from '../../daemon/util/vector.js';
import { enrolSampleGallery, recordUnhandledRejections, startEdge, startRecognizer } from '../helpers/edge-rig.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { eventually } from '../transport/fixtures.js';

t.test('a weak frame of the scene just named keeps the answer and sends nothing; a run of them ends it', async (t) => {
  const unhandled = recordUnhandledRejections();
  t.teardown(unhandled.stop);
  const dir = t.testdir();
  const galleryPath = await enrolSampleGallery(dir);
  const [spot] = await listSpotPhotos(sampleSpotsDir);
  const photo = await readFile(spot.files[0]);
  // The weak view: a corner of the photograph, blurred. Same scene, much less like the reference.
  const meta = await sharp(photo).metadata();
  const weak = await sharp(photo)
    .extract({ left: 0, top: 0, width: Math.round(meta.width * 0.6), height: Math.round(meta.height * 0.6) })
    .blur(6)
    .jpeg()
    .toBuffer();

  // The gate between the two: the clear photo passes, the weak view does not (measured with the real model).
  const extractor = new OnnxExtractor({ manifestPath: defaultModelManifest });
  await extractor.start();
  const spots = await Promise.all((await listSpotPhotos(sampleSpotsDir)).map(async (s) => extractor.extract(await readFile(s.files[0]))));
  const best = async (jpeg: Buffer) => {
    const f = await extractor.extract(jpeg);
    return Math.max(...spots.map((r) => cosine(f, r)));
  };
  const [clear, blurred] = [await best(photo), await best(weak)];
  await extractor.stop();
  t.ok(clear - blurred > 0.05, `the weak view matches less well (${blurred.toFixed(3)} against ${clear.toFixed(3)})`);
  const gate = (clear + blurred) / 2;

  const camera = join(dir, 'camera');
  await mkdir(camera);
  for (let i = 0; i < 3; i++) await writeFile(join(camera, `${i}-clear.jpg`), photo);
  for (let i = 3; i < 9; i++) await writeFile(join(camera, `${i}-weak.jpg`), weak);

  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const recognizer = await startRecognizer(dir, broker.url, galleryPath);
  t.teardown(() => recognizer.stop());
  const real: SentQuery[] = [];
  const { edge, results } = await startEdge(
    dir,
    broker.url,
    {
      camera: { kind: 'files', dir: camera, loop: false, fps: 4 },
      privacy: { minSpotCosine: gate },
      // The weak view is a new scene by cosine; this test is about the window, so the scene-change reset is off.
      resolver: { cacheThreshold: 1, windowSize: 5, windowMaxAgeMs: 60_000, sceneChangeCosine: 0 },
    },
    { beforeStart: (e) => e.on('query', (q: SentQuery) => q.kind === 'real' && real.push(q)) },
  );
  t.teardown(() => edge.stop());
  t.ok(await eventually(() => results.length >= 9, 60_000), 'every frame answered');
  const answers = results.map((r) => ({ frame: r.label, spot: r.spotId }));
  t.comment(JSON.stringify(answers));
  t.same(answers.slice(0, 3).map((a) => a.spot), [spot.id, spot.id, spot.id], 'the clear frames are named from replies');
  t.equal(answers[3].spot, spot.id, 'the first weak frame keeps the standing answer');
  t.same([results[2].smoothed, results[3].smoothed], [false, true], "the held answer is marked as the window's, not the frame's");
  t.equal(answers[8].spot, null, 'a run of weak frames ends it');
  t.equal(real.length, 3, 'only the clear frames became real queries');
  t.equal(edge.edge.stats().offGallery, 6, 'each weak frame counted as held back by the gate');
  t.same(unhandled.reasons, []);
});
