import t from 'tap';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_REFERENCE_VIEWS, DEFAULT_VIEW_MODEL, enroll, placeSpots } from '../../daemon/recognizer/enroll.js';
import { SpotStore } from '../../daemon/recognizer/spot-store.js';
import { cosine, normalize } from '../../daemon/util/vector.js';
import { ThumbExtractor, writeImage, type Rgb } from './fixtures/thumb-extractor.js';

const COLOURS: Record<string, Rgb> = {
  red: [230, 20, 20],
  green: [20, 200, 40],
  blue: [30, 40, 220],
  yellow: [240, 230, 30],
};

async function flatFolder(dir: string): Promise<void> {
  const ext = ['jpg', 'png', 'webp', 'jpeg'];
  await Promise.all(Object.entries(COLOURS).map(([id, rgb], i) => writeImage(join(dir, `${id}.${ext[i]}`), rgb)));
}

function readStore(path: string): ReturnType<SpotStore['all']> {
  const store = SpotStore.open(path);
  try {
    return store.all();
  } finally {
    store.close();
  }
}

t.test('flat folder + spots.json: features, metadata, defaults', async (t) => {
  const dir = t.testdir();
  const spotsDir = join(dir, 'spots');
  await flatFolder(spotsDir);
  await writeFile(
    join(spotsDir, 'spots.json'),
    JSON.stringify({
      red: { name: 'Red door', description: 'A red door', url: 'https://x.test/red', x: 5, y: 7, popularity: 3, region: 'old-town', hours: '9-5' },
      blue: { region: 'old-town' },
      ghost: { name: 'No photos' },
    }),
  );
  const extractor = new ThumbExtractor();
  const out = join(dir, 'out', 'gallery.db');
  const result = await enroll({ spotsDir, outPath: out, extractor, referenceViews: 0 });
  t.match(result, { spots: 4, photos: 4, galleryVersion: /^[0-9a-f]{16}$/ });
  t.notOk(existsSync(`${out}.tmp`), 'no temporary file left');

  const store = SpotStore.open(out, { model: extractor.modelId, dimension: 192 });
  t.equal(store.meta().galleryVersion, result.galleryVersion);
  const spots = store.all();
  store.close();
  t.same(spots.map((s) => s.id), ['blue', 'green', 'red', 'yellow']);

  const byId = new Map(spots.map((s) => [s.id, s]));
  const red = byId.get('red')!;
  t.same(red.info, { name: 'Red door', description: 'A red door', url: 'https://x.test/red', hours: '9-5' });
  t.match(red, { region: 'old-town', x: 5, y: 7, popularity: 3 });
  t.same(byId.get('green')!.info, { name: 'green' }, 'name defaults to the id');
  t.match(byId.get('green')!, { region: 'default', popularity: 1 });
  t.equal(byId.get('blue')!.region, 'old-town');

  // Each single-photo spot's reference is that photo's feature, recomputed independently here.
  const want = await extractor.extract(await readFile(join(spotsDir, 'red.jpg')));
  t.ok(cosine(red.feature, want) > 0.99999, 'reference feature = the photo feature');
  t.ok(Math.abs(Math.hypot(...red.feature) - 1) < 1e-5, 'unit length');
  t.ok(cosine(byId.get('red')!.feature, byId.get('green')!.feature) < 0.5, 'different colours, different features');
});

