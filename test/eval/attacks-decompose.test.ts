/**
 * The exhaustive equal-weight decomposition (daemon/eval/attacks/decompose.ts) on a synthetic gallery with view
 * models: it is exact (the pruned search returns what enumerating every subset returns), it finds the mixed spots
 * more often than the greedy OMP fit at topM = 64 and k = 8 in reasonable time, and the arrival attack runs on it.
 */
import t from 'tap';
import { analyse, arrivalAttack, GalleryIndex } from '../../daemon/eval/adversaries.js';
import { decompose, exhaustiveAnalyses } from '../../daemon/eval/attacks/decompose.js';
import { dot64 } from '../../daemon/eval/attacks/linalg.js';
import { KMixSimulator } from '../../daemon/eval/attacks/simulate.js';
import { SpotModels } from '../../daemon/eval/attacks/spot-models.js';
import { syntheticGallery } from '../../daemon/eval/attacks/synthetic.js';
import { seededRandom } from '../../daemon/util/random.js';
import { WalkModel } from '../../daemon/privacy/walk-model.js';
import type { ServerRecord } from '../../daemon/eval/wiretap.js';

function setup(k: number, topM: number, seed = 1, spots = 300, dimension = 64, similarity = 0) {
  const random = seededRandom(seed);
  const gallery = syntheticGallery({ spots, dimension, random, similarity });
  const models = new SpotModels(gallery, 0.5);
  const simulator = new KMixSimulator(gallery, { k, sigma: 0.5, topM, random });
  const index = new GalleryIndex({ gallery, k, walk: new WalkModel(gallery) });
  return { random, gallery, models, simulator, index };
}

t.test('branch and bound returns the best subset that full enumeration finds', async (t) => {
  const { models, simulator } = setup(4, 12, 2);
  for (let trial = 0; trial < 40; trial++) {
    const { record } = simulator.dummy();
    const found = decompose(record.vector, record.candidates, models, 4);
    // Every 4-subset of the 12 candidates, scored directly.
    let best = -Infinity;
    const ids = record.candidates;
    for (let a = 0; a < 12; a++)
      for (let b = a + 1; b < 12; b++)
        for (let c = b + 1; c < 12; c++)
          for (let d = c + 1; d < 12; d++) {
            const sum = new Float64Array(record.vector.length);
            for (const id of [ids[a], ids[b], ids[c], ids[d]]) models.get(id).template.forEach((v, i) => (sum[i] += v));
            best = Math.max(best, dot64(record.vector, sum) / Math.sqrt(dot64(sum, sum)));
          }
    t.ok(found.exact && Math.abs(found.cosine - best) < 1e-9, `trial ${trial}: ${found.cosine} vs ${best}`);
  }
});

t.test('the exhaustive decomposition recovers the mixed spots more often than OMP when references are alike', async (t) => {
  // References at cosine ≈ 0.5 to each other, as CNN features of photos are; k = 8 and a reply of 64.
  const k = 8;
  const { simulator, models, index } = setup(k, 64, 3, 300, 128, 0.5);
  const queries = Array.from({ length: 60 }, () => simulator.dummy());
  const recovered = (components: (i: number) => readonly string[]) =>
    queries.reduce((sum, q, i) => sum + components(i).filter((id) => q.spots.includes(id)).length / k, 0) / queries.length;
  const started = performance.now();
  const found = queries.map((q) => decompose(q.record.vector, q.record.candidates, models, k));
  const ms = (performance.now() - started) / queries.length;
  const omp = recovered((i) => analyse(queries[i].record, index).components.map((c) => c.id));
  const exhaustive = recovered((i) => found[i].components);
  const inReply = recovered((i) => queries[i].record.candidates);
  t.comment(`mixed spots recovered, k = 8, topM = 64: OMP ${omp.toFixed(3)}, exhaustive ${exhaustive.toFixed(3)} (in the reply ${inReply.toFixed(3)}); ${ms.toFixed(1)} ms a query`);
  t.ok(exhaustive > omp + 0.04, 'exhaustive beats OMP');
  t.ok(exhaustive > inReply - 0.05, 'exhaustive misses little of what the reply holds');
  t.ok(found.every((f) => f.exact && f.pool < 64), 'the pool shrank and every search finished');
  t.ok(ms < 200, 'tractable');
  // The shrunken pool loses nothing against a search over every candidate (slow: a few queries only).
  for (let i = 0; i < 3; i++) {
    const full = decompose(queries[i].record.vector, queries[i].record.candidates, models, k, { maxSubsets: Infinity, maxNodes: Infinity });
    t.same([...full.components].sort(), [...found[i].components].sort(), 'same subset as the search over all 64');
  }
});

/** One session of 160 queries; the user's spot changes at every query, the phantoms' only when `phantomsMove`. */
function arrivals(phantomsMove: boolean): number {
  const k = 4;
  const { simulator, models, index } = setup(k, 16, 5, 200, 128);
  const records: ServerRecord[] = [];
  const realSpots: string[] = [];
  let phantoms = simulator.spots(k - 1);
  for (let i = 0; i < 160; i++) {
    const [user] = simulator.spots(1, new Set(phantoms));
    const spots = [...phantoms, user];
    const q = simulator.mix(
      spots,
      spots.map((s) => simulator.view(s)),
    );
    records.push({ ...q.record, t: i * 1000, reply_topic: 'a' });
    realSpots.push(user);
    if (phantomsMove || i % 40 === 39) phantoms = simulator.spots(k - 1, new Set([user]));
  }
  const { analyses } = exhaustiveAnalyses(records, models, index);
  const guesses = arrivalAttack('freshest').guess(analyses);
  return guesses.filter((g, i) => g === realSpots[i]).length / guesses.length;
}

t.test('the arrival attack runs on the exhaustive decomposition', async (t) => {
  const still = arrivals(false);
  const moving = arrivals(true);
  t.comment(`freshest track on the exhaustive decomposition: ${still.toFixed(3)} with phantoms standing still, ${moving.toFixed(3)} with phantoms moving at every query`);
  t.ok(still > 0.9, 'names the only spot that changes');
  t.ok(Math.abs(moving - 0.25) < 0.1, 'chance when every spot changes');
});

t.test('with random weights the server fits free ones, and finds the mixed spots more often than the equal-weight search', async (t) => {
  const { gammaIntegerShape, RANDOM_WEIGHT_SHAPE } = await import('../../daemon/privacy/kmix.js');
  const k = 4;
  const { simulator, models, random } = setup(k, 64, 7, 300, 128, 0.5);
  const queries = Array.from({ length: 120 }, () => {
    const spots = simulator.spots(k);
    // The device's `random` weights, applied to the unit views before the sum.
    return simulator.mix(
      spots,
      spots.map((s) => {
        const w = gammaIntegerShape(RANDOM_WEIGHT_SHAPE, random);
        return Float32Array.from(simulator.view(s), (v) => v * w);
      }),
    );
  });
  const recovered = (freeWeights: boolean) =>
    queries.reduce((sum, q) => sum + decompose(q.record.vector, q.record.candidates, models, k, { freeWeights }).components.filter((id) => q.spots.includes(id)).length / k, 0) / queries.length;
  const equal = recovered(false);
  const free = recovered(true);
  t.comment(`mixed spots recovered with random weights, k = 4, topM = 64: equal-weight search ${equal.toFixed(3)}, free weights ${free.toFixed(3)}`);
  t.ok(free > equal + 0.02, 'free weights find more of the mixed spots');
});
