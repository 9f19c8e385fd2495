/**
 * The curious server's attacks (DESIGN §7). Every adversary works from `ServerRecord`s — exactly what crossed the
 * broker — plus what the server legitimately has: its gallery (reference features, coordinates, popularity), the
 * algorithm and its public parameters (k, the walk model, the view-variation sigma), and pictures of its own spots
 * it may render and extract itself. Ground truth is used only to score the attacks, never inside them (the trained
 * real-vs-dummy classifier is fitted on labelled sessions and scored on held-out ones: an upper bound).
 */
import type { WalkModel } from '../privacy/walk-model.js';
import { mostLikelyPath, sparseViterbi } from './attacks/path.js';
import { median } from './attacks/linalg.js';
import { createTransform, type KMixConfig } from '../privacy/transform.js';
import { schemaDefaults } from '../config/load.js';
import type { Random } from '../util/random.js';
import type { RegionSpot } from '../transport/messages.js';
import { cosine, dot, normalize } from '../util/vector.js';
import { fitLogistic, rocAuc, type LogisticModel } from './stats.js';
import { fitBoostedTrees } from './boosted-trees.js';
import type { ServerRecord } from './wiretap.js';

/** What the server knows besides the traffic. */
export interface ServerKnowledge {
  gallery: readonly RegionSpot[];
  /** Anonymity set size (public configuration). */
  k: number;
  /** The published movement model of phantoms and users. */
  walk: WalkModel;
}

/** One query, decomposed the way an adversary that knows k-mix would. */
export interface QueryAnalysis {
  record: ServerRecord;
  /** Reply candidates re-scored against the query (the server's own scores), best first. */
  scores: { id: string; score: number }[];
  /** The k spots most consistent with q and their least-squares weights, by weight descending. */
  components: { id: string; weight: number }[];
  /** q minus its fit by the components' references: the summed view noise of all components. */
  residual: Float64Array;
  residualNorm: number;
}

export class GalleryIndex {
  readonly byId = new Map<string, RegionSpot & { unit: Float32Array }>();
  readonly totalPopularity: number;
  constructor(readonly knowledge: ServerKnowledge) {
    let total = 0;
    for (const s of knowledge.gallery) {
      this.byId.set(s.id, { ...s, unit: normalize(s.feature) });
      total += s.popularity;
    }
    this.totalPopularity = total;
  }
  unit(id: string): Float32Array {
    const s = this.byId.get(id);
    if (!s) throw new RangeError(`spot ${id} is not in the gallery`);
    return s.unit;
  }
}

/**
 * Greedy decomposition of q over the references of its reply candidates (orthogonal matching pursuit): pick the
 * reference most aligned with what is left, refit all picked weights by least squares, repeat k times.
 */
export function analyse(record: ServerRecord, index: GalleryIndex): QueryAnalysis {
  const q = Float32Array.from(record.vector);
  const pool = record.candidates.filter((id) => index.byId.has(id));
  const scores = pool.map((id) => ({ id, score: dot(q, index.unit(id)) })).sort((a, b) => b.score - a.score);
  const k = Math.min(index.knowledge.k, pool.length);
  const chosen: string[] = [];
  let weights: number[] = [];
  let residual = Float64Array.from(q);
  for (let step = 0; step < k; step++) {
    let best = '';
    let bestScore = -Infinity;
    for (const id of pool) {
      if (chosen.includes(id)) continue;
      const s = dot64(residual, index.unit(id));
      if (s > bestScore) {
        bestScore = s;
        best = id;
      }
    }
    chosen.push(best);
    weights = leastSquares(chosen.map((id) => index.unit(id)), q);
    residual = Float64Array.from(q);
    chosen.forEach((id, i) => {
      const r = index.unit(id);
      for (let d = 0; d < residual.length; d++) residual[d] -= weights[i] * r[d];
    });
  }
  const components = chosen.map((id, i) => ({ id, weight: weights[i] })).sort((a, b) => b.weight - a.weight);
  return { record, scores, components, residual, residualNorm: Math.sqrt(dot64(residual, residual)) };
}

/** An attack that names one spot per query (null: no guess), in record order. */
export interface SpotAttack {
  readonly name: string;
  guess(analyses: readonly QueryAnalysis[]): (string | null)[];
}

/** (a) The server's own top-1: what a plain recognizer would answer. */
export const naiveTop1: SpotAttack = {
  name: 'naive_top1',
  guess: (analyses) => analyses.map((a) => a.scores[0]?.id ?? null),
};

/**
 * (b) Bayes with spot popularity over the k components. Real spots are visited ∝ popularity and decoys drawn from
 * the same profile; treating decoy draws as independent given the real spot s, the posterior is
 * ∝ pop(s) / (Z − pop(s))^{k−1}. Ties keep the heavier component.
 */
export function popularityBayes(index: GalleryIndex): SpotAttack {
  const k = index.knowledge.k;
  return {
    name: 'popularity_bayes',
    guess: (analyses) =>
      analyses.map((a) => {
        let best: string | null = null;
        let bestLog = -Infinity;
        for (const c of a.components) {
          const pop = index.byId.get(c.id)!.popularity;
          const logPosterior = Math.log(pop) - (k - 1) * Math.log(Math.max(index.totalPopularity - pop, Number.MIN_VALUE));
          if (logPosterior > bestLog + 1e-12) {
            bestLog = logPosterior;
            best = c.id;
          }
        }
        return best;
      }),
  };
}

