import t from 'tap';
import { DecoySynthesizer, estimateSigma } from '../../daemon/privacy/decoys.js';
import { KMixTransform } from '../../daemon/privacy/kmix.js';
import { seededRandom, type Random } from '../../daemon/util/random.js';
import { createTransform, type TransformConfig } from '../../daemon/privacy/transform.js';
import { UserError } from '../../daemon/util/errors.js';
import { cosine, norm } from '../../daemon/util/vector.js';
import { dequantize, quantize } from '../../daemon/domain/quantize.js';
import { makeGallery, type SyntheticGallery } from './synthetic-gallery.js';

const gallery = makeGallery({ seed: 21 });

/** The view variation fitted offline from photo/reference pairs, as the model build does. */
function fittedSigma(g: SyntheticGallery, random: Random): number {
  return estimateSigma(
    Array.from({ length: 400 }, (_, i) => {
      const spot = g.spots[i % g.spots.length];
      return { photo: g.photo(spot.id, random), reference: spot.feature };
    }),
  );
}
const sigma = fittedSigma(gallery, seededRandom(22));

function makeTransform(k: number, seed: number, g = gallery): KMixTransform {
  const random = seededRandom(seed);
  const synthesizer = new DecoySynthesizer({ spots: g.spots, variation: { sigma }, random });
  return new KMixTransform({ candidatesPerComponent: 4, maxCandidates: 0, replySize: 'fixed', mixWeights: 'equal', realComponent: 'stand-in', k, synthesizer, random });
}

const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;

t.test('the query hides the feature: cos(q, f) falls with k', async (t) => {
  const visits = seededRandom(30);
  const means: number[] = [];
  for (const k of [1, 2, 4, 8]) {
    const transform = makeTransform(k, 31 + k);
    const cos: number[] = [];
    for (let i = 0; i < 500; i++) {
      const f = gallery.photo(gallery.visit(visits).id, visits);
      cos.push(cosine(transform.transform(f).vector, f));
    }
    t.comment(`k = ${k}: cos(q, f) mean ${mean(cos).toFixed(3)}, max ${Math.max(...cos).toFixed(3)}`);
    if (k === 1) t.ok(Math.min(...cos) > 0.99999, 'k = 1 sends f itself');
    else t.ok(Math.max(...cos) < 0.9, `k = ${k}: every query is well away from f`);
    means.push(mean(cos));
  }
  t.ok(means[1] > means[2] && means[2] > means[3], 'more components hide f better');
});

/** Share of queries whose real spot is the server's top-1, and the recall of the top-k×c candidates for each c. */
function serverView(k: number, perComponent: number[], seed: number, queries = 1000) {
  const visits = seededRandom(seed);
  const transform = makeTransform(k, seed + 1);
  const maxM = k * Math.max(...perComponent);
  let top1 = 0;
  const found = perComponent.map(() => 0);
  for (let i = 0; i < queries; i++) {
    const spot = gallery.visit(visits);
    const q = transform.transform(gallery.photo(spot.id, visits));
    const rank = gallery.topM(q.vector, maxM).findIndex((c) => c.id === spot.id);
    if (rank === 0) top1++;
    perComponent.forEach((c, j) => {
      if (rank >= 0 && rank < k * c) found[j]++;
    });
  }
  return { top1: top1 / queries, recall: found.map((n) => n / queries) };
}

t.test('the gallery is recognisable without privacy (so the numbers below mean something)', async (t) => {
  const visits = seededRandom(39);
  let correct = 0;
  for (let i = 0; i < 1000; i++) {
    const spot = gallery.visit(visits);
    if (gallery.topM(gallery.photo(spot.id, visits), 1)[0].id === spot.id) correct++;
  }
  t.comment(`plain top-1 without privacy: ${correct / 1000}`);
  t.ok(correct / 1000 >= 0.99);
});

