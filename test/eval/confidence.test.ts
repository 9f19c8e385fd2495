import t from 'tap';
import { clusteredCi95 } from '../../daemon/eval/stats.js';

t.test('the interval of a rate widens when outcomes come in clusters', async (t) => {
  // 20 users × 50 queries, half right overall.
  const users = Array.from({ length: 1_000 }, (_, i) => Math.floor(i / 50));
  const mixed = users.map((_, i) => i % 2 === 0); // every user right half the time
  const clustered = users.map((u) => u % 2 === 0); // half the users always right, half never
  const [lo1, hi1] = clusteredCi95(mixed, users);
  const [lo2, hi2] = clusteredCi95(clustered, users);
  t.ok(lo1 <= 0.5 && hi1 >= 0.5 && hi1 - lo1 < 0.02, `independent within users: [${lo1}, ${hi1}]`);
  t.ok(lo2 <= 0.5 && hi2 >= 0.5 && hi2 - lo2 > 0.3, `all-or-nothing users: [${lo2}, ${hi2}]`);
  t.same(clusteredCi95([true, false], [0, 0]), [0, 1], 'one cluster: no interval to speak of');
});

t.test('clusteredRatioCi95: the ratio of two hit counts, resampled by cluster', async (t) => {
  const { clusteredRatioCi95 } = await import('../../daemon/eval/stats.js');
  const { seededRandom } = await import('../../daemon/util/random.js');
  const clusters = Array.from({ length: 1200 }, (_, i) => i % 12);
  const b = clusters.map(() => true);
  t.same(clusteredRatioCi95(b, b, clusters, seededRandom(1)), [1, 1], 'the same hits: exactly 1');
  // Half the hits in every cluster: tight around 0.5. Half the clusters with none, half with all: wide.
  const even = clusters.map((_, i) => i % 24 < 12);
  const [lo, hi] = clusteredRatioCi95(even, b, clusters, seededRandom(2));
  t.ok(lo <= 0.5 && hi >= 0.5 && hi - lo < 0.05, `even spread: [${lo}, ${hi}]`);
  const lumpy = clusters.map((c) => c < 6);
  const [lumpyLo, lumpyHi] = clusteredRatioCi95(lumpy, b, clusters, seededRandom(3));
  t.ok(lumpyLo < 0.3 && lumpyHi > 0.7, `clustered: [${lumpyLo}, ${lumpyHi}]`);
  t.same(clusteredRatioCi95(b, b, clusters.map(() => 0), seededRandom(4)), [0, Infinity], 'one cluster: no interval');
});