/**
 * A guess from a fixed order of the region's spots: the component whose spot ranks highest in `rank` (higher
 * first). A server holding any prior about where people go guesses this way; which order it holds is its own.
 */
export function spotOrderGuess(name: string, rank: ReadonlyMap<string, number>): SpotAttack {
  const of = (id: string) => rank.get(id) ?? -Infinity;
  return {
    name,
    guess: (analyses) =>
      analyses.map((a) => {
        let best: string | null = null;
        for (const c of a.components) if (best === null || of(c.id) > of(best)) best = c.id;
        return best;
      }),
  };
}

/**
 * (b′) The most central component: the one whose spot's reference has the highest mean cosine with the region's
 * references (its dot product with their mean). With equal weights the server's own top-1 leans to such spots
 * (decision 38); this attack names them outright whatever the weights, so a defence that only changes which
 * component tops the mix is not credited for a wearer who happens to favour a central spot. It has no setting to tune.
 */
export function centralSpot(index: GalleryIndex): SpotAttack {
  return spotOrderGuess('central_spot', centrality(index));
}

/** Each spot's centrality: its reference's dot product with the mean of the region's references (`centralSpot`'s order). */
export function centrality(index: GalleryIndex): Map<string, number> {
  const units = [...index.byId.values()].map((s) => s.unit);
  const mean = new Float64Array(units[0]?.length ?? 0);
  for (const u of units) for (let d = 0; d < mean.length; d++) mean[d] += u[d] / units.length;
  return new Map([...index.byId.keys()].map((id) => [id, dot64(mean, index.unit(id))]));
}

/**
 * How well a spot order a server picks blindly does, in this run: the rates of `draws` spot-order guesses with random
 * orders on the same analyses (mean, standard deviation, 95th percentile). With a perfect defence every order is
 * right 1/k of the time on average, but the real queries of a short run fall in a few long visits, so some orders
 * match where the wearers happened to stay; this is the spread against which a single run's central_spot, popularity
 * or naive top-1 figure is read.
 */
export function spotOrderNull(
  analyses: readonly QueryAnalysis[],
  realSpots: ReadonlyMap<number, string>,
  spots: readonly string[],
  random: Random,
  draws = 200,
): { mean: number; sd: number; p95: number } {
  const rates: number[] = [];
  for (let d = 0; d < draws; d++) {
    const order = random.shuffle([...spots]);
    const guesses = spotOrderGuess('null', new Map(order.map((id, i) => [id, i]))).guess(analyses);
    let hits = 0;
    for (const [i, spot] of realSpots) if (guesses[i] === spot) hits++;
    rates.push(realSpots.size > 0 ? hits / realSpots.size : 0);
  }
  rates.sort((a, b) => a - b);
  const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
  const sd = Math.sqrt(rates.reduce((a, r) => a + (r - mean) ** 2, 0) / Math.max(1, rates.length - 1));
  return { mean, sd, p95: rates[Math.min(rates.length - 1, Math.floor(0.95 * rates.length))] };
}

/**
 * What a spot-order guess would win against decoys that knew nothing of it: each real query's k − 1 decoys drawn
 * uniformly from the region's other spots, the guess right when the real spot outranks all of them, so its chance is
 * C(spots ranked below it, k − 1) / C(other spots, k − 1). Averaged over the run's real queries this is the part of a
 * spot-order attack's rate that comes from where the wearers stood (a world whose wearers stayed at central spots
 * lets `central_spot` win with any unbiased decoys); the attack's rate above it is what the device's choice of decoys
 * adds. Ties in `rank` count as not outranked.
 */
export function spotOrderFloor(realSpots: Iterable<string>, rank: ReadonlyMap<string, number>, k: number): number {
  const values = [...rank.values()];
  const choose = (n: number, r: number): number => {
    if (r < 0 || n < r) return 0;
    let c = 1;
    for (let i = 0; i < r; i++) c = (c * (n - i)) / (i + 1);
    return c;
  };
  const all = choose(values.length - 1, k - 1);
  let sum = 0;
  let n = 0;
  for (const spot of realSpots) {
    const own = rank.get(spot);
    if (own === undefined || all === 0) continue;
    sum += choose(values.filter((v) => v < own).length, k - 1) / all;
    n++;
  }
  return n === 0 ? 0 : sum / n;
}

/**
 * `spotOrderFloor` over several worlds, each given as the spots of its real queries (or the frames standing for
 * them): the mean, and the standard deviation between worlds. A single run's floor is one draw from this.
 */
export function expectedSpotOrderFloor(worlds: readonly (readonly string[])[], rank: ReadonlyMap<string, number>, k: number): { mean: number; sd: number } {
  const floors = worlds.map((spots) => spotOrderFloor(spots, rank, k));
  const mean = floors.reduce((a, b) => a + b, 0) / Math.max(1, floors.length);
  const sd = Math.sqrt(floors.reduce((a, v) => a + (v - mean) ** 2, 0) / Math.max(1, floors.length - 1));
  return { mean, sd };
}

