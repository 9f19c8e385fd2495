/**
 * The nonlinear real-vs-dummy classifier (eval/boosted-trees.ts) on synthetic data, read held out exactly as the
 * harness reads it (`crossValidatedAuc`: sessions dealt into folds, the AUC within each held-out fold): it finds a
 * label a linear model cannot, it reads chance on noise (no optimistic bias), and it repeats itself.
 */
import t from 'tap';
import { performance } from 'node:perf_hooks';
import { crossValidatedAuc, heldOutScores } from '../../daemon/eval/adversaries.js';
import { fitBoostedTrees } from '../../daemon/eval/boosted-trees.js';
import { rocAuc } from '../../daemon/eval/stats.js';
import { seededRandom } from '../../daemon/util/random.js';

/** `rows` rows of `width` standard normals in sessions of `perSession` consecutive rows; `label` decides each row. */
function synthetic(seed: number, rows: number, width: number, perSession: number, label: (x: number[], noise: number) => boolean) {
  const random = seededRandom(seed);
  const features: number[][] = [];
  const labels: boolean[] = [];
  for (let i = 0; i < rows; i++) {
    const x = Array.from({ length: width }, () => random.normal());
    features.push(x);
    labels.push(label(x, random.next()));
  }
  const sessions: number[][] = [];
  for (let start = 0; start < rows; start += perSession) sessions.push(Array.from({ length: Math.min(perSession, rows - start) }, (_, n) => start + n));
  return { features, labels, sessions };
}

const auc = (data: ReturnType<typeof synthetic>, model: 'logistic' | 'trees', seed = 7) =>
  crossValidatedAuc(data.features, data.labels, data.sessions, { random: seededRandom(seed), model });

t.test('XOR of two features: logistic reads chance, trees read it held out', async (t) => {
  // Real when the two features share a sign (10 % of labels flipped), plus two features of pure noise.
  const data = synthetic(11, 2000, 4, 20, (x, u) => x[0] * x[1] > 0 !== u < 0.1);
  const linear = auc(data, 'logistic');
  const trees = auc(data, 'trees');
  t.comment(`XOR held out: logistic ${linear.toFixed(3)}, trees ${trees.toFixed(3)}`);
  t.ok(Math.abs(linear - 0.5) < 0.05, `logistic reads chance (${linear.toFixed(3)})`);
  t.ok(trees > 0.8, `trees read the product (${trees.toFixed(3)})`);
});

t.test('two kinds of real query on either side of the dummies: trees read them, logistic does not', async (t) => {
  // Real queries sit far out on feature 0 on both sides, dummies in the middle: the two kinds pull a line opposite ways.
  const data = synthetic(12, 2000, 3, 20, (x) => Math.abs(x[0]) > 1);
  const linear = auc(data, 'logistic');
  const trees = auc(data, 'trees');
  t.comment(`two-sided held out: logistic ${linear.toFixed(3)}, trees ${trees.toFixed(3)}`);
  t.ok(linear < 0.6, `logistic stays near chance (${linear.toFixed(3)})`);
  t.ok(trees > 0.95, `trees read both sides (${trees.toFixed(3)})`);
});

t.test('pure noise: trees read chance held out, though they fit their training rows', async (t) => {
  // Big enough that the held-out AUC's spread (about 0.015 here) leaves the ±0.05 band for bias to show in.
  const data = synthetic(13, 6000, 8, 25, (_x, u) => u < 0.3);
  const trees = auc(data, 'trees');
  t.comment(`noise held out: trees ${trees.toFixed(3)}`);
  t.ok(Math.abs(trees - 0.5) < 0.05, `held-out AUC at chance (${trees.toFixed(3)})`);
  // The same model scored on its own training rows is optimistic: what holding out guards against.
  const model = fitBoostedTrees(data.features, data.labels);
  const inSample = rocAuc(data.features.map((x) => model.predict(x)), data.labels);
  t.comment(`noise in sample: trees ${inSample.toFixed(3)}`);
  t.ok(inSample > 0.6, `in-sample AUC is biased up (${inSample.toFixed(3)})`);
});

t.test('deterministic: same data and seed, same scores; another seed, other scores', async (t) => {
  const data = synthetic(14, 800, 4, 20, (x, u) => (x[0] * x[1] > 0) !== u < 0.2);
  const a = fitBoostedTrees(data.features, data.labels, { seed: 3 });
  const b = fitBoostedTrees(data.features, data.labels, { seed: 3 });
  const c = fitBoostedTrees(data.features, data.labels, { seed: 4 });
  const sa = data.features.map((x) => a.predict(x));
  t.same(data.features.map((x) => b.predict(x)), sa, 'same seed, same scores');
  t.not(JSON.stringify(data.features.map((x) => c.predict(x))), JSON.stringify(sa), 'the seed drives the row subsample');
  t.equal(auc(data, 'trees', 5), auc(data, 'trees', 5), 'held-out AUC repeats');
  const folds = data.sessions.filter((_, i) => i % 2 === 0).map((s, i) => [...s, ...data.sessions[2 * i + 1]]);
  t.same(heldOutScores(data.features, data.labels, folds, 'trees'), heldOutScores(data.features, data.labels, folds, 'trees'));
});

t.test('options and edge cases', async (t) => {
  const data = synthetic(15, 600, 2, 20, (x) => x[0] > 0);
  t.equal(fitBoostedTrees(data.features, data.labels, { rounds: 7 }).trees, 7, 'one tree per round');
  const stump = fitBoostedTrees(data.features, data.labels, { depth: 1, subsample: 1 });
  t.ok(stump.predict([2, 0]) > 0.9 && stump.predict([-2, 0]) < 0.1, 'stumps learn a threshold');
  // A constant feature gives no split; a NaN goes right of every cut, in training and in prediction alike.
  const constant = fitBoostedTrees(data.features.map(() => [1]), data.labels);
  t.equal(constant.predict([1]), constant.predict([5]), 'no split on a constant feature');
  const withNaN = data.features.map((x) => [x[0] > 1.5 ? Number.NaN : x[0]]);
  const model = fitBoostedTrees(withNaN, data.labels);
  t.ok(model.predict([Number.NaN]) > 0.9, 'NaN rows (all real here) read real');
  t.throws(() => fitBoostedTrees([], []), RangeError);
  t.throws(() => model.predict([1, 2]), RangeError);
});

t.test('a fit of 6,000 rows by 12 features takes well under a few seconds', async (t) => {
  const data = synthetic(16, 6000, 12, 30, (x, u) => x[0] * x[1] + 0.5 * x[2] > 0.3 * u);
  const start = performance.now();
  const model = fitBoostedTrees(data.features, data.labels);
  const ms = performance.now() - start;
  t.comment(`one fit, 6000 x 12, 100 rounds, depth 3: ${ms.toFixed(0)} ms`);
  t.ok(model.trees === 100);
  // Loose on purpose (a loaded CI machine): 15 fits per held-out AUC must stay in seconds, not minutes.
  t.ok(ms < 3000, `fit in ${ms.toFixed(0)} ms`);
});
