import t from 'tap';
import { clusteredCi95 } from '../../daemon/eval/eval-harness.js';

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