/** Camera views of gallery spots the adversary rendered and extracted itself (its own seeds, never the evaluation's). */
export type OwnViews = ReadonlyMap<string, readonly Float32Array[]>;

/**
 * (c) Which component looks like a real photo. The adversary learns, per spot, how its own camera views of that spot
 * deviate from the reference (the span of those deviations, and their mean), then simulates k-mix itself — its own
 * views as the real feature, decoys synthesised exactly as the device does — and fits a logistic regression that
 * tells the real component from decoys by: the component's least-squares weight, the share of the residual that
 * falls in the spot's photo-deviation span, the residual's projection on the spot's mean deviation, its score rank
 * and its popularity. The guess is the component most likely real.
 */
export class ComponentTest implements SpotAttack {
  readonly name = 'component_test';
  private readonly spans = new Map<string, Float64Array[]>();
  private readonly biases = new Map<string, Float64Array>();
  private readonly model: LogisticModel;
  /** Simulated components the model was fitted on. */
  readonly trainingSize: number;

  constructor(
    private readonly index: GalleryIndex,
    views: OwnViews,
    options: { sigma: number; random: Random; candidatesPerComponent: number },
  ) {
    const k = index.knowledge.k;
    // Half of each spot's views learn its deviation span, the other half play real photos in simulated queries.
    const simulated: { feature: Float32Array; spot: string }[] = [];
    for (const [spot, features] of views) {
      const half = Math.max(1, Math.floor(features.length / 2));
      this.learnSpot(spot, features.slice(0, half));
      for (const f of features.slice(half)) simulated.push({ feature: f, spot });
    }
    const transform = createTransform(
      {
        // The server simulates the public algorithm with the shipped profile's settings.
        ...(schemaDefaults('edge', 'privacy.transform') as unknown as KMixConfig),
        kind: 'kmix',
        k,
        candidatesPerComponent: options.candidatesPerComponent,
        decoys: 'random',
      },
      { pool: { spots: [...index.knowledge.gallery] }, variation: { sigma: options.sigma }, random: options.random },
    );
    const xs: number[][] = [];
    const ys: boolean[] = [];
    for (const { feature, spot } of simulated) {
      const q = transform.transform(feature);
      // The adversary's simulated reply: the top-M of its own gallery, as its recognizer would answer.
      const candidates = [...index.byId.values()]
        .map((s) => ({ id: s.id, score: dot(q.vector, s.unit) }))
        .sort((a, b) => b.score - a.score)
        .slice(0, q.topM)
        .map((c) => c.id);
      const analysis = analyse({ t: 0, reply_topic: '', vector: Array.from(q.vector), topM: q.topM, candidates }, index);
      for (const c of analysis.components) {
        xs.push(this.features(analysis, c.id));
        ys.push(c.id === spot);
      }
    }
    this.trainingSize = xs.length;
    this.model = xs.length > 0 && ys.some(Boolean) && ys.some((y) => !y) ? fitLogistic(xs, ys) : { predict: () => 0.5 };
  }

  /** P(component `id` of this query is a real photo). */
  realness(analysis: QueryAnalysis, id: string): number {
    return this.model.predict(this.features(analysis, id));
  }

  guess(analyses: readonly QueryAnalysis[]): (string | null)[] {
    return analyses.map((a) => {
      let best: string | null = null;
      let bestP = -Infinity;
      for (const c of a.components) {
        const p = this.realness(a, c.id);
        if (p > bestP) {
          bestP = p;
          best = c.id;
        }
      }
      return best;
    });
  }

  private features(analysis: QueryAnalysis, id: string): number[] {
    const { residual, residualNorm, components, scores } = analysis;
    const weight = components.find((c) => c.id === id)?.weight ?? 0;
    const meanWeight = components.reduce((s, c) => s + c.weight, 0) / Math.max(1, components.length);
    let spanEnergy = 0;
    for (const u of this.spans.get(id) ?? []) spanEnergy += dot64(residual, u) ** 2;
    const bias = this.biases.get(id);
    const biasProjection = bias ? dot64(residual, bias) : 0;
    const rank = scores.findIndex((s) => s.id === id);
    return [
      weight / (meanWeight || 1),
      residualNorm > 0 ? spanEnergy / residualNorm ** 2 : 0,
      residualNorm > 0 ? biasProjection / residualNorm : 0,
      rank < 0 ? scores.length : rank,
      Math.log(this.index.byId.get(id)?.popularity ?? 1e-9),
    ];
  }

  /** Orthonormal span (Gram–Schmidt) and unit mean of the views' deviations from the reference, ⟂ the reference. */
  private learnSpot(spot: string, features: readonly Float32Array[]): void {
    if (!this.index.byId.has(spot)) return;
    const r = this.index.unit(spot);
    const deviations = features.map((f) => {
      const u = normalize(f);
      const c = dot(u, r);
      return Float64Array.from(u, (v, i) => v - c * r[i]);
    });
    const mean = new Float64Array(r.length);
    for (const d of deviations) for (let i = 0; i < d.length; i++) mean[i] += d[i] / deviations.length;
    const meanNorm = Math.sqrt(dot64(mean, mean));
    if (meanNorm > 0) this.biases.set(spot, mean.map((v) => v / meanNorm));
    const basis: Float64Array[] = [];
    for (const d of deviations) {
      const v = Float64Array.from(d);
      for (const b of basis) {
        const p = dot64(v, b);
        for (let i = 0; i < v.length; i++) v[i] -= p * b[i];
      }
      const n = Math.sqrt(dot64(v, v));
      if (n > 1e-6) basis.push(v.map((x) => x / n));
    }
    this.spans.set(spot, basis);
  }
}