t.test('server top-1 is about 1/k while the real spot comes back among the candidates', async (t) => {
  // Recall of the real spot in the top k×c depends on c: the other components' look-alike neighbours
  // compete for the slots, and their cross-talk grows with k. Measured for c = 4 (default), 6 and 8.
  const perComponent = [4, 6, 8];
  const view = new Map<number, ReturnType<typeof serverView>>();
  for (const k of [2, 4, 8]) {
    const v = serverView(k, perComponent, 40 + k);
    view.set(k, v);
    t.comment(`k = ${k}: server top-1 ${v.top1.toFixed(3)}; recall in top-k×c for c = 4/6/8: ${v.recall.map((r) => r.toFixed(3)).join(' / ')}`);
    t.ok(v.top1 <= 1 / k + 0.1, `k = ${k}: the server names the real spot in about 1/k of queries`);
    t.ok(v.top1 >= 1 / k - 0.1, `k = ${k}: the real component is not disadvantaged either (the mix is symmetric)`);
    t.ok(v.recall[0] <= v.recall[1] && v.recall[1] <= v.recall[2], 'more candidates never lose the real spot');
  }
  t.ok(view.get(4)!.top1 <= 0.4, 'k = 4: server top-1 at most 0.40');
  t.ok(view.get(2)!.recall[0] >= 0.99, 'k = 2, c = 4: real spot among the candidates in 99 %');
  t.ok(view.get(4)!.recall[0] >= 0.97, 'k = 4, c = 4: real spot among the candidates in 97 %');
  t.ok(view.get(4)!.recall[1] >= 0.99, 'k = 4, c = 6: real spot among the candidates in 99 %');
  t.ok(view.get(8)!.recall[2] >= 0.99, 'k = 8, c = 8: real spot among the candidates in 99 %');
});

t.test('real and dummy queries have the same shape', async (t) => {
  const visits = seededRandom(70);
  for (const k of [1, 2, 4, 16]) {
    const transform = makeTransform(k, 71 + k);
    const real = transform.transform(gallery.photo(gallery.visit(visits).id, visits));
    const dummy = transform.dummy();
    t.equal(real.vector.length, gallery.dimension);
    t.equal(dummy.vector.length, gallery.dimension);
    t.ok(Math.abs(norm(real.vector) - 1) < 1e-5 && Math.abs(norm(dummy.vector) - 1) < 1e-5, `k = ${k}: both unit`);
    t.equal(real.topM, dummy.topM);
    t.equal(real.topM, 4 * k);
    t.equal(real.decoySpots.length, k - 1);
    t.equal(dummy.decoySpots.length, k);
    t.equal(new Set(dummy.decoySpots).size, k, 'dummy components are distinct spots');
  }
});

t.test('decoys never show the real spot and are drawn afresh every query', async (t) => {
  const visits = seededRandom(80);
  const transform = makeTransform(4, 81);
  let clashes = 0;
  for (let i = 0; i < 500; i++) {
    const spot = gallery.visit(visits);
    const q = transform.transform(gallery.photo(spot.id, visits));
    if (q.decoySpots.includes(spot.id) || new Set(q.decoySpots).size !== 3) clashes++;
  }
  t.equal(clashes, 0);
  const f = gallery.photo('spot-3', visits);
  const a = transform.transform(f);
  const b = transform.transform(f);
  t.ok(cosine(a.vector, b.vector) < 0.999, 'the same feature twice gives two different queries');
});

t.test('a server statistic does not separate dummies from real queries', async (t) => {
  // Top-1 score of q against the gallery: the first thing a curious server would look at.
  const visits = seededRandom(90);
  const transform = makeTransform(4, 91);
  const real: number[] = [];
  const dummy: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const q = transform.transform(gallery.photo(gallery.visit(visits).id, visits));
    real.push(gallery.topM(q.vector, 1)[0].score);
    dummy.push(gallery.topM(transform.dummy().vector, 1)[0].score);
  }
  // AUC of "higher top-1 score means real".
  let wins = 0;
  const sortedDummy = [...dummy].sort((a, b) => a - b);
  for (const r of real) {
    let lo = 0;
    let hi = sortedDummy.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sortedDummy[mid] < r) lo = mid + 1;
      else hi = mid;
    }
    wins += lo;
  }
  const auc = wins / (real.length * dummy.length);
  t.comment(`top-1 score real ${mean(real).toFixed(4)} vs dummy ${mean(dummy).toFixed(4)}; AUC ${auc.toFixed(3)}`);
  t.ok(Math.abs(auc - 0.5) < 0.06, 'top-1 score is no better than a coin at telling dummies apart');
});

