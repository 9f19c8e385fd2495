import t from 'tap';
import { percentile, round, summarize } from '../../daemon/util/stats.js';

t.test('nearest-rank percentiles report measured values', async (t) => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted on purpose
  const s = summarize(hundred);
  t.same([s.count, s.min, s.max, s.p50, s.p99, s.mean], [100, 1, 100, 50, 99, 50.5]);
  t.equal(percentile([7], 99), 7, 'one sample is every percentile');
  t.equal(percentile([1, 2, 3, 4], 50), 2);
  t.equal(percentile([1, 2, 3, 4], 99), 4);
  t.same(hundred[0], 100, 'input left unsorted');
  t.throws(() => summarize([]), RangeError);
});

t.test('round keeps 4 significant digits and leaves zero and non-finite alone', async (t) => {
  t.equal(round(1234.5678), 1235);
  t.equal(round(0.000123456), 0.0001235);
  t.equal(round(0), 0);
  t.equal(round(Number.POSITIVE_INFINITY), Number.POSITIVE_INFINITY);
});