/**
 * (d) The path attack: queries grouped into sessions by reply topic, then per session the path the walk model finds
 * most likely. Two variants, the better one counts: `path_attack` is `mostLikelyPath` (Viterbi restricted to each
 * query's k components, dummies included since the server cannot tell them apart); `path_attack_hmm` lets the user's
 * hidden spot be any gallery spot and treats a query as evidence (a component at the user's spot is 1/ε times
 * likelier than none), so the path can run through dummy steps that do not show the user at all. Both run Viterbi
 * (attacks/path.ts): `viterbi` over the components, `sparseViterbi` over the whole map (the same path as the full
 * map² table, which at 10,000 spots would be 800 MB a gap).
 */
export function pathAttack(walk: WalkModel): SpotAttack {
  return {
    name: 'path_attack',
    guess(analyses) {
      const out = new Array<string | null>(analyses.length).fill(null);
      for (const steps of sessions(analyses).values()) {
        const usable = steps.filter((i) => analyses[i].components.length > 0);
        const path = mostLikelyPath(
          usable.map((i) => analyses[i].components.map((c) => c.id)),
          usable.map((i) => analyses[i].record.t),
          walk,
        );
        usable.forEach((i, step) => (out[i] = path[step]));
      }
      return out;
    },
  };
}

export function hmmPathAttack(walk: WalkModel, epsilon = 0.05): SpotAttack {
  const n = walk.map.size;
  const ids = Array.from({ length: n }, (_, i) => walk.map.id(i));
  const logEps = Math.log(epsilon);
  return {
    name: 'path_attack_hmm',
    guess(analyses) {
      const out = new Array<string | null>(analyses.length).fill(null);
      if (n === 0) return out;
      // Moves depend on dt only, rounded to 100 ms: slots repeat the same few gaps, so each spot's are kept per gap.
      type Moves = { to: number[]; logLikelihood: (to: number) => number };
      const cache = new Map<number, Map<number, Moves>>();
      const movesAfter = (dt: number, from: number) => {
        const key = Math.round(dt / 100);
        let byFrom = cache.get(key);
        if (!byFrom) cache.set(key, (byFrom = new Map<number, Moves>()));
        let moves = byFrom.get(from);
        if (!moves) {
          const to = [from, ...walk.reachable(from, key * 100)];
          const scores = new Map(to.map((j) => [j, walk.logTransitionAt(from, j, key * 100)]));
          moves = { to, logLikelihood: (j) => scores.get(j)! };
          byFrom.set(from, moves);
        }
        return moves;
      };
      for (const steps of sessions(analyses).values()) {
        // The whole map is every step's state set: sparse, since a second later only nearby spots are in reach.
        const path = sparseViterbi({
          steps: steps.length,
          states: n,
          floor: walk.logFloor,
          logPrior: (j) => walk.logPrior(ids[j]),
          moves: (s, from) => movesAfter(analyses[steps[s]].record.t - analyses[steps[s - 1]].record.t, from),
          // A query is evidence: a component at the user's spot is 1/ε times likelier than none.
          logEmission: (s) => {
            const e = new Float64Array(n).fill(logEps);
            for (const c of analyses[steps[s]].components) if (walk.map.has(c.id)) e[walk.map.indexOf(c.id)] = 0;
            return (j) => e[j];
          },
        });
        path.forEach((state, s) => (out[steps[s]] = ids[state]));
      }
      return out;
    },
  };
}

/**
 * How long each component's spot has been on show in its session: for query i and each of its components, the
 * milliseconds since that spot last appeared in the session after being absent from the query before (0: it
 * appeared in this very query); and, looking ahead over the whole record as a server may, the milliseconds until
 * it is next absent. One entry per component, in `components` order.
 */
export interface SpotAges {
  since: number[][];
  until: number[][];
}

export function spotAges(analyses: readonly QueryAnalysis[]): SpotAges {
  const since = analyses.map((a) => a.components.map(() => 0));
  const until = analyses.map((a) => a.components.map(() => 0));
  for (const steps of sessions(analyses).values()) {
    const scan = (order: number[], out: number[][]) => {
      const shownSince = new Map<string, number>();
      let previous = new Set<string>();
      for (const i of order) {
        const ids = analyses[i].components.map((c) => c.id);
        const t = analyses[i].record.t;
        for (const id of ids) if (!previous.has(id)) shownSince.set(id, t);
        out[i] = ids.map((id) => Math.abs(t - shownSince.get(id)!));
        previous = new Set(ids);
      }
    };
    scan(steps, since);
    scan([...steps].reverse(), until);
  }
  return { since, until };
}

