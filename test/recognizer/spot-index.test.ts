import t from 'tap';
import { ExactIndex, HnswIndex, createSpotIndex, type IndexEntry } from '../../daemon/recognizer/spot-index.js';
import { cosine } from '../../daemon/util/vector.js';
import { randomUnitVectors, seededRandom } from './fixtures/thumb-extractor.js';

function entries(vectors: Float32Array[]): IndexEntry[] {
  return vectors.map((feature, i) => ({ id: `s${String(i).padStart(4, '0')}`, feature }));
}

/** The reference: every cosine, fully sorted. */
function bruteForce(items: IndexEntry[], q: Float32Array, m: number): { id: string; score: number }[] {
  return items
    .map((e) => ({ id: e.id, score: cosine(e.feature, q) }))
    .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1))
    .slice(0, m);
}

t.test('ExactIndex returns the true top-M with cosine scores, best first', async (t) => {
  const random = seededRandom(7);
  // Unnormalised rows: the index must still rank by cosine, not by dot product.
  const items = entries(randomUnitVectors(300, 16, random).map((v, i) => v.map((x) => x * (1 + (i % 5)))));
  const index = new ExactIndex(items);
  t.equal(index.size, 300);
  for (const m of [1, 5, 37, 300]) {
    for (const q of randomUnitVectors(10, 16, random)) {
      const got = index.search(q.map((x) => x * 3), m);
      const want = bruteForce(items, q, m);
      t.same(got.map((h) => h.id), want.map((h) => h.id), `m=${m}`);
      t.ok(got.every((h, i) => Math.abs(h.score - want[i].score) < 1e-5), 'scores are cosines');
    }
  }
  t.equal(index.search(randomUnitVectors(1, 16, random)[0], 1000).length, 300, 'm above the size gives everything');
  t.same(index.search(randomUnitVectors(1, 16, random)[0], 0), []);
  t.ok(index.search(new Float32Array(16), 3).every((h) => h.score === 0), 'a zero query scores 0, not NaN');
  t.throws(() => index.search(new Float32Array(3), 1), RangeError);
});

t.test('ExactIndex breaks ties by insertion order, deterministically', async (t) => {
  const same = new Float32Array([1, 0]);
  const index = new ExactIndex([
    { id: 'z', feature: new Float32Array([0, 1]) },
    { id: 'b', feature: same },
    { id: 'a', feature: same },
    { id: 'c', feature: same },
  ]);
  t.same(index.search(new Float32Array([1, 0]), 2).map((h) => h.id), ['b', 'a']);
  t.same(new ExactIndex([]).search(new Float32Array(4), 3), [], 'empty index');
  t.throws(() => new ExactIndex([{ id: 'a', feature: same }, { id: 'a', feature: same }]), /twice/);
  t.throws(() => new ExactIndex([{ id: 'a', feature: same }, { id: 'b', feature: new Float32Array(3) }]), /dimensions/);
});

for (const space of ['ip', 'cosine'] as const) {
  t.test(`HnswIndex (${space}) agrees with ExactIndex on the top-10 of ≥ 95 % of random queries`, async (t) => {
    const random = seededRandom(space === 'ip' ? 11 : 12);
    const items = entries(randomUnitVectors(2000, 24, random));
    const exact = new ExactIndex(items);
    const hnsw = new HnswIndex(items, { space });
    t.equal(hnsw.size, 2000);
    const queries = randomUnitVectors(200, 24, random);
    let agree = 0;
    let scoreError = 0;
    for (const q of queries) {
      const a = exact.search(q, 10);
      const b = hnsw.search(q, 10);
      if (a.map((h) => h.id).join() === b.map((h) => h.id).join()) agree++;
      const exactScore = new Map(a.map((h) => [h.id, h.score]));
      for (const h of b) if (exactScore.has(h.id)) scoreError = Math.max(scoreError, Math.abs(h.score - exactScore.get(h.id)!));
    }
    t.ok(agree / queries.length >= 0.95, `identical top-10 for ${agree}/${queries.length} queries`);
    t.ok(scoreError < 1e-5, `scores are cosines (max error ${scoreError})`);
  });
}

t.test('HnswIndex edge cases and the factory', async (t) => {
  const items = entries(randomUnitVectors(5, 8, seededRandom(3)));
  const hnsw = createSpotIndex(items, { kind: 'hnsw' });
  t.ok(hnsw instanceof HnswIndex);
  t.ok(createSpotIndex(items, { kind: 'exact' }) instanceof ExactIndex);
  t.equal(hnsw.search(items[2].feature, 50).length, 5, 'm above the size gives everything');
  t.equal(hnsw.search(items[2].feature, 1)[0].id, items[2].id, 'a stored vector finds itself');
  t.same(new HnswIndex([]).search(new Float32Array(8), 3), []);
});

t.test('HNSW settings come from the recognizer schema: code, schema and bench read one default', async (t) => {
  const { schemaDefault } = await import('../../daemon/config/load.js');
  const { defaultIndexOptions } = await import('../../daemon/recognizer/spot-index.js');
  const d = defaultIndexOptions();
  for (const key of ['efSearch', 'efPerCandidate', 'm', 'efConstruction'] as const) {
    t.equal(d[key], schemaDefault('recognizer', `index.${key}`), `${key} is the schema's`);
  }
  const { runRecognizerBench } = await import('../../daemon/bench/recognizer-bench.js');
  const bench = await runRecognizerBench({ gallery: 100, dimension: 8, queries: 5, warmup: 1, topM: 4, seed: 1 });
  t.equal(bench.ef_search, d.efSearch, 'the bench measures the shipped efSearch');
  t.equal(bench.ef_per_candidate, d.efPerCandidate, 'and the shipped efPerCandidate');
});

t.test('the search breadth grows with the candidates asked for', async (t) => {
  const { searchBreadth } = await import('../../daemon/recognizer/spot-index.js');
  t.equal(searchBreadth(4, 128, 16), 128, 'small replies: the floor');
  t.equal(searchBreadth(24, 128, 16), 384, "k × 6 candidates: 16 per candidate");
  t.equal(searchBreadth(96, 128, 16), 1536);
  t.equal(searchBreadth(200, 10, 0), 200, 'never narrower than the reply');
});

t.test('an HNSW graph kept in a file is read back, answers alike, and a stale file is rebuilt', async (t) => {
  const { hnswCacheFile } = await import('../../daemon/recognizer/spot-index.js');
  const { existsSync, writeFileSync } = await import('node:fs');
  const random = seededRandom(11);
  const items = entries(randomUnitVectors(400, 16, random));
  const file = hnswCacheFile(`${t.testdir()}/g.db`, 'v1', {});
  t.match(file, /g\.db\.hnsw-v1-ip-m\d+-c\d+-s100\.bin$/, 'named after the gallery version and the graph settings');
  const built = new HnswIndex(items, { cacheFile: file });
  t.equal(built.loaded, false);
  t.ok(existsSync(file), 'written after the build');
  const read = new HnswIndex(items, { cacheFile: file });
  t.equal(read.loaded, true, 'read on the next start');
  for (const q of randomUnitVectors(20, 16, random)) t.same(read.search(q, 10), built.search(q, 10));
  const fewer = new HnswIndex(items.slice(0, 300), { cacheFile: file });
  t.equal(fewer.loaded, false, 'a graph of another size is not used');
  writeFileSync(file, 'not a graph');
  const broken = new HnswIndex(items, { cacheFile: file });
  t.equal(broken.loaded, false, 'a damaged file is rebuilt');
  t.same(broken.search(items[3].feature, 1).map((h) => h.id), [items[3].id]);
});
