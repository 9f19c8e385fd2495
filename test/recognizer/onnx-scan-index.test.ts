import t, { type Test } from 'tap';
import { join } from 'node:path';
import { OnnxScanIndex } from '../../daemon/recognizer/onnx-scan-index.js';
import { Recognizer } from '../../daemon/recognizer/recognizer.js';
import { openSpotIndex } from '../../daemon/recognizer/open-spot-index.js';
import { ExactIndex, type SpotHit } from '../../daemon/recognizer/spot-index.js';
import { SpotStore, type StoredSpot } from '../../daemon/recognizer/spot-store.js';
import type { QueryMessage, ReplyMessage } from '../../daemon/transport/messages.js';
import { randomUnitVectors, seededRandom } from './fixtures/thumb-extractor.js';

const MODEL = 'test-model-v1';
/** float32 sums in ONNX Runtime against float64 sums in ExactIndex. */
const TOLERANCE = 1e-5;

/** A real SQLite gallery of random spots, written and read back as the recognizer reads it. */
function gallery(dir: string, count: number, dimension: number, seed: number): SpotStore {
  const random = seededRandom(seed);
  const spots: StoredSpot[] = randomUnitVectors(count, dimension, random).map((feature, i) => ({
    id: `s${String(i).padStart(5, '0')}`,
    // Unnormalised rows: the index ranks by cosine, not by dot product.
    feature: feature.map((x) => x * (1 + (i % 3))),
    region: `r${i % 4}`,
    x: i,
    y: 0,
    popularity: 1,
    info: { name: `spot ${i}` },
  }));
  const path = join(dir, 'gallery.db');
  SpotStore.create(path, { model: MODEL, dimension }).putAll(spots);
  return SpotStore.open(path);
}

/** k-mix-like queries: normalised mixes of k gallery rows, the regime the recognizer serves. */
function mixes(spots: readonly StoredSpot[], n: number, k: number, seed: number): Float32Array[] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, () => {
    const q = new Float32Array(spots[0].feature.length);
    for (let c = 0; c < k; c++) {
      const f = spots[Math.floor(random() * spots.length)].feature;
      const w = random();
      f.forEach((x, j) => (q[j] += w * x));
    }
    return q;
  });
}

/** Exactly ExactIndex's answer: the same ids in the same order, and scores within float tolerance. */
function sameAnswer(t: Test, got: SpotHit[], want: SpotHit[], what: string): void {
  t.same(got.map((h) => h.id), want.map((h) => h.id), `${what}: same spots, same order`);
  t.same(got.filter((h, i) => Math.abs(h.score - want[i].score) > TOLERANCE), [], `${what}: same scores`);
}

t.test('exact-onnx returns what ExactIndex returns on random SQLite galleries, batched', async (t) => {
  for (const [count, dimension, seed] of [
    [3000, 256, 1],
    [700, 32, 2],
  ] as const) {
    const store = gallery(t.testdir(), count, dimension, seed);
    t.teardown(() => store.close());
    const spots = store.all();
    const exact = new ExactIndex(spots);
    const index = await OnnxScanIndex.create(spots, { maxBatch: 16, batchWaitMs: 0, threads: 1 });
    t.teardown(() => index.close());
    t.equal(index.size, count);
    const queries = [...mixes(spots, 60, 4, seed), ...randomUnitVectors(20, dimension, seededRandom(seed + 100))];
    for (const m of [1, 24, 185, 256, count, count + 50]) {
      // All at once, so they are scored in batches of 16; the m differ within a batch too.
      const ms = queries.map((_, i) => (i % 3 === 0 ? m : Math.max(1, Math.floor(m / 2))));
      const got = await Promise.all(queries.map((q, i) => index.searchAsync(q, ms[i])));
      queries.forEach((q, i) => sameAnswer(t, got[i], exact.search(q, ms[i]), `${count} spots, m ${ms[i]}, query ${i}`));
    }
    t.same(index.search(queries[0], 24), exact.search(queries[0], 24), 'the synchronous path is the JS scan');
  }
});