t.test('sub-folder layout: the reference is the normalised mean of the photos', async (t) => {
  const dir = t.testdir();
  const spotsDir = join(dir, 'spots');
  await writeImage(join(spotsDir, 'sunset', 'a.jpg'), [250, 120, 20], [120, 20, 90]);
  await writeImage(join(spotsDir, 'sunset', 'b.png'), [200, 90, 10]);
  await writeImage(join(spotsDir, 'sunset', 'c.webp'), [60, 20, 120], [250, 150, 40]);
  await writeImage(join(spotsDir, 'sea', 'only.png'), [10, 60, 200], [10, 200, 200]);
  const extractor = new ThumbExtractor();
  const out = join(dir, 'g.db');
  // Without reference views (decision 51): the photos alone make the reference.
  t.match(await enroll({ spotsDir, outPath: out, extractor, referenceViews: 0 }), { spots: 2, photos: 4 });
  // 4 photos, then DEFAULT_VIEW_MODEL.views rendered camera views per spot for its view model.
  t.equal(extractor.calls, 4 + 2 * DEFAULT_VIEW_MODEL.views);
  // By default DEFAULT_REFERENCE_VIEWS more camera views per spot go into each reference.
  const byDefault = new ThumbExtractor();
  await enroll({ spotsDir, outPath: join(dir, 'default.db'), extractor: byDefault });
  t.equal(byDefault.calls, 4 + 2 * (DEFAULT_VIEW_MODEL.views + DEFAULT_REFERENCE_VIEWS));

  const features = await Promise.all(['a.jpg', 'b.png', 'c.webp'].map(async (f) => extractor.extract(await readFile(join(spotsDir, 'sunset', f)))));
  const mean = normalize(features.reduce((acc, f) => acc.map((v, i) => v + f[i]), new Float32Array(192)));
  const sunset = readStore(out).find((s) => s.id === 'sunset')!;
  t.ok(cosine(sunset.feature, mean) > 0.99999);
  t.ok(features.every((f) => cosine(sunset.feature, f) < 0.9999), 'not just one of the photos');
});

t.test('each spot gets a view model learned from its rendered camera views', async (t) => {
  const dir = t.testdir();
  const spotsDir = join(dir, 'spots');
  await writeImage(join(spotsDir, 'sea', 'only.png'), [10, 60, 200], [10, 200, 200]);
  await writeImage(join(spotsDir, 'sunset', 'a.png'), [250, 120, 20], [120, 20, 90]);
  const out = join(dir, 'g.db');
  await enroll({ spotsDir, outPath: out, extractor: new ThumbExtractor(), viewModel: { views: 6, directions: 3 } });
  for (const spot of readStore(out)) {
    const view = spot.view!;
    t.ok(view, `${spot.id} has a view model`);
    t.equal(view.mean.length, 192);
    t.ok(view.directions.length >= 1 && view.directions.length <= 3, 'at most the requested directions');
    t.equal(view.scales.length, view.directions.length);
    t.ok(view.scales.every((s, j) => s > 0 && (j === 0 || s <= view.scales[j - 1] + 1e-6)), 'scales descend');
    t.ok(view.directions.every((u) => Math.abs(Math.hypot(...u) - 1) < 0.02), 'unit directions (after int8 storage)');
    t.ok(Number.isFinite(view.residual) && view.residual >= 0);
  }
  const plain = join(dir, 'plain.db');
  await enroll({ spotsDir, outPath: plain, extractor: new ThumbExtractor(), viewModel: false });
  t.ok(readStore(plain).every((s) => s.view === undefined), 'viewModel: false stores none');
});

t.test('coordinates: deterministic jittered grid about 80 m apart', async (t) => {
  const ids = Array.from({ length: 30 }, (_, i) => `spot-${i}`);
  const placed = placeSpots(ids.map((id) => ({ id })));
  t.same(placeSpots(ids.map((id) => ({ id }))), placed, 'same ids, same map');
  const points = ids.map((id) => placed.get(id)!);
  t.ok(points.every((p) => p.region === 'default'));
  const nearest = points.map((p, i) => Math.min(...points.filter((_, j) => j !== i).map((q) => Math.hypot(p.x - q.x, p.y - q.y))));
  t.ok(Math.min(...nearest) >= 30, `no two spots on top of each other (min ${Math.min(...nearest).toFixed(1)} m)`);
  t.ok(Math.max(...nearest) <= 130, `every spot has a neighbour within a block (max ${Math.max(...nearest).toFixed(1)} m)`);
  t.ok(points.some((p) => p.x % 80 !== 0), 'jittered, not a lattice');

  const mixed = placeSpots([{ id: 'a', meta: { x: 1, y: 2, region: 'n' } }, { id: 'b', meta: { region: 'n' } }, { id: 'c' }], 40);
  t.same(mixed.get('a'), { region: 'n', x: 1, y: 2 }, 'given coordinates are kept');
  t.equal(mixed.get('b')!.region, 'n');
  t.ok(Math.hypot(mixed.get('c')!.x, mixed.get('c')!.y) <= 40, 'each region has its own grid');
});

