import t from 'tap';
import { join } from 'node:path';
import { SpotStore, type StoredSpot } from '../../daemon/recognizer/spot-store.js';
import { SqliteGallery } from '../../daemon/gallery/sqlite-gallery.js';

function spot(id: string, seed: number, extra: Partial<StoredSpot> = {}): StoredSpot {
  return {
    id,
    feature: Float32Array.from({ length: 4 }, (_, i) => Math.cos(seed + i)),
    info: { name: `Spot ${id}`, description: 'd', url: 'https://x.test', hours: { open: 9, close: 17 } },
    region: 'r1',
    x: seed * 10,
    y: -seed,
    popularity: 1 + seed,
    ...extra,
  };
}

t.test('create, put, reopen: spots, meta and a stable content version', async (t) => {
  const path = join(t.testdir(), 'gallery.db');
  const store = SpotStore.create(path, { model: 'm1', dimension: 4, now: 1234 });
  store.putAll([spot('b', 2), spot('a', 1)]);
  store.put(spot('c', 3, { region: 'r2' }));
  const meta = store.meta();
  t.match(meta, { model: 'm1', dimension: 4, createdAt: 1234, galleryVersion: /^[0-9a-f]{16}$/ });
  store.close();

  const again = SpotStore.open(path, { model: 'm1', dimension: 4 });
  t.teardown(() => again.close());
  t.same(again.meta(), meta, 'version persisted');
  t.equal(again.size, 3);
  const all = again.all();
  t.same(all.map((s) => s.id), ['a', 'b', 'c'], 'ordered by id');
  t.same(all[0], spot('a', 1), 'every field round-trips');
  t.same(all[2].region, 'r2');
  t.ok(all[0].feature instanceof Float32Array);
});

t.test('the gallery version is a content hash: order-free, change-sensitive', async (t) => {
  const dir = t.testdir();
  const build = (name: string, spots: StoredSpot[], model = 'm1'): string => {
    const s = SpotStore.create(join(dir, name), { model, dimension: 4 });
    for (const sp of spots) s.put(sp);
    const v = s.meta().galleryVersion;
    s.close();
    return v;
  };
  const base = build('1.db', [spot('a', 1), spot('b', 2)]);
  const reordered = spot('a', 1);
  reordered.info = { hours: { close: 17, open: 9 }, url: 'https://x.test', description: 'd', name: 'Spot a' };
  t.equal(build('2.db', [spot('b', 2), reordered]), base, 'insertion and key order do not matter');
  t.not(build('3.db', [spot('a', 1), spot('b', 2, { popularity: 9 })]), base, 'popularity');
  const moved = spot('a', 1);
  moved.feature[2] += 1e-6;
  t.not(build('4.db', [moved, spot('b', 2)]), base, 'a tiny feature change');
  t.not(build('5.db', [spot('a', 1), spot('b', 2)], 'm2'), base, 'model');
  t.not(build('6.db', [spot('a', 1)]), base, 'one spot fewer');

  const s = SpotStore.open(join(dir, '1.db'));
  s.put(spot('b', 2, { info: { name: 'Renamed' } }));
  t.not(s.meta().galleryVersion, base, 'updated after a put');
  s.close();
});

t.test('invalid spots are refused and nothing of the batch is written', async (t) => {
  const path = join(t.testdir(), 'g.db');
  const store = SpotStore.create(path, { model: 'm1', dimension: 4 });
  t.teardown(() => store.close());
  store.put(spot('a', 1));
  const before = store.meta().galleryVersion;
  const bad: [Partial<StoredSpot>, RegExp][] = [
    [{ feature: new Float32Array(3) }, /4 finite float32/],
    [{ feature: new Float32Array([1, NaN, 0, 0]) }, /finite/],
    [{ info: { name: '' } }, /info\.name/],
    [{ region: '*' }, /region/],
    [{ x: Infinity }, /x and y/],
    [{ popularity: -1 }, /popularity/],
    [{ id: '' }, /id/],
  ];
  for (const [change, message] of bad) {
    t.throws(() => store.putAll([spot('b', 2), spot('c', 3, change)]), message);
  }
  t.same(store.all().map((s) => s.id), ['a']);
  t.equal(store.meta().galleryVersion, before);
});

t.test('opening the wrong file is a UserError with the fix', async (t) => {
  const dir = t.testdir();
  const path = join(dir, 'g.db');
  SpotStore.create(path, { model: 'gist-v1', dimension: 4 }).close();

  t.throws(() => SpotStore.open(path, { model: 'gist-v2' }), {
    name: 'UserError',
    message: /g\.db was built for model gist-v1 but the recognizer runs gist-v2; re-enroll/,
  });
  t.throws(() => SpotStore.open(path, { model: 'gist-v1', dimension: 8 }), { name: 'UserError', message: /4-d features but the model gives 8-d/ });
  t.throws(() => SpotStore.open(join(dir, 'missing.db')), { name: 'UserError', message: /missing\.db does not exist; build one with `enfpire enroll/ });
  t.throws(() => SpotStore.create(path, { model: 'm', dimension: 4 }), { name: 'UserError', message: /already exists/ });

  const device = join(dir, 'device.db');
  new SqliteGallery(device, { maxResults: 10_000 }).close();
  t.throws(() => SpotStore.open(device), { name: 'UserError', message: /not a recognizer gallery/ });
  t.throws(() => new SqliteGallery(path, { maxResults: 10_000 }), { name: 'UserError', message: /not a device gallery/ });
});

t.test('a spot view model is stored quantised, read back, and part of the gallery version', async (t) => {
  const dir = t.testdir();
  const view = {
    mean: Float32Array.from([0.01, -0.02, 0.03, 0]),
    directions: [Float32Array.from([0.6, 0.8, 0, 0]), Float32Array.from([0, 0, 0.8, -0.6])],
    scales: [0.2, 0.05],
    residual: 0.1,
  };
  const a = SpotStore.create(join(dir, 'a.db'), { model: 'm', dimension: 4 });
  a.putAll([spot('x', 1, { view }), spot('y', 2)]);
  const [x, y] = a.all();
  t.equal(y.view, undefined, 'no view model stays none');
  t.ok(x.view, 'the view model comes back');
  x.view!.mean.forEach((v, i) => t.ok(Math.abs(v - view.mean[i]) < 3e-4, `mean ${i}`));
  x.view!.directions.forEach((d, j) => d.forEach((v, i) => t.ok(Math.abs(v - view.directions[j][i]) < 1e-2, `direction ${j}.${i}`)));
  t.ok(x.view!.scales.every((s, j) => Math.abs(s - view.scales[j]) < 1e-6) && Math.abs(x.view!.residual - 0.1) < 1e-6);
  const b = SpotStore.create(join(dir, 'b.db'), { model: 'm', dimension: 4 });
  b.putAll([spot('x', 1), spot('y', 2)]);
  t.not(a.meta().galleryVersion, b.meta().galleryVersion, 'the view model changes the version');
  t.throws(() => a.put(spot('z', 3, { view: { ...view, scales: [NaN, 0.1] } })), /view model/);
  t.throws(() => a.put(spot('z', 3, { view: { ...view, mean: new Float32Array(3) } })), /view model/);
  a.close();
  b.close();
});
