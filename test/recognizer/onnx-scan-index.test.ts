import t, { type Test } from 'tap';
import { join } from 'node:path';
import { OnnxScanIndex } from '../../daemon/recognizer/onnx-scan-index.js';
import { Recognizer } from '../../daemon/recognizer/recognizer.js';
import { openSpotIndex } from '../../daemon/recognizer/open-spot-index.js';
import { ExactIndex, type SpotHit } from '../../daemon/recognizer/spot-index.js';
import { componentRecall } from '../../daemon/load/recall.js';
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

t.test('exact-onnx returns what ExactIndex returns on random SQLite galleries, batched, on either thread', async (t) => {
  for (const [count, dimension, seed, thread] of [
    [3000, 256, 1, 'worker'],
    [700, 32, 2, 'main'],
    [700, 32, 2, 'worker'],
  ] as const) {
    const store = gallery(t.testdir(), count, dimension, seed);
    t.teardown(() => store.close());
    const spots = store.all();
    const exact = new ExactIndex(spots);
    const index = await OnnxScanIndex.create(spots, { maxBatch: 16, batchWaitMs: 0, threads: 1, thread });
    t.teardown(() => index.close());
    t.equal(index.size, count);
    t.equal(index.options.thread, thread);
    const queries = [...mixes(spots, 60, 4, seed), ...randomUnitVectors(20, dimension, seededRandom(seed + 100))];
    for (const m of [1, 24, 185, 256, count, count + 50]) {
      // All at once, so they are scored in batches of 16; the m differ within a batch too.
      const ms = queries.map((_, i) => (i % 3 === 0 ? m : Math.max(1, Math.floor(m / 2))));
      const got = await Promise.all(queries.map((q, i) => index.searchAsync(q, ms[i])));
      queries.forEach((q, i) => sameAnswer(t, got[i], exact.search(q, ms[i]), `${count} spots, ${thread}, m ${ms[i]}, query ${i}`));
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

t.test('a scan worker that dies fails the batch it held; the next batch opens a new one', async (t) => {
  const store = gallery(t.testdir(), 400, 16, 7);
  t.teardown(() => store.close());
  const spots = store.all();
  const exact = new ExactIndex(spots);
  const index = await OnnxScanIndex.create(spots, { precision: 'int8' });
  t.teardown(() => index.close());
  t.equal(index.options.thread, 'worker', "the schema's default");
  const queries = mixes(spots, 8, 4, 7);
  const session = (index as unknown as { session: { client: { terminate(): Promise<void> }; restarts: number } }).session;
  // Killed while the batch is on its way: that batch fails with the reason, nothing hangs.
  const lost = Promise.all(queries.map((q) => index.searchAsync(q, 12)));
  await session.client.terminate();
  await t.rejects(lost, /scan worker exited/);
  const got = await Promise.all(queries.map((q) => index.searchAsync(q, 12)));
  queries.forEach((q, i) => sameAnswer(t, got[i], exact.search(q, 12), `after the restart, query ${i}`));
  t.equal(session.restarts, 1, 'one new worker');
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
  // Its handler comes first: closing releases the scan worker, which takes turns of the event loop.
  const pending = t.rejects(index.searchAsync(same, 1), /closed/, 'a query still queued when the index closes is refused, not left hanging');
  await index.close();
  await pending;
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

/** Share of replies identical to the exact scan's, and the share whose reply holds every component the exact one holds. */
function agreement(got: SpotHit[][], want: SpotHit[][], components: string[][]): { same: number; componentRecall: number } {
  const samples = got.map((g, i) => ({ components: components[i], exact: want[i].map((h) => h.id), reply: g.map((h) => h.id) }));
  const same = samples.filter((s) => s.reply.join() === s.exact.join()).length / samples.length;
  return { same, componentRecall: componentRecall(samples).component_recall };
}

t.test('int8-onnx: the int8 shortlist, re-scored exactly, agrees with the exact scan on k-mix queries', async (t) => {
  const store = gallery(t.testdir(), 3000, 256, 11);
  t.teardown(() => store.close());
  const spots = store.all();
  const exact = new ExactIndex(spots);
  // k-mix queries whose components are known, as the device builds them.
  const random = seededRandom(12);
  const components: string[][] = [];
  const queries = Array.from({ length: 120 }, () => {
    const picked = Array.from({ length: 4 }, () => spots[Math.floor(random() * spots.length)]);
    components.push(picked.map((s) => s.id));
    const q = new Float32Array(256);
    for (const s of picked) {
      const length = Math.hypot(...s.feature);
      s.feature.forEach((x, j) => (q[j] += x / length));
    }
    return q;
  });
  const m = 64;
  const want = queries.map((q) => exact.search(q, m));
  const byMargin = new Map<number, { same: number; componentRecall: number }>();
  for (const margin of [0, 64, 3000]) {
    const index = await OnnxScanIndex.create(spots, { maxBatch: 32, precision: 'int8', shortlistMargin: margin });
    t.teardown(() => index.close());
    t.equal(index.options.precision, 'int8');
    const got = await Promise.all(queries.map((q) => index.searchAsync(q, m)));
    t.equal(index.counters.batches, 4, 'batches of 32');
    t.equal(index.counters.fallbacks, 0, 'the int8 path never falls back to the JS scan');
    got.forEach((hits, i) => {
      t.equal(hits.length, m);
      // Every score is the float scan's for that spot (within float32 rounding of ExactIndex's), best first.
      const exactScores = new Map(exact.search(queries[i], 3000).map((h) => [h.id, h.score]));
      t.same(hits.filter((h) => Math.abs(h.score - exactScores.get(h.id)!) > TOLERANCE), [], `query ${i}: exact scores`);
      t.ok(hits.every((h, j) => j === 0 || hits[j - 1].score >= h.score), `query ${i}: best first`);
    });
    byMargin.set(margin, agreement(got, want, components));
  }
  t.comment(`same reply as exact by margin: ${[...byMargin].map(([k, v]) => `${k}: ${v.same}`).join(', ')}`);
  t.equal(byMargin.get(3000)!.same, 1, 'a shortlist of the whole gallery is the exact answer');
  t.equal(byMargin.get(64)!.componentRecall, 1, 'the default margin loses no component');
  t.ok(byMargin.get(64)!.same >= 0.95, `the default margin: ${byMargin.get(64)!.same} of replies identical to the exact scan's`);
  t.ok(byMargin.get(0)!.same < byMargin.get(64)!.same, 'without a margin, int8 rounding changes the tail of some replies');
});

t.test('int8-onnx: ties, tiny galleries, bad settings and inputs, closing', async (t) => {
  const same = new Float32Array([1, 0, 0]);
  // 40 equal rows and one other: the shortlist cut falls inside the tie, which goes to the lower rows as in ExactIndex.
  const entries = [...Array.from({ length: 40 }, (_, i) => ({ id: `t${i}`, feature: same })), { id: 'x', feature: new Float32Array([0.6, 0.8, 0]) }];
  const tied = await OnnxScanIndex.create(entries, { precision: 'int8', shortlistMargin: 0 });
  t.same((await tied.searchAsync(same, 5)).map((h) => h.id), ['t0', 't1', 't2', 't3', 't4'], 'the lowest rows of a long tie');
  t.same((await tied.searchAsync(new Float32Array([0, 1, 0]), 1)).map((h) => h.id), ['x']);
  t.same((await tied.searchAsync(same, 100)).length, 41, 'asking for more than the gallery holds returns all of it');
  t.ok((await tied.searchAsync(new Float32Array(3), 2)).every((h) => h.score === 0), 'a zero query scores 0, not NaN');
  t.same(await tied.searchAsync(same, 0), []);
  await t.rejects(tied.searchAsync(new Float32Array(4), 1), RangeError, 'a query of the wrong dimension');
  const pending = t.rejects(tied.searchAsync(same, 1), /closed/, 'a query still queued when the index closes is refused');
  await tied.close();
  await pending;
  await t.rejects(tied.searchAsync(same, 1), /closed/);
  await tied.close();
  t.pass('closing twice is harmless');

  const zeroRow = await OnnxScanIndex.create([{ id: 'zero', feature: new Float32Array(3) }, { id: 'one', feature: same }], { precision: 'int8' });
  t.same((await zeroRow.searchAsync(same, 2)).map((h) => [h.id, h.score]), [['one', 1], ['zero', 0]], 'a zero row quantises to zeros');
  await zeroRow.close();
  const empty = await OnnxScanIndex.create([], { precision: 'int8' });
  t.same(await empty.searchAsync(new Float32Array(3), 3), [], 'empty gallery');
  await empty.close();
  for (const bad of [{ shortlistMargin: -1 }, { shortlistMargin: 1.5 }, { shortlistMargin: NaN }, { precision: 'int4' as 'int8' }, { threads: 0 }]) {
    await t.rejects(OnnxScanIndex.create(entries, { precision: 'int8', ...bad }), RangeError, `refused: ${JSON.stringify(bad)}`);
  }
});

t.test("index.kind 'int8-onnx': a recognizer over it replies as one over the exact scan on a seeded gallery", async (t) => {
  const store = gallery(t.testdir(), 1500, 64, 13);
  t.teardown(() => store.close());
  const spots = store.all();
  const index = await openSpotIndex(spots, { kind: 'int8-onnx', shortlistMargin: 64 });
  t.teardown(() => index.close?.());
  t.ok(index instanceof OnnxScanIndex && index.options.precision === 'int8', "index.kind 'int8-onnx' opens the int8 scan");
  t.equal((index as OnnxScanIndex).options.shortlistMargin, 64);
  const float = await openSpotIndex(spots, { kind: 'exact-onnx' });
  t.teardown(() => float.close?.());
  t.equal((float as OnnxScanIndex).options.precision, 'float32', "'exact-onnx' stays float32");
  const batched = new Recognizer(store, index);
  const reference = new Recognizer(store, new ExactIndex(spots));
  const messages: QueryMessage[] = mixes(spots, 40, 4, 13).map((vector, i) => ({ type: 'query', model: MODEL, vector, topM: 24 + i * 5 }));
  const answers = await Promise.all(messages.map(async (q) => batched.query(q)));
  let same = 0;
  answers.forEach((a, i) => {
    const want = reference.handleQuery(messages[i]) as ReplyMessage;
    t.equal(a.type, 'reply');
    const ids = (a as ReplyMessage).candidates.map((c) => c.id);
    t.equal(ids.length, want.candidates.length, `query ${i}: as many candidates`);
    if (ids.join() === want.candidates.map((c) => c.id).join()) same++;
  });
  t.ok(same / answers.length >= 0.9, `${same} of ${answers.length} replies identical to the exact scan's`);
  const wrong = await batched.query({ ...messages[0], vector: new Float32Array(3) });
  t.equal(wrong.type, 'error', 'a malformed query still gets its error reply');
});