t.test('a failed enrolment keeps the existing gallery and leaves nothing behind', async (t) => {
  const dir = t.testdir();
  const spotsDir = join(dir, 'spots');
  await flatFolder(spotsDir);
  const out = join(dir, 'g.db');
  const extractor = new ThumbExtractor();
  const first = await enroll({ spotsDir, outPath: out, extractor });

  await writeImage(join(spotsDir, 'aaa-new.png'), [1, 2, 3]);
  const broken = join(spotsDir, 'zzz-broken.jpg');
  await writeFile(broken, 'this is not a JPEG');
  await t.rejects(enroll({ spotsDir, outPath: out, extractor }), {
    name: 'UserError',
    message: new RegExp(`Cannot read the spot photo ${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} .*replace or remove it`),
  });
  t.notOk(existsSync(`${out}.tmp`), 'temporary gallery removed');
  const store = SpotStore.open(out);
  t.equal(store.meta().galleryVersion, first.galleryVersion, 'old gallery intact');
  t.equal(store.size, 4);
  store.close();

  const fresh = join(dir, 'never.db');
  await t.rejects(enroll({ spotsDir, outPath: fresh, extractor }), { name: 'UserError' });
  t.notOk(existsSync(fresh), 'no half-built gallery at the out path');
});

t.test('re-enrolling replaces the gallery; a stale temporary file from a killed run is cleared', async (t) => {
  const dir = t.testdir();
  const spotsDir = join(dir, 'spots');
  await flatFolder(spotsDir);
  const out = join(dir, 'g.db');
  await writeFile(`${out}.tmp`, 'left behind by a killed enrolment');
  const extractor = new ThumbExtractor();
  const first = await enroll({ spotsDir, outPath: out, extractor });
  t.equal((await enroll({ spotsDir, outPath: out, extractor })).galleryVersion, first.galleryVersion, 'same photos, same version');

  await writeImage(join(spotsDir, 'purple.png'), [150, 20, 160]);
  const second = await enroll({ spotsDir, outPath: out, extractor });
  t.equal(second.spots, 5);
  t.not(second.galleryVersion, first.galleryVersion);
  t.equal(readStore(out).length, 5);
  t.notOk(existsSync(`${out}.tmp`));

  const other = new ThumbExtractor('another-model');
  await enroll({ spotsDir, outPath: out, extractor: other });
  t.throws(() => SpotStore.open(out, { model: extractor.modelId }), { name: 'UserError', message: /built for model another-model/ });
});

t.test('a bad spot folder fails before anything is written', async (t) => {
  const dir = t.testdir({ empty: {} });
  const out = join(dir, 'g.db');
  await t.rejects(enroll({ spotsDir: join(dir, 'empty'), outPath: out, extractor: new ThumbExtractor() }), {
    name: 'UserError',
    message: /holds no spot photos/,
  });
  t.notOk(existsSync(out));
  t.notOk(existsSync(`${out}.tmp`));
});

t.test('spots enrolled several at a time give the gallery one at a time gives, in folder order', async (t) => {
  const dir = t.testdir();
  const spotsDir = join(dir, 'spots');
  await flatFolder(spotsDir);
  await writeImage(join(spotsDir, 'sea', 'only.png'), [10, 60, 200], [10, 200, 200]);
  await writeImage(join(spotsDir, 'sunset', 'a.png'), [250, 120, 20], [120, 20, 90]);
  const galleries = [];
  for (const concurrency of [1, 3]) {
    const out = join(dir, `g${concurrency}.db`);
    await enroll({ spotsDir, outPath: out, extractor: new ThumbExtractor(), viewModel: { views: 4, directions: 2 }, referenceViews: 2, concurrency });
    galleries.push(readStore(out));
  }
  t.equal(galleries[0].length, 6);
  t.same(galleries[1], galleries[0], 'same features, view models and places');
});