/**
 * (f) The arrival attack: the device learns its user's spot only from real queries, so the user's track can change
 * only at a real query, while phantoms walking on their own change at any moment. `arrival_attack` guesses the
 * component whose spot appeared most recently in the session; `stability_attack` the one shown longest, in case
 * the user's spot is the steady one instead (ties: the heavier component). Phantoms that are seen the way the user
 * is (a continuous camera), or that move exactly when the user is seen to move (lockstep.ts), leave both at chance.
 */
export function arrivalAttack(order: 'freshest' | 'stalest' = 'freshest'): SpotAttack {
  const sign = order === 'freshest' ? 1 : -1;
  return {
    name: order === 'freshest' ? 'arrival_attack' : 'stability_attack',
    guess(analyses) {
      const { since } = spotAges(analyses);
      return analyses.map((a, i) => {
        let best: string | null = null;
        let bestKey = Infinity;
        a.components.forEach((c, j) => {
          if (sign * since[i][j] < bestKey) {
            bestKey = sign * since[i][j];
            best = c.id;
          }
        });
        return best;
      });
    },
  };
}

/**
 * (f') The rhythm attack: the arrival and stability attacks with the sign chosen per session. A wearer who lingers
 * is the stalest track and one who hurries the freshest, and tracks that learn the wearer's visit lengths drift the
 * same way as the wearer, so the server reads each session's rhythm from what it sees: the median length of the
 * session's visits (a spot's run through consecutive queries). It splits the sessions of the run at the median of
 * that rhythm, as a crowd has people on both sides: above it guesses the stalest component, below it the freshest.
 * Needs no ground truth and no simulation; runs cut by a session's start or end count as seen.
 */
export function rhythmAttack(): SpotAttack {
  const stalest = arrivalAttack('stalest');
  const freshest = arrivalAttack('freshest');
  return {
    name: 'rhythm_attack',
    guess(analyses) {
      const [old, fresh] = [stalest.guess(analyses), freshest.guess(analyses)];
      const bySession = [...sessions(analyses).values()];
      const rhythm = bySession.map((steps) => median(visitLengths(analyses, steps)));
      const split = median(rhythm.filter(Number.isFinite));
      const out = new Array<string | null>(analyses.length).fill(null);
      bySession.forEach((steps, n) => {
        for (const i of steps) out[i] = rhythm[n] > split ? old[i] : fresh[i];
      });
      return out;
    },
  };
}

/**
 * (f'') The opening attack: a session's first spot change. Every track of a new identity starts at once, part-way
 * through a visit; under deferred arrival the wearer's spot comes onto the wire with the first track whose visit ends
 * after the wearer stands there, and the wearer's real queries of that spot wait for it (unless a track already
 * stands on it). So the first spot to enter a session is the wearer's more often than a phantom's: in the wall-clock
 * reports of 2026-12-06, between a session's first and second change the freshest component was the real one for
 * 0.71-1.00 of real queries (7-64 of them a run). This attack names that spot for as long as it stays in the
 * session's queries, and the freshest component everywhere else (before the first change, after the spot goes, or
 * where two spots entered at once). Needs no ground truth and no simulation.
 */
export function openingAttack(): SpotAttack {
  const freshest = arrivalAttack('freshest');
  return {
    name: 'opening_attack',
    guess(analyses) {
      const out = freshest.guess(analyses);
      for (const steps of sessions(analyses).values()) {
        if (steps.length === 0) continue;
        const opening = new Set(analyses[steps[0]].components.map((c) => c.id));
        let entered: string | undefined;
        for (const i of steps.slice(1)) {
          const ids = analyses[i].components.map((c) => c.id);
          if (entered === undefined) {
            const fresh = ids.filter((id) => !opening.has(id));
            if (fresh.length === 0) continue;
            if (fresh.length > 1) break;
            entered = fresh[0];
          }
          if (!ids.includes(entered)) break;
          out[i] = entered;
        }
      }
      return out;
    },
  };
}

/** The length of every visit in one session (`steps` in time order): first to last query of each run of a spot, ms. */
export function visitLengths(analyses: readonly QueryAnalysis[], steps: readonly number[]): number[] {
  const lengths: number[] = [];
  let open = new Map<string, { first: number; last: number }>();
  for (const i of steps) {
    const t = analyses[i].record.t;
    const next = new Map<string, { first: number; last: number }>();
    for (const c of analyses[i].components) next.set(c.id, { first: open.get(c.id)?.first ?? t, last: t });
    for (const [id, run] of open) if (!next.has(id)) lengths.push(run.last - run.first);
    open = next;
  }
  for (const run of open.values()) lengths.push(run.last - run.first);
  return lengths;
}

/** Record indices per reply topic, in time order. */
export function sessions(analyses: readonly QueryAnalysis[]): Map<string, number[]> {
  const bySession = new Map<string, number[]>();
  analyses.forEach((a, i) => {
    const list = bySession.get(a.record.reply_topic) ?? [];
    list.push(i);
    bySession.set(a.record.reply_topic, list);
  });
  for (const list of bySession.values()) list.sort((a, b) => analyses[a].record.t - analyses[b].record.t);
  return bySession;
}