t.test('a stand-in query carries the spot the device named and nothing else of the frame', async (t) => {
  // Two different frames that name the same spot give the very same query from the same random state: the wire
  // cannot hold anything of the frame beyond the name. With the frame itself as the real component it does.
  const visits = seededRandom(110);
  const spot = gallery.spots[5].id;
  const frames: Float32Array[] = [];
  while (frames.length < 2) {
    const f = gallery.photo(spot, visits);
    if (gallery.topM(f, 1)[0].id === spot) frames.push(f);
  }
  t.ok(cosine(frames[0], frames[1]) < 0.99, 'two distinct frames of the spot');
  const build = (realComponent: 'stand-in' | 'frame', f: Float32Array) => {
    const random = seededRandom(111);
    const synthesizer = new DecoySynthesizer({ spots: gallery.spots, variation: { sigma }, random });
    return new KMixTransform({ candidatesPerComponent: 4, maxCandidates: 0, replySize: 'fixed', mixWeights: 'equal', k: 4, synthesizer, random, realComponent }).transform(f);
  };
  t.same(Array.from(build('stand-in', frames[0]).vector), Array.from(build('stand-in', frames[1]).vector), 'stand-in: identical queries');
  t.notSame(Array.from(build('frame', frames[0]).vector), Array.from(build('frame', frames[1]).vector), 'frame: the frame shows');
  t.throws(
    () => new KMixTransform({ candidatesPerComponent: 4, maxCandidates: 0, replySize: 'fixed', mixWeights: 'equal', k: 2, synthesizer: new DecoySynthesizer({ spots: gallery.spots, variation: { sigma }, random: seededRandom(1) }), random: seededRandom(1), realComponent: 'photo' as 'frame' }),
    /realComponent must be one of stand-in, frame/,
  );
});

t.test('seeded transforms are reproducible', async (t) => {
  const f = gallery.photo('spot-7', seededRandom(100));
  const a = makeTransform(4, 101);
  const b = makeTransform(4, 101);
  const c = makeTransform(4, 102);
  const qa = a.transform(f);
  const qb = b.transform(f);
  t.same(Array.from(qa.vector), Array.from(qb.vector));
  t.same(qa.decoySpots, qb.decoySpots);
  t.same(Array.from(a.dummy().vector), Array.from(b.dummy().vector));
  t.notSame(Array.from(c.transform(f).vector), Array.from(qa.vector));
});

t.test('options are validated with user-facing errors', async (t) => {
  const small = makeGallery({ seed: 1, spots: 5, clusters: 2 });
  t.throws(() => makeTransform(0, 1), UserError);
  t.throws(() => makeTransform(17, 1), /from 1 to 16/);
  t.throws(() => makeTransform(2.5, 1), UserError);
  t.throws(() => makeTransform(8, 1, small), /at least 8 spots .* has 5/);
  const random = seededRandom(1);
  const synthesizer = new DecoySynthesizer({ spots: small.spots, variation: { sigma }, random });
  t.throws(() => new KMixTransform({ k: 2, candidatesPerComponent: 0, maxCandidates: 0, replySize: 'fixed', mixWeights: 'equal', realComponent: 'stand-in', synthesizer, random }), /candidatesPerComponent/);
  t.equal(new KMixTransform({ k: 2, candidatesPerComponent: 3, maxCandidates: 0, replySize: 'fixed', mixWeights: 'equal', realComponent: 'stand-in', synthesizer, random }).topM, 6);
  const k5 = makeTransform(5, 1, small);
  t.equal(k5.dummy().decoySpots.length, 5, 'a pack of exactly k spots is enough');
  t.throws(() => k5.transform(new Float32Array(3)), /dimension 3/);
});

t.test('createTransform builds the configured transform', async (t) => {
  const transform = createTransform(
    { kind: 'kmix', decoys: 'wearer', k: 3, candidatesPerComponent: 5, maxCandidates: 0, replySize: 'fixed', mixWeights: 'equal', realComponent: 'stand-in' },
    { pool: { spots: gallery.spots }, variation: { sigma }, random: seededRandom(5) },
  );
  t.equal(transform.name, 'kmix');
  t.equal(transform.dummy().topM, 15);
  // Production default: crypto randomness.
  const production = createTransform({ kind: 'kmix', decoys: 'wearer', candidatesPerComponent: 4, maxCandidates: 0, replySize: 'fixed', mixWeights: 'equal', realComponent: 'stand-in', k: 2 }, { pool: { spots: gallery.spots }, variation: { sigma } });
  t.equal(production.transform(gallery.photo('spot-1', seededRandom(6))).topM, 8);
  const bogus = { kind: 'hologram', k: 2 } as unknown as TransformConfig;
  t.throws(() => createTransform(bogus, { pool: { spots: gallery.spots }, variation: { sigma } }), /unknown privacy transform kind "hologram"/);
});

