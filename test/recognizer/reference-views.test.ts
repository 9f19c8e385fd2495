/**
 * A reference that averages camera views of the enrolment photo (`enfpire enroll --reference-views N`,
 * recognizer/enroll.ts referenceFeature): the real learned model and the bundled sample photos. It must sit nearer
 * the spot's camera views than the photo's own feature does, views that it never saw (another seed stream).
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { distortPhoto } from '../../daemon/augment/distort.js';
import { OnnxExtractor } from '../../daemon/extractor/index.js';
import { DEFAULT_REFERENCE_VIEWS, enroll, referenceFeature, referenceViewSeed } from '../../daemon/recognizer/enroll.js';
import { SpotStore } from '../../daemon/recognizer/spot-store.js';
import { listSpotPhotos } from '../../daemon/util/spots-dir.js';
import { dot } from '../../daemon/util/vector.js';
import { streamSeed } from '../../daemon/eval/views.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const SPOTS = join(ROOT, 'samples/spots');

t.test('averaged camera views: a reference nearer the spot’s unseen camera views', async (t) => {
  const extractor = new OnnxExtractor({ manifestPath: join(ROOT, 'models/enfpire-mnv2-int8-v1.json') });
  await extractor.start();
  t.teardown(() => extractor.stop());
  const spots = await listSpotPhotos(SPOTS);
  let plain = 0;
  let averaged = 0;
  let n = 0;
  for (const spot of spots) {
    const one = await referenceFeature(spot.id, spot.files, extractor);
    const eight = await referenceFeature(spot.id, spot.files, extractor, { views: 8 });
    t.ok(Math.abs(Math.hypot(...eight) - 1) < 1e-5, `${spot.id}: unit length`);
    t.ok(dot(one, eight) < 0.9999, `${spot.id}: the views moved the reference`);
    for (let q = 0; q < 3; q++) {
      const seed = streamSeed('query', 1, spot.id, q);
      t.not(seed, referenceViewSeed(spot.id, q));
      const view = await extractor.extract(await distortPhoto(await readFile(spot.files[0]), seed));
      plain += dot(view, one);
      averaged += dot(view, eight);
      n++;
    }
  }
  t.comment(`mean cosine of ${n} unseen camera views to their reference: the photo ${(plain / n).toFixed(3)}, with 8 views ${(averaged / n).toFixed(3)}`);
  t.ok(averaged / n > plain / n + 0.01, 'the averaged reference is nearer the views a camera takes');
  await t.rejects(referenceFeature('x', spots[0].files, extractor, { views: -1 }), /referenceViews must be an integer >= 0/);
});

t.test('enroll --reference-views: each reference is the mean of the photo and its views (4 by default); 0 keeps the photo', async (t) => {
  const extractor = new OnnxExtractor({ manifestPath: join(ROOT, 'models/enfpire-mnv2-int8-v1.json') });
  await extractor.start();
  t.teardown(() => extractor.stop());
  const dir = t.testdir();
  const spots = (await listSpotPhotos(SPOTS)).slice(0, 2);
  const features = async (referenceViews: number | undefined) => {
    const out = join(dir, `g${referenceViews ?? 'default'}.db`);
    await enroll({ spotsDir: SPOTS, outPath: out, extractor, viewModel: false, referenceViews });
    const store = SpotStore.open(out);
    try {
      return new Map(store.all().map((s) => [s.id, s.feature]));
    } finally {
      store.close();
    }
  };
  const [zero, four, byDefault] = [await features(0), await features(4), await features(undefined)];
  t.equal(DEFAULT_REFERENCE_VIEWS, 4);
  for (const spot of spots) {
    const photo = await extractor.extract(await readFile(spot.files[0]));
    const want = await referenceFeature(spot.id, spot.files, extractor, { views: 4 });
    t.ok(dot(zero.get(spot.id)!, photo) > 0.9999, `${spot.id}: 0 views, the photo's feature`);
    t.ok(dot(four.get(spot.id)!, want) > 0.9999, `${spot.id}: 4 views, the same seeded views every time`);
    t.ok(dot(four.get(spot.id)!, photo) < 0.9999, `${spot.id}: and not the photo alone`);
    t.ok(dot(byDefault.get(spot.id)!, want) > 0.9999, `${spot.id}: the default is 4 views`);
  }
});