/**
 * (e) Features of a whole query for the real-vs-dummy classifier: the server's score profile (top k+2 scores and
 * their gaps), the residual norm, the spread of component weights, the component test's strongest "realness", the
 * log gap since the session's previous query, and the shape of the tracks around it: whether a spot appeared in
 * this query, and how long the freshest spot has been shown and will stay shown (in log seconds). Real queries only
 * come while a user is looking at a spot; a track shape that gives away when nobody is looking shows up here.
 * With `exact` (the same queries decomposed exactly, attacks/decompose.ts) the track group also reads the exact
 * components: whether one appeared, and every order statistic of how long the k spots have been and will stay shown.
 */
export function queryFeatures(analyses: readonly QueryAnalysis[], componentTest: ComponentTest | undefined, exact?: readonly QueryAnalysis[]): number[][] {
  return queryFeatureGroups(analyses, componentTest, exact).map((g) => [...g.scores, ...g.shape, ...g.track, ...g.session, ...g.persistence]);
}

/** The same features, grouped by what they read: the reply's scores, the components' shape, the tracks' timing. */
export interface QueryFeatureGroups {
  scores: number[];
  shape: number[];
  /** TRACK_FEATURES in order, then (with exact components) `exactTrackFeatures`. */
  track: number[];
  /** SESSION_FEATURES: where the query falls in its session (log seconds since its first query, until its last, and the session's length). */
  session: number[];
  /** PERSISTENCE_FEATURES: how like the session's previous and next query this one is. */
  persistence: number[];
}

/**
 * The session features: a server sees every identity's first and last query, so it knows how long each lived and
 * where a query falls in it. An identity change that waits while the wearer's spot is on the wire (decision 47)
 * makes sessions with real queries last longer than sessions without (world 17: session length told real from dummy
 * at AUC 0.646, 2026-12-05, thirteenth session).
 */
export const SESSION_FEATURES = ['session_age', 'session_left', 'session_length'] as const;

function sessionFeatures(analyses: readonly QueryAnalysis[]): number[][] {
  const features = analyses.map(() => [0, 0, 0]);
  for (const steps of sessions(analyses).values()) {
    const first = analyses[steps[0]].record.t;
    const last = analyses[steps[steps.length - 1]].record.t;
    for (const i of steps) {
      const t = analyses[i].record.t;
      features[i] = [logSeconds(t - first), logSeconds(last - t), logSeconds(last - first)];
    }
  }
  return features;
}

export function queryFeatureGroups(analyses: readonly QueryAnalysis[], componentTest: ComponentTest | undefined, exact?: readonly QueryAnalysis[]): QueryFeatureGroups[] {
  if (exact && exact.length !== analyses.length) throw new RangeError(`${exact.length} exact decompositions for ${analyses.length} queries`);
  const ages = spotAges(analyses);
  const exactTracks = exact ? exactTrackFeatures(exact) : undefined;
  const gaps = new Array<number>(analyses.length).fill(0);
  for (const steps of sessions(analyses).values()) {
    steps.forEach((i, n) => (gaps[i] = n === 0 ? 0 : Math.log1p(Math.max(0, analyses[i].record.t - analyses[steps[n - 1]].record.t))));
  }
  const width = analyses.length > 0 ? Math.min(...analyses.map((a) => a.scores.length)) : 0;
  const session = sessionFeatures(analyses);
  const persistence = persistenceFeatures(analyses);
  return analyses.map((a, i) => {
    const top = a.scores.slice(0, Math.min(width, a.components.length + 2)).map((s) => s.score);
    const steps = top.slice(1).map((s, j) => top[j] - s);
    const weights = a.components.map((c) => c.weight);
    const realness = componentTest ? a.components.map((c) => componentTest.realness(a, c.id)) : [0];
    return {
      scores: [...top, ...steps],
      shape: [a.residualNorm, Math.max(...weights, 0) - Math.min(...weights, 0), Math.max(...realness)],
      track: [
        gaps[i],
        ages.since[i].some((ms) => ms === 0) ? 1 : 0,
        logSeconds(Math.min(...ages.since[i], 1e9)),
        logSeconds(Math.min(...ages.until[i], 1e9)),
        ...(exactTracks?.[i] ?? []),
      ],
      session: session[i],
      persistence: persistence[i],
    };
  });
}

/**
 * PERSISTENCE_FEATURES: how like its neighbours in the session a query is, read from the vectors as they crossed the
 * wire (cosine with the session's previous query, with its next, and the next minus the previous). Consecutive views
 * of a spot persist, and so do a decoy track's: a query that breaks from the one before and is continued by the one
 * after stands where a new view entered. On the wall clock the difference told real from dummy at 0.55 within
 * sessions, 0.78–0.80 for the first real query of a visit, with the device as shipped (decision 71).
 */
export const PERSISTENCE_FEATURES = ['cos_previous', 'cos_next', 'cos_next_minus_previous'] as const;

function persistenceFeatures(analyses: readonly QueryAnalysis[]): number[][] {
  const features = analyses.map(() => [0, 0, 0]);
  for (const steps of sessions(analyses).values()) {
    const between = steps.slice(1).map((i, n) => cosine(analyses[steps[n]].record.vector, analyses[i].record.vector));
    steps.forEach((i, n) => {
      // A session's first or last query has one neighbour: it stands in for the missing one, so the difference is 0.
      const previous = between[n - 1] ?? between[n] ?? 0;
      const next = between[n] ?? previous;
      features[i] = [previous, next, next - previous];
    });
  }
  return features;
}