t.test('the reply grows in steps of k × c until every component’s spot fits, up to maxCandidates', async (t) => {
  const { replySizeFor } = await import('../../daemon/privacy/kmix.js');
  t.equal(replySizeFor(0, 24, 96), 24);
  t.equal(replySizeFor(23, 24, 96), 24, 'rank 23 is the 24th: fits');
  t.equal(replySizeFor(24, 24, 96), 48);
  t.equal(replySizeFor(70, 24, 96), 72);
  t.equal(replySizeFor(500, 24, 96), 96, 'capped');
  t.equal(replySizeFor(500, 24, 24), 24, 'maxCandidates = k × c: never more');
});

t.test('replySize fixed: every query asks for maxCandidates, whatever its spots; grow: the size follows the worst rank', async (t) => {
  // A tight-cluster gallery, where a mix's components often rank below k × c, so 'grow' does grow.
  const dense = makeGallery({ seed: 23, spots: 200, clusters: 4, spread: 0.4 });
  const build = (replySize: 'fixed' | 'grow', seed: number) => {
    const random = seededRandom(seed);
    const synthesizer = new DecoySynthesizer({ spots: dense.spots, variation: { sigma }, random });
    return new KMixTransform({ k: 4, candidatesPerComponent: 2, maxCandidates: 64, replySize, mixWeights: 'equal', realComponent: 'stand-in', synthesizer, random });
  };
  const sizes = (transform: KMixTransform, seed: number) => {
    const visits = seededRandom(seed);
    const real = Array.from({ length: 60 }, () => transform.transform(dense.photo(dense.visit(visits).id, visits)).topM);
    const dummy = Array.from({ length: 60 }, () => transform.dummy().topM);
    return { real, dummy };
  };
  const fixed = sizes(build('fixed', 40), 41);
  t.same(new Set([...fixed.real, ...fixed.dummy]), new Set([64]), 'one size on the wire, real or dummy');
  const grown = sizes(build('grow', 40), 41);
  const seen = new Set([...grown.real, ...grown.dummy]);
  t.ok(seen.size > 1, `grow asks for several sizes (${[...seen].sort((a, b) => a - b).join(', ')})`);
  t.ok([...seen].every((m) => m % 8 === 0 && m >= 8 && m <= 64), 'multiples of k × c, capped at maxCandidates');
  t.throws(() => build('shrink' as 'grow', 1), /replySize must be one of fixed, grow/);
});

t.test('evenScoreWeights: every component’s spot scores the same against the weighted sum', async (t) => {
  const { evenScoreWeights } = await import('../../daemon/privacy/kmix.js');
  const random = seededRandom(50);
  const synthesizer = new DecoySynthesizer({ spots: gallery.spots, variation: { sigma }, random });
  const spots = gallery.spots.slice(0, 4).map((s) => s.id);
  const references = spots.map((id) => synthesizer.reference(id));
  const components = spots.map((id) => synthesizer.decoyFor(id));
  const w = evenScoreWeights(references, components);
  t.ok(w, 'solvable for views of distinct spots');
  const sum = new Float32Array(gallery.dimension);
  components.forEach((c, j) => c.forEach((v, i) => (sum[i] += w![j] * v)));
  const scores = references.map((r) => cosine(r, sum));
  t.ok(Math.max(...scores) - Math.min(...scores) < 1e-5, `scores ${scores.map((s) => s.toFixed(5)).join(', ')}`);
  t.ok(Math.abs(w!.reduce((s, x) => s + x, 0) / w!.length - 1) < 1e-9, 'weights average 1');
  // A component that points away from its own spot would need a negative weight: refused.
  const away = components.map((c, j) => (j === 0 ? Float32Array.from(c, (v) => -v) : c));
  t.equal(evenScoreWeights(references, away), null);
});

