/**
 * `enfpire eval --reference-views` on the bundled sample spots: the evaluation enrols as `enfpire enroll` does, and
 * its enrol cache keys on the views (split from eval-harness.test.ts so each file has its own timeout).
 */
import t from 'tap';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runEval } from '../../daemon/eval/eval-harness.js';
import { SpotStore } from '../../daemon/recognizer/spot-store.js';
import { DEFAULT_REFERENCE_VIEWS } from '../../daemon/recognizer/enroll.js';
import { dot } from '../../daemon/util/vector.js';
import { EVAL_TEST_BASE as base } from '../helpers/eval-base.js';

t.test('--reference-views: eval enrols as `enroll` does (4 views by default), under a cache key of its own', async (t) => {
  const cacheDir = await mkdtemp(join(tmpdir(), 'enfpire-eval-cache-'));
  t.teardown(() => rm(cacheDir, { recursive: true, force: true }));
  const plain = await runEval({ ...base, k: 2, users: 1, minutes: 1, cacheDir, referenceViews: 0 });
  const averaged = await runEval({ ...base, k: 2, users: 1, minutes: 1, cacheDir });
  t.equal(plain.reference_views, 0);
  t.equal(averaged.reference_views, DEFAULT_REFERENCE_VIEWS);
  t.equal(DEFAULT_REFERENCE_VIEWS, 4, 'decision 51');
  const galleries = (await readdir(cacheDir)).filter((f) => f.endsWith('.gallery.db'));
  t.equal(galleries.length, 2, 'two galleries cached: a gallery without reference views is never served for one with them');
  const [a, b] = galleries.map((f) => {
    const store = SpotStore.open(join(cacheDir, f));
    const spots = store.all();
    store.close();
    return new Map(spots.map((s) => [s.id, s.feature]));
  });
  let moved = 0;
  for (const [id, feature] of a) {
    const c = dot(feature, b.get(id)!);
    const nearestOther = Math.max(...[...b].filter(([other]) => other !== id).map(([, f]) => dot(feature, f)));
    t.ok(c > nearestOther, `${id}: the averaged reference is still nearest the spot's own (cosine ${c.toFixed(3)} against ${nearestOther.toFixed(3)})`);
    if (c < 0.999) moved++;
  }
  t.equal(moved, a.size, 'every reference moved');
  const again = await runEval({ ...base, k: 2, users: 1, minutes: 1, cacheDir, referenceViews: DEFAULT_REFERENCE_VIEWS });
  t.equal(again.queries, averaged.queries, 'a rerun restores the cached gallery');
  t.equal((await readdir(cacheDir)).filter((f) => f.endsWith('.gallery.db')).length, 2, 'and adds no third');

  // Enrolled afresh (another cache, another temporary folder), the references are the same: runs repeat.
  const freshCache = await mkdtemp(join(tmpdir(), 'enfpire-eval-cache-'));
  t.teardown(() => rm(freshCache, { recursive: true, force: true }));
  await runEval({ ...base, k: 2, users: 1, minutes: 1, cacheDir: freshCache });
  const [fresh] = (await readdir(freshCache)).filter((f) => f.endsWith('.gallery.db'));
  const averagedFile = galleries.find((f) => f === fresh);
  t.ok(averagedFile, 'the same cache key');
  const read = (path: string) => {
    const store = SpotStore.open(path);
    const spots = store.all();
    store.close();
    return spots;
  };
  t.same(read(join(freshCache, fresh)).map((s) => [s.id, [...s.feature]]), read(join(cacheDir, averagedFile!)).map((s) => [s.id, [...s.feature]]), 'the same references, to the last bit');
});
