import t from 'tap';
import { join } from 'node:path';
import { Recognizer } from '../../daemon/recognizer/recognizer.js';
import { ExactIndex, HnswIndex, type SpotIndex } from '../../daemon/recognizer/spot-index.js';
import { SpotStore, type StoredSpot } from '../../daemon/recognizer/spot-store.js';
import type { ErrorMessage, QueryMessage, RegionPackMessage, ReplyMessage } from '../../daemon/transport/messages.js';
import { spotDigest } from '../../daemon/transport/spot-digest.js';

const MODEL = 'test-model-v1';
const S = Math.SQRT1_2;

/** Cosines with the query [1, 0, 0, 0], worked out by hand: a 1, b 0.8, c 0.6, f 0.5, d 0, e -1. */
const SPOTS: StoredSpot[] = [
  { id: 'a', feature: new Float32Array([1, 0, 0, 0]), region: 'north', x: 0, y: 0, popularity: 1, info: { name: 'Arch', url: 'https://x.test/a' } },
  { id: 'b', feature: new Float32Array([0.8, 0.6, 0, 0]), region: 'north', x: 80, y: 0, popularity: 2, info: { name: 'Bridge', description: 'Stone', hours: '9-5' } },
  { id: 'c', feature: new Float32Array([0.6, 0.8, 0, 0]), region: 'north', x: 160, y: 0, popularity: 3, info: { name: 'Church' } },
  { id: 'd', feature: new Float32Array([0, 1, 0, 0]), region: 'south', x: 0, y: 80, popularity: 4, info: { name: 'Dock' } },
  { id: 'e', feature: new Float32Array([-1, 0, 0, 0]), region: 'south', x: 80, y: 80, popularity: 5, info: { name: 'Elm' } },
  { id: 'f', feature: new Float32Array([0.5, 0, 0.5, S]), region: 'south', x: 160, y: 80, popularity: 6, info: { name: 'Fountain' } },
];

function makeStore(dir: string): SpotStore {
  const store = SpotStore.create(join(dir, 'gallery.db'), { model: MODEL, dimension: 4 });
  store.putAll(SPOTS);
  return store;
}

function query(vector: number[], topM: number, model = MODEL): QueryMessage {
  return { type: 'query', model, vector: new Float32Array(vector), topM };
}

const indexes: [string, (spots: StoredSpot[]) => SpotIndex][] = [
  ['exact', (spots) => new ExactIndex(spots)],
  ['hnsw', (spots) => new HnswIndex(spots)],
];

for (const [kind, build] of indexes) {
  t.test(`top-M matches the hand-computed ranking (${kind} index)`, async (t) => {
    const store = makeStore(t.testdir());
    t.teardown(() => store.close());
    const recognizer = new Recognizer(store, build(store.all()));
    const reply = recognizer.handleQuery(query([2, 0, 0, 0], 4)) as ReplyMessage;
    t.equal(reply.type, 'reply');
    t.equal(reply.model, MODEL);
    t.same(reply.candidates.map((c) => c.id), ['a', 'b', 'c', 'f']);
    t.equal(reply.galleryVersion, store.meta().galleryVersion, 'the reply names its gallery version');
    t.same(Object.keys(reply.candidates[1]), ['id'], 'ids only, best first: scores, features and service info are the device’s to compute or take from the pack');

    const other = recognizer.handleQuery(query([0, 1, 0, 0], 3)) as ReplyMessage;
    t.same(other.candidates.map((c) => c.id), ['d', 'c', 'b'], 'cosines 1, 0.8, 0.6');
  });
}

for (const [kind, build] of indexes) {
  t.test(`a query that asks for digests gets the digests of the same spots, best first (${kind} index)`, async (t) => {
    const store = makeStore(t.testdir());
    t.teardown(() => store.close());
    const recognizer = new Recognizer(store, build(store.all()));
    for (const [vector, topM] of [[[2, 0, 0, 0], 4], [[0, 1, 0, 0], 3], [[0.3, 0.2, 0.9, 0.1], 6]] as const) {
      const byId = recognizer.handleQuery(query([...vector], topM)) as ReplyMessage;
      const byDigest = (await recognizer.query({ ...query([...vector], topM), digests: true })) as ReplyMessage;
      t.same(byDigest.candidates, [], 'no ids beside the digests');
      t.type(byDigest.digests, Uint32Array);
      t.same(Array.from(byDigest.digests!), byId.candidates.map((c) => spotDigest(c.id)), `the ids' digests in the same order (${byId.candidates.map((c) => c.id).join(' ')})`);
      t.equal(byDigest.galleryVersion, byId.galleryVersion);
      t.notOk('digests' in byId, 'a query for ids gets ids only');
    }
  });
}