t.test('mixWeights even-scores and random: which spot tops the mix on the server no longer depends on the spot', async (t) => {
  // With equal weights a spot near the middle of its cluster's views tops the (int8, as sent) mix far more often than
  // its neighbours do whenever it is shown: the server's plain top-1 then names the real spot when users stand at
  // such spots. Even scores leave the order to the quantisation: about 1/k for every spot.
  const clustered = makeGallery({ seed: 24, spots: 60, clusters: 3, spread: 0.9 });
  const queries = 2000;
  const topShares = (mixWeights: 'equal' | 'even-scores' | 'random') => {
    const random = seededRandom(60);
    const synthesizer = new DecoySynthesizer({ spots: clustered.spots, variation: { sigma }, random });
    const transform = new KMixTransform({ k: 4, candidatesPerComponent: 4, maxCandidates: 60, replySize: 'fixed', mixWeights, realComponent: 'stand-in', synthesizer, random });
    const tally = new Map<string, { shown: number; top: number }>();
    for (let i = 0; i < queries; i++) {
      // A dummy shows k spots and nothing else, built as a real query is.
      const q = transform.dummy();
      const sent = dequantize(quantize(q.vector));
      const scores = q.decoySpots.map((id) => ({ id, score: cosine(synthesizer.reference(id), sent) }));
      const best = scores.reduce((a, b) => (b.score > a.score ? b : a));
      for (const s of scores) {
        const entry = tally.get(s.id) ?? { shown: 0, top: 0 };
        entry.shown++;
        if (s.id === best.id) entry.top++;
        tally.set(s.id, entry);
      }
    }
    const shares = [...tally.values()].filter((e) => e.shown >= 40).map((e) => e.top / e.shown);
    return Math.sqrt(shares.reduce((s, x) => s + (x - 0.25) ** 2, 0) / shares.length);
  };
  const equal = topShares('equal');
  const even = topShares('even-scores');
  // About 130 showings a spot: binomial noise alone gives a spread of about 0.04 around 1/k.
  t.ok(even < 0.05, `spread of the per-spot top-1 share around 1/k with even scores: ${even.toFixed(3)}`);
  t.ok(even < equal / 2, `against ${equal.toFixed(3)} with equal weights`);
  // Random weights do not look at the spots at all: the heaviest draw tops the mix, whichever spot it carries.
  const random = topShares('random');
  t.ok(random < 0.05, `spread with random weights: ${random.toFixed(3)}`);
  t.ok(random < equal / 2, `against ${equal.toFixed(3)} with equal weights`);
});

t.test('mixWeights random: weights drawn from one Gamma whatever the spot, so no component is left out', async (t) => {
  const { gammaIntegerShape, RANDOM_WEIGHT_SHAPE } = await import('../../daemon/privacy/kmix.js');
  const random = seededRandom(61);
  const draws = Array.from({ length: 20000 }, () => gammaIntegerShape(RANDOM_WEIGHT_SHAPE, random));
  const mean = draws.reduce((s, x) => s + x, 0) / draws.length;
  const variance = draws.reduce((s, x) => s + (x - mean) ** 2, 0) / draws.length;
  // Gamma(shape, 1): mean and variance both equal the shape.
  t.ok(Math.abs(mean - RANDOM_WEIGHT_SHAPE) < 0.06, `mean ${mean.toFixed(3)}`);
  t.ok(Math.abs(variance - RANDOM_WEIGHT_SHAPE) < 0.25, `variance ${variance.toFixed(3)}`);
  t.ok(draws.every((x) => x > 0), 'every weight positive');
  // Through the transform, each component's spot still comes back within the reply it asks for.
  const synthesizer = new DecoySynthesizer({ spots: gallery.spots, variation: { sigma }, random: seededRandom(62) });
  const transform = new KMixTransform({ k: 4, candidatesPerComponent: 4, maxCandidates: 64, replySize: 'fixed', mixWeights: 'random', realComponent: 'stand-in', synthesizer, random: seededRandom(63) });
  const outside = Array.from({ length: 50 }, () => transform.dummy()).filter((q) => synthesizer.worstRank(q.vector, q.decoySpots) >= q.topM);
  t.equal(outside.length, 0, 'every spot of 50 dummies within the reply');
});