t.test('queries that arrive together share one matrix product, up to maxBatch', async (t) => {
  const store = gallery(t.testdir(), 500, 16, 3);
  t.teardown(() => store.close());
  const spots = store.all();
  const index = await OnnxScanIndex.create(spots, { maxBatch: 16 });
  t.teardown(() => index.close());
  const queries = mixes(spots, 100, 4, 3);
  await Promise.all(queries.map((q) => index.searchAsync(q, 10)));
  t.same(index.counters, { batches: 7, queries: 100, fallbacks: 0 }, 'ceil(100 / 16) products');
  await index.searchAsync(queries[0], 10);
  t.same(index.counters, { batches: 8, queries: 101, fallbacks: 0 }, 'a lone query goes on its own at the next turn');

  const waiting = await OnnxScanIndex.create(spots, { maxBatch: 64, batchWaitMs: 20 });
  t.teardown(() => waiting.close());
  const first = waiting.searchAsync(queries[0], 5);
  await new Promise((r) => setTimeout(r, 5));
  const second = waiting.searchAsync(queries[1], 5);
  await Promise.all([first, second]);
  t.same(waiting.counters, { batches: 1, queries: 2, fallbacks: 0 }, 'batchWaitMs holds the batch open for a later query');
});

t.test('edge cases: ties, empty galleries, zero and malformed queries, closing', async (t) => {
  const same = new Float32Array([1, 0]);
  const entries = [
    { id: 'z', feature: new Float32Array([0, 1]) },
    { id: 'b', feature: same },
    { id: 'a', feature: same },
    { id: 'c', feature: same },
  ];
  const index = await OnnxScanIndex.create(entries);
  t.same((await index.searchAsync(new Float32Array([1, 0]), 2)).map((h) => h.id), ['b', 'a'], 'ties go to the lower row, as in ExactIndex');
  t.same(await index.searchAsync(new Float32Array([1, 0]), 0), []);
  t.ok((await index.searchAsync(new Float32Array(2), 3)).every((h) => h.score === 0), 'a zero query scores 0, not NaN');
  await t.rejects(index.searchAsync(new Float32Array(3), 1), RangeError);
  const pending = index.searchAsync(same, 1);
  await index.close();
  await t.rejects(pending, /closed/, 'a query still queued when the index closes is refused, not left hanging');
  await t.rejects(index.searchAsync(same, 1), /closed/);

  // 40 rows with one score: more than the rows asked beyond the cut, so the cut is left to the JS scan.
  const tied = await OnnxScanIndex.create([...Array.from({ length: 40 }, (_, i) => ({ id: `t${i}`, feature: same })), { id: 'x', feature: new Float32Array([0.6, 0.8]) }]);
  t.same((await tied.searchAsync(same, 5)).map((h) => h.id), ['t0', 't1', 't2', 't3', 't4'], 'the lowest rows of a long tie');
  t.equal(tied.counters.fallbacks, 1, 'answered by the JS scan');
  t.same((await tied.searchAsync(same, 41)).at(-1)?.id, 'x', 'asking for every row needs no fallback');
  t.equal(tied.counters.fallbacks, 1);
  await tied.close();

  const empty = await OnnxScanIndex.create([]);
  t.same(await empty.searchAsync(new Float32Array(4), 3), [], 'empty gallery');
  await empty.close();
  await t.rejects(OnnxScanIndex.create(entries, { maxBatch: 0 }), RangeError);
});

t.test('a recognizer over exact-onnx answers as one over the exact scan', async (t) => {
  const store = gallery(t.testdir(), 1200, 64, 5);
  t.teardown(() => store.close());
  const spots = store.all();
  const index = await openSpotIndex(spots, { kind: 'exact-onnx' });
  t.teardown(() => index.close?.());
  t.ok(index instanceof OnnxScanIndex, "index.kind 'exact-onnx'");
  t.ok((await openSpotIndex(spots, { kind: 'exact' })) instanceof ExactIndex);
  const batched = new Recognizer(store, index);
  const reference = new Recognizer(store, new ExactIndex(spots));
  const messages: QueryMessage[] = mixes(spots, 40, 4, 5).map((vector, i) => ({ type: 'query', model: MODEL, vector, topM: 24 + i * 7 }));
  messages.push({ type: 'query', model: MODEL, vector: messages[0].vector, topM: 5000 });
  const viaEndpoint = batched.query(messages[0]);
  t.type(viaEndpoint, Promise, "the endpoint's handler goes through the batched path");
  await viaEndpoint;
  const answers = await Promise.all(messages.map((q) => batched.handleQueryAsync(q)));
  answers.forEach((a, i) => {
    const want = reference.handleQuery(messages[i]) as ReplyMessage;
    t.equal(a.type, 'reply');
    t.same((a as ReplyMessage).candidates, want.candidates, `query ${i}: same reply`);
  });
  t.equal((answers.at(-1) as ReplyMessage).candidates.length, 256, 'topM is clamped to maxTopM as before');
  const wrong = await batched.query({ ...messages[0], model: 'other' });
  t.equal(wrong.type, 'error', 'a malformed query still gets its error reply');
});