t.test('a query for another model gets wrong-model, and bad queries bad-request, never a throw', async (t) => {
  const store = makeStore(t.testdir());
  t.teardown(() => store.close());
  const recognizer = new Recognizer(store, new ExactIndex(store.all()));
  t.match(recognizer.handleQuery(query([1, 0, 0, 0], 3, 'other-model')), { type: 'error', code: 'wrong-model', message: new RegExp(MODEL) });
  t.match(recognizer.handleQuery(query([1, 0, 0], 3)), { type: 'error', code: 'bad-request', message: /4 finite/ });
  t.match(recognizer.handleQuery(query([1, NaN, 0, 0], 3)), { code: 'bad-request' });
  t.match(recognizer.handleQuery(query([1, 0, 0, 0], 0)), { code: 'bad-request', message: /topM/ });
  t.match(recognizer.handleQuery(query([1, 0, 0, 0], NaN)), { code: 'bad-request' });
  t.match(recognizer.handleQuery({ ...query([1, 0, 0, 0], 2), vector: [1, 0, 0, 0] as never }), { code: 'bad-request' });
  t.match(recognizer.handleRegion({ type: 'region-request', model: 'other-model', region: 'north' }), { code: 'wrong-model' });
});

t.test('topM is clamped to maxTopM and floored', async (t) => {
  const store = makeStore(t.testdir());
  t.teardown(() => store.close());
  const recognizer = new Recognizer(store, new ExactIndex(store.all()), { maxTopM: 3 });
  t.same((recognizer.handleQuery(query([1, 0, 0, 0], 100)) as ReplyMessage).candidates.map((c) => c.id), ['a', 'b', 'c']);
  t.equal((recognizer.handleQuery(query([1, 0, 0, 0], 2.9)) as ReplyMessage).candidates.length, 2);
  const roomy = new Recognizer(store, new ExactIndex(store.all()), { maxTopM: 50 });
  t.equal((roomy.handleQuery(query([1, 0, 0, 0], 50)) as ReplyMessage).candidates.length, 6, 'never more than the gallery');
  t.throws(() => new Recognizer(store, new ExactIndex(store.all()), { maxTopM: 0 }), RangeError);
});

t.test('region packs hold exactly that region’s spots; * holds all', async (t) => {
  const store = makeStore(t.testdir());
  t.teardown(() => store.close());
  const recognizer = new Recognizer(store, new ExactIndex(store.all()));
  const version = store.meta().galleryVersion;

  const north = recognizer.handleRegion({ type: 'region-request', model: MODEL, region: 'north' }) as RegionPackMessage;
  t.match(north, { type: 'region-pack', model: MODEL, region: 'north', galleryVersion: version });
  t.same(north.spots, SPOTS.filter((s) => s.region === 'north').map(({ id, feature, x, y, popularity, info }) => ({ id, feature, x, y, popularity, info })));
  t.same(north.spots[1].info, { name: 'Bridge', description: 'Stone', hours: '9-5' }, 'full service info, in the pack');
  const south = recognizer.handleRegion({ type: 'region-request', model: MODEL, region: 'south' }) as RegionPackMessage;
  t.same(south.spots.map((s) => s.id), ['d', 'e', 'f']);
  const all = recognizer.handleRegion({ type: 'region-request', model: MODEL, region: '*' }) as RegionPackMessage;
  t.same(all.spots.map((s) => s.id), ['a', 'b', 'c', 'd', 'e', 'f']);
  const unknown = recognizer.handleRegion({ type: 'region-request', model: MODEL, region: 'west' }) as ErrorMessage;
  t.match(unknown, { type: 'error', code: 'unknown-region', message: /north, south/ });

  t.same(recognizer.info(), { type: 'info', model: MODEL, dimension: 4, galleryVersion: version, spots: 6, regions: ['north', 'south'] });
});

t.test('a request that names a page gets that page of the pack and the page count; one without, the whole pack', async (t) => {
  const store = makeStore(t.testdir());
  t.teardown(() => store.close());
  const recognizer = new Recognizer(store, new ExactIndex(store.all()), { regionPageSpots: 4 });
  const page = (n: number) => recognizer.handleRegion({ type: 'region-request', model: MODEL, region: '*', page: n });
  t.match(page(0), { type: 'region-pack', region: '*', page: 0, pages: 2 });
  t.same((page(0) as RegionPackMessage).spots.map((s) => s.id), ['a', 'b', 'c', 'd']);
  t.same((page(1) as RegionPackMessage).spots.map((s) => s.id), ['e', 'f'], 'the last page holds the rest');
  t.match(page(2), { type: 'error', code: 'bad-request', message: /pages 0 to 1, not 2/ });
  const whole = recognizer.handleRegion({ type: 'region-request', model: MODEL, region: '*' }) as RegionPackMessage;
  t.equal(whole.spots.length, 6);
  t.notOk('pages' in whole, 'the whole pack, as before paging');
  t.match(recognizer.handleRegion({ type: 'region-request', model: MODEL, region: 'north', page: 0 }), { page: 0, pages: 1 }, 'a small region is one page');
  t.throws(() => new Recognizer(store, new ExactIndex(store.all()), { regionPageSpots: 0 }), RangeError);
});

t.test('answers are pure functions of the request; the endpoint handler names work too', async (t) => {
  const store = makeStore(t.testdir());
  t.teardown(() => store.close());
  const recognizer = new Recognizer(store, new ExactIndex(store.all()));
  const q = query([0.3, 0.2, 0.9, 0.1], 4);
  t.same(recognizer.query(q), recognizer.handleQuery(q));
  t.same(recognizer.region({ type: 'region-request', model: MODEL, region: 'south' }), recognizer.handleRegion({ type: 'region-request', model: MODEL, region: 'south' }));
  t.throws(() => new Recognizer(store, new ExactIndex(store.all().slice(1))), /index holds 5 spots but the gallery/);
});