/**
 * Track shape on exact components, for the dummy classifier: whether a spot appeared, then how long each of the k
 * spots has been shown and then how long each will stay, both sorted (log seconds). The minimum alone (what the OMP
 * features keep) misses most of it: real queries come while the wearer stands at a spot, and every track of such a
 * query tends to outlast a dummy's (on two 25-spot worlds the second-shortest "until" told them apart at 0.63-0.65,
 * the shortest at 0.60-0.63, the OMP minimum at 0.56). Queries with fewer than k components repeat their last value.
 */
export function exactTrackFeatures(exact: readonly QueryAnalysis[]): number[][] {
  const ages = spotAges(exact);
  const k = exact.reduce((m, a) => Math.max(m, a.components.length), 0);
  const sorted = (values: readonly number[]) => {
    const s = [...values].sort((a, b) => a - b).map(logSeconds);
    return Array.from({ length: k }, (_, j) => s[Math.min(j, s.length - 1)] ?? 0);
  };
  return exact.map((_, i) => [ages.since[i].some((ms) => ms === 0) ? 1 : 0, ...sorted(ages.since[i]), ...sorted(ages.until[i])]);
}

function logSeconds(ms: number): number {
  return Math.log1p(ms / 1000);
}

/** The classifier a held-out AUC is read with: a logistic regression (linear) or gradient-boosted trees (boosted-trees.ts). */
export type ClassifierKind = 'logistic' | 'trees';

/**
 * Held-out ROC AUC of a classifier on `features` (`model`, default a logistic regression): the sessions are dealt into `folds` groups (seeded), a
 * model trained on the other groups scores each group, and the AUC is taken **within each held-out group** and
 * averaged over groups and `repeats` deals, weighted by real-dummy pairs. Pooling the scores of all folds into one AUC (as leave-one-session-out
 * did) compares scores of different models: a fold trained without one session's real queries leans the other way on
 * exactly that session, which pulls a pooled AUC below 0.5 for a feature that tells nothing (the gap since the
 * previous query, 1,000 ms for every query but a session's first, read 0.35 pooled and 0.50 raw). 0.5 when no group
 * holds both classes. `within: 'session'` takes the AUC within each session instead (the same held-out scores).
 */
export function crossValidatedAuc(
  features: readonly number[][],
  labels: readonly boolean[],
  sessions: readonly number[][],
  options: { folds?: number; repeats?: number; random: Random; model?: ClassifierKind; within?: 'fold' | 'session' },
): number {
  let pairs = 0;
  let weighted = 0;
  // Each deal of the sessions is one draw; a few deals average out which sessions happened to be held out together.
  for (let repeat = 0; repeat < (options.repeats ?? 3); repeat++) {
    const groups = dealSessions(sessions, options.folds ?? 5, options.random);
    const scores = heldOutScores(features, labels, groups, options.model);
    // 'session': only pairs of one session are compared, so what tells sessions apart (a wearer who lingers sends more
    // real queries, and the tracks learn to linger too) drops out and what is left is what tells queries apart.
    for (const group of options.within === 'session' ? sessions : groups) {
      const scored = group.filter((i) => !Number.isNaN(scores[i]));
      const positives = scored.filter((i) => labels[i]).length;
      const n = positives * (scored.length - positives);
      if (n === 0) continue;
      weighted += n * rocAuc(scored.map((i) => scores[i]), scored.map((i) => labels[i]));
      pairs += n;
    }
  }
  return pairs > 0 ? weighted / pairs : 0.5;
}

/**
 * Labels with the shape real queries have in sessions but nothing to do with the queries, for the dummy classifier's
 * null: each session takes the labels of another (a seeded permutation of the sessions), read from a random point and
 * cycled to its own length. The runs of real queries and the spread of sessions' real shares stay; what ties a label to
 * a query's features, within a session or between sessions, goes. The classifiers' AUC on such labels is what the
 * evaluation's own noise gives a defence that leaks nothing (the dummy_auc is the best of several noisy AUCs).
 */
export function permutedSessionLabels(labels: readonly boolean[], sessions: readonly number[][], random: Random): boolean[] {
  const order = sessions.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random.next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const out = labels.map(() => false);
  sessions.forEach((steps, n) => {
    const donor = sessions[order[n]].map((i) => labels[i]);
    if (donor.length === 0) return;
    const start = Math.floor(random.next() * donor.length);
    steps.forEach((i, j) => (out[i] = donor[(start + j) % donor.length]));
  });
  return out;
}

/** Sessions dealt into `count` groups of queries after a seeded shuffle; one session alone is split in two by turns. */
function dealSessions(sessions: readonly number[][], count: number, random: Random): number[][] {
  if (sessions.length < 2) {
    const all = sessions.flat();
    return [all.filter((_, n) => n % 2 === 0), all.filter((_, n) => n % 2 === 1)];
  }
  const order = sessions.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random.next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const groups: number[][] = Array.from({ length: Math.min(count, sessions.length) }, () => []);
  order.forEach((session, n) => groups[n % groups.length].push(...sessions[session]));
  return groups;
}

/** One classifier a server may keep: the features it reads for every query and the model it fits on them. */
export interface CandidateClassifier {
  name: string;
  features: readonly number[][];
  model: ClassifierKind;
}

/**
 * The held-out AUC of the classifier a server keeps when it chooses among `candidates` on queries whose labels it
 * has, as it would on its own simulation of the device (decision 70). Per fold of sessions, every candidate is
 * cross-validated on the other folds alone (by session, `innerFolds` groups), the best of them is fitted on those
 * folds and scores the held-out one; AUCs are pooled within folds as in crossValidatedAuc. The best of the
 * candidates' own held-out AUCs chooses on the held-out labels themselves, so a defence that leaks nothing reads the
 * maximum of several noisy AUCs there (0.55 on a wall-clock run of 24 wearers) and about 0.5 here.
 * Returns the AUC and how often each candidate was kept.
 */
export function selectedClassifierAuc(
  candidates: readonly CandidateClassifier[],
  labels: readonly boolean[],
  sessions: readonly number[][],
  options: { folds?: number; innerFolds?: number; repeats?: number; random: Random },
): { auc: number; kept: Record<string, number> } {
  const kept: Record<string, number> = Object.fromEntries(candidates.map((c) => [c.name, 0]));
  let pairs = 0;
  let weighted = 0;
  for (let repeat = 0; repeat < (options.repeats ?? 3); repeat++) {
    // Session numbers dealt as if each were a one-query session: the folds come back as lists of sessions, which the
    // inner cross-validation needs, dealt exactly as crossValidatedAuc deals queries.
    const sessionGroups = dealSessions(sessions.map((_, n) => [n]), options.folds ?? 5, options.random);
    for (const heldSessions of sessionGroups) {
      const held = new Set(heldSessions);
      const training = sessions.filter((_, n) => !held.has(n));
      const fold = heldSessions.flatMap((n) => sessions[n]);
      const trainingRows = training.flat();
      const ys = trainingRows.map((i) => labels[i]);
      if (!ys.some(Boolean) || !ys.some((y) => !y)) continue;
      // The training queries renumbered 0..n-1, so the inner cross-validation never sees the held-out fold.
      const renumber = new Map(trainingRows.map((i, n) => [i, n]));
      const innerSessions = training.map((steps) => steps.map((i) => renumber.get(i)!));
      let best = candidates[0];
      let bestAuc = -Infinity;
      for (const candidate of candidates) {
        const auc = crossValidatedAuc(
          trainingRows.map((i) => candidate.features[i]),
          ys,
          innerSessions,
          { folds: options.innerFolds ?? 4, repeats: 1, random: options.random, model: candidate.model },
        );
        if (auc > bestAuc) [best, bestAuc] = [candidate, auc];
      }
      kept[best.name]++;
      const fitted = fitClassifier(best.model, trainingRows.map((i) => best.features[i]), ys);
      const positives = fold.filter((i) => labels[i]).length;
      const n = positives * (fold.length - positives);
      if (n === 0) continue;
      weighted += n * rocAuc(fold.map((i) => fitted.predict(best.features[i])), fold.map((i) => labels[i]));
      pairs += n;
    }
  }
  return { auc: pairs > 0 ? weighted / pairs : 0.5, kept };
}

function fitClassifier(model: ClassifierKind, xs: number[][], ys: boolean[]): { predict(x: readonly number[]): number } {
  return model === 'trees' ? fitBoostedTrees(xs, ys) : fitLogistic(xs, ys);
}

/**
 * Per fold, a classifier (`model`, default a logistic regression) trained on the labelled queries outside the fold
 * scores the fold's queries. Returns one held-out score per query (NaN where the training rows had one class only).
 */
export function heldOutScores(
  features: readonly number[][],
  labels: readonly boolean[],
  folds: readonly number[][],
  model: ClassifierKind = 'logistic',
): number[] {
  const scores = new Array<number>(features.length).fill(Number.NaN);
  for (const fold of folds) {
    const held = new Set(fold);
    const xs: number[][] = [];
    const ys: boolean[] = [];
    features.forEach((x, i) => {
      if (!held.has(i)) {
        xs.push(x);
        ys.push(labels[i]);
      }
    });
    if (!ys.some(Boolean) || !ys.some((y) => !y)) continue;
    const fitted = fitClassifier(model, xs, ys);
    for (const i of fold) scores[i] = fitted.predict(features[i]);
  }
  return scores;
}

function dot64(a: Float64Array, b: Float64Array | Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Least-squares weights of `q` on the columns `refs` (normal equations; k is small). */
function leastSquares(refs: readonly Float32Array[], q: Float32Array): number[] {
  const n = refs.length;
  const g = refs.map((a) => refs.map((b) => dot(a, b)));
  const rhs = refs.map((a) => dot(a, q));
  for (let i = 0; i < n; i++) g[i][i] += 1e-9;
  // Gaussian elimination on the k×k Gram matrix.
  const m = g.map((row, i) => [...row, rhs[i]]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r][col]) > Math.abs(m[pivot][col])) pivot = r;
    [m[col], m[pivot]] = [m[pivot], m[col]];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = m[r][col] / m[col][col];
      for (let c = col; c <= n; c++) m[r][c] -= f * m[col][c];
    }
  }
  return m.map((row, i) => row[n] / m[i][i]);
}
