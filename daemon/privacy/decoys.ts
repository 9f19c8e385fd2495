import type { RegionSpot, SpotViewModel } from '../transport/messages.js';
import { cosine, dot, normalize } from '../util/vector.js';
import type { Random } from './random.js';
import type { DecoySpotPicker } from './types.js';

/**
 * How far a real photo's feature strays from its spot's reference feature, learned offline for one
 * extractor (see `estimateSigma`). First version: isotropic Gaussian noise whose total norm is about
 * `sigma`, added to the unit reference and re-normalised, so cos(photo, reference) ≈ 1/√(1 + sigma²).
 */
export interface ViewVariation {
  sigma: number;
}

/**
 * Decoys that drift like a camera's view (DESIGN §4, "frames come in sequences"). Consecutive glasses frames of one
 * spot are nearly the same picture, so a real component persists from one query to the next; decoys drawn afresh
 * every time would not, and a server comparing neighbouring queries finds the one that persists. With drift, each
 * spot keeps the random draw behind its last decoy and the next one moves away from it as an Ornstein-Uhlenbeck
 * process: correlation exp(-gap / seconds) between decoys of one spot `gap` seconds apart, and each decoy on its
 * own still an exact draw from the spot's view model.
 */
export interface ViewDrift {
  /** Correlation time, seconds; 0 draws every decoy independently. */
  seconds: number;
  /** Milliseconds; the evaluation passes its virtual clock. */
  clock: () => number;
}

export interface DecoySynthesizerOptions {
  /** The region pack's spots: ids, reference features and popularity. */
  spots: RegionSpot[];
  variation: ViewVariation;
  random: Random;
  /** Absent: independent draws. */
  drift?: ViewDrift;
}

/** The standard-normal draws behind one decoy: one step per view direction, one residual value per dimension. */
export interface ViewNoise {
  steps: Float64Array;
  residual: Float64Array;
}

/** A decoy not yet shown: `commit()` makes its draw the one the spot's next decoy drifts from. */
export interface DecoyProposal {
  vector: Float32Array;
  commit(): void;
}

/** Spots whose drift state is kept at most; beyond it, states older than a few correlation times are forgotten. */
const MAX_DRIFT_STATES = 512;

/**
 * Fresh decoy features for spots of the region pack. A decoy must look like a noisy photo of its spot,
 * not like the exact prototype the server holds: otherwise the one component that is not a prototype
 * gives the real spot away (DESIGN §4, exchangeability).
 */
export class DecoySynthesizer implements DecoySpotPicker {
  readonly dimension: number;
  readonly sigma: number;
  private readonly random: Random;
  private readonly ids: string[];
  private readonly references: Float32Array[];
  /** Per spot: its view model from the region pack, or undefined (isotropic `sigma` noise). */
  private readonly views: (SpotViewModel | undefined)[];
  private readonly indexById = new Map<string, number>();
  /** Running sum of popularity, for drawing a spot in O(log n). */
  private readonly cumulative: Float64Array;
  private readonly drift: ViewDrift | undefined;
  /** Per spot index: the draw behind its last shown decoy, and when. */
  private readonly driftStates = new Map<number, { at: number; noise: ViewNoise }>();

  constructor(options: DecoySynthesizerOptions) {
    const { spots, variation, random } = options;
    if (!(Number.isFinite(variation.sigma) && variation.sigma > 0)) {
      // sigma = 0 would emit the exact prototype again and again: both recognisable and repeated.
      throw new RangeError(`view variation sigma must be a finite number > 0, got ${variation.sigma}`);
    }
    if (spots.length === 0) throw new RangeError('the region pack has no spots to draw decoys from');
    this.dimension = spots[0].feature.length;
    this.sigma = variation.sigma;
    this.random = random;
    if (options.drift && !(Number.isFinite(options.drift.seconds) && options.drift.seconds >= 0)) {
      throw new RangeError(`decoy drift must be a finite number of seconds >= 0, got ${options.drift.seconds}`);
    }
    this.drift = options.drift && options.drift.seconds > 0 ? options.drift : undefined;
    this.ids = [];
    this.references = [];
    this.views = [];
    this.cumulative = new Float64Array(spots.length);
    let total = 0;
    for (const spot of spots) {
      const where = `region pack spot "${spot.id}"`;
      if (this.indexById.has(spot.id)) throw new RangeError(`${where} appears twice`);
      if (spot.feature.length !== this.dimension) {
        throw new RangeError(`${where} has dimension ${spot.feature.length}, expected ${this.dimension}`);
      }
      if (!(Number.isFinite(spot.popularity) && spot.popularity > 0)) {
        throw new RangeError(`${where} has popularity ${spot.popularity}, expected a finite number > 0`);
      }
      const reference = normalize(spot.feature);
      if (!reference.every(Number.isFinite) || reference.every((v) => v === 0)) {
        throw new RangeError(`${where} has a zero or non-finite reference feature`);
      }
      this.indexById.set(spot.id, this.ids.length);
      this.ids.push(spot.id);
      this.references.push(reference);
      this.views.push(spot.view ? checkedView(spot.view, this.dimension, where) : undefined);
      total += spot.popularity;
      this.cumulative[this.ids.length - 1] = total;
    }
  }

  get spotCount(): number {
    return this.ids.length;
  }

  has(spotId: string): boolean {
    return this.indexById.has(spotId);
  }

  /** True when `spotId`'s decoys follow its own view model rather than isotropic noise. */
  hasViewModel(spotId: string): boolean {
    const index = this.indexById.get(spotId);
    return index !== undefined && this.views[index] !== undefined;
  }

  /**
   * A new unit vector that looks like a photo of `spotId`. Each call draws fresh noise, so two calls
   * never return the same vector (the chance of a repeat is that of two continuous draws coinciding).
   * With the spot's view model the deviation has the shape of a real camera view's (mean shift plus
   * Gaussian steps along the spot's principal view directions plus an isotropic residual); without one,
   * isotropic noise of total norm `sigma`.
   */
  decoyFor(spotId: string): Float32Array {
    const proposal = this.proposeDecoy(spotId);
    proposal.commit();
    return proposal.vector;
  }

  /**
   * A decoy for `spotId` that drifts from the spot's last committed one; several proposals may be drawn from the
   * same state (k-mix keeps the best of a few draws) and only the one shown is committed.
   */
  proposeDecoy(spotId: string): DecoyProposal {
    const index = this.indexById.get(spotId);
    if (index === undefined) throw new RangeError(`spot "${spotId}" is not in the region pack`);
    const view = this.views[index];
    const at = this.drift?.clock() ?? 0;
    const noise = this.nextNoise(index, view?.directions.length ?? 0, at);
    const vector = view ? sampleViewWith(this.references[index], view, noise) : perturbWith(this.references[index], this.sigma, noise);
    return {
      vector,
      commit: () => {
        if (this.drift) this.remember(index, at, noise);
      },
    };
  }

  private nextNoise(index: number, directions: number, at: number): ViewNoise {
    const previous = this.drift ? this.driftStates.get(index) : undefined;
    const gapS = previous ? Math.max(0, at - previous.at) / 1000 : Infinity;
    const rho = previous && this.drift ? Math.exp(-gapS / this.drift.seconds) : 0;
    const fresh = Math.sqrt(1 - rho * rho);
    const step = (old: Float64Array | undefined, n: number) =>
      Float64Array.from({ length: n }, (_, i) => (old ? rho * old[i] : 0) + fresh * this.random.normal());
    return { steps: step(previous?.noise.steps, directions), residual: step(previous?.noise.residual, this.dimension) };
  }

  private remember(index: number, at: number, noise: ViewNoise): void {
    this.driftStates.delete(index);
    this.driftStates.set(index, { at, noise });
    if (this.driftStates.size > MAX_DRIFT_STATES && this.drift) {
      // Insertion order is age order: forget the oldest, which are uncorrelated with anything new by now anyway.
      for (const [i, state] of this.driftStates) {
        if (this.driftStates.size <= MAX_DRIFT_STATES / 2 && at - state.at < 5 * this.drift.seconds * 1000) break;
        this.driftStates.delete(i);
      }
    }
  }

  /**
   * `n` distinct spots, none in `exclude`, drawn one after another with probability proportional to
   * popularity among those not yet taken, so decoys follow the popularity profile of real visits.
   */
  pickDecoySpots(n: number, exclude: ReadonlySet<string>): string[] {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`decoy count must be an integer >= 0, got ${n}`);
    let available = this.ids.length;
    for (const id of exclude) if (this.indexById.has(id)) available--;
    if (available < n) {
      throw new RangeError(`${n} decoys need ${n} spots besides the excluded ones; the region pack has ${available}`);
    }
    const taken = new Set<number>();
    for (const id of exclude) {
      const index = this.indexById.get(id);
      if (index !== undefined) taken.add(index);
    }
    const picked: string[] = [];
    while (picked.length < n) {
      const index = this.drawUntaken(taken);
      taken.add(index);
      picked.push(this.ids[index]);
    }
    return picked;
  }

  /**
   * The worst rank (0 = first) that any of `spotIds` gets when the server ranks the region's references by cosine
   * with `query`: the device's prediction of whether each of them comes back in a reply of a given size.
   */
  worstRank(query: Float32Array, spotIds: readonly string[]): number {
    const scores = this.references.map((r) => dot(query, r));
    let worst = 0;
    for (const id of spotIds) {
      const index = this.indexById.get(id);
      if (index === undefined) throw new RangeError(`spot "${id}" is not in the region pack`);
      const own = scores[index];
      let rank = 0;
      for (let i = 0; i < scores.length; i++) if (scores[i] > own) rank++;
      worst = Math.max(worst, rank);
    }
    return worst;
  }

  /** The region spot whose reference is closest to `feature`: the device's guess of the real spot. */
  nearestSpot(feature: Float32Array): { id: string; score: number } {
    if (feature.length !== this.dimension) {
      throw new RangeError(`feature has dimension ${feature.length}, the region pack ${this.dimension}`);
    }
    let best = 0;
    let bestScore = -Infinity;
    for (let i = 0; i < this.references.length; i++) {
      const score = dot(feature, this.references[i]);
      if (score > bestScore) {
        bestScore = score;
        best = i;
      }
    }
    return { id: this.ids[best], score: bestScore };
  }

  /**
   * Rejection sampling over the whole pack is O(log n) per try and almost always succeeds at once;
   * when the taken spots hold most of the popularity it would spin, so it falls back to one exact
   * linear draw over the untaken ones. Both give the same distribution.
   */
  private drawUntaken(taken: ReadonlySet<number>): number {
    const total = this.cumulative[this.cumulative.length - 1];
    for (let attempt = 0; attempt < 32; attempt++) {
      const index = upperBound(this.cumulative, this.random.next() * total);
      if (!taken.has(index)) return index;
    }
    let remaining = 0;
    for (let i = 0; i < this.ids.length; i++) if (!taken.has(i)) remaining += this.weight(i);
    let target = this.random.next() * remaining;
    let last = -1;
    for (let i = 0; i < this.ids.length; i++) {
      if (taken.has(i)) continue;
      last = i;
      target -= this.weight(i);
      if (target < 0) return i;
    }
    return last; // rounding left a sliver of `target`: the last untaken spot owns it
  }

  private weight(index: number): number {
    return this.cumulative[index] - (index > 0 ? this.cumulative[index - 1] : 0);
  }
}

/** Fresh standard-normal draws for one decoy. */
function freshNoise(directions: number, dimension: number, random: Random): ViewNoise {
  return {
    steps: Float64Array.from({ length: directions }, () => random.normal()),
    residual: Float64Array.from({ length: dimension }, () => random.normal()),
  };
}

/** Unit `reference` plus isotropic Gaussian noise of total norm ≈ `sigma`, re-normalised. */
export function perturb(reference: Float32Array, sigma: number, random: Random): Float32Array {
  return perturbWith(reference, sigma, freshNoise(0, reference.length, random));
}

function perturbWith(reference: Float32Array, sigma: number, noise: ViewNoise): Float32Array {
  const perDimension = sigma / Math.sqrt(reference.length);
  return normalizeFrom(Float64Array.from(reference, (r, i) => r + perDimension * noise.residual[i]));
}

/**
 * normalize(reference + mean + Σ_j scales[j]·z_j·directions[j] + residual·n/√d), z_j and the entries of n
 * standard normal: a fresh draw from the spot's view model.
 */
export function sampleView(reference: Float32Array, view: SpotViewModel, random: Random): Float32Array {
  return sampleViewWith(reference, view, freshNoise(view.directions.length, reference.length, random));
}

function sampleViewWith(reference: Float32Array, view: SpotViewModel, noise: ViewNoise): Float32Array {
  const d = reference.length;
  const out = new Float64Array(d);
  const perDimension = view.residual / Math.sqrt(d);
  for (let i = 0; i < d; i++) out[i] = reference[i] + view.mean[i] + perDimension * noise.residual[i];
  view.directions.forEach((u, j) => {
    const step = view.scales[j] * noise.steps[j];
    for (let i = 0; i < d; i++) out[i] += step * u[i];
  });
  return normalizeFrom(out);
}

function normalizeFrom(v: Float64Array): Float32Array {
  let sumSquares = 0;
  for (let i = 0; i < v.length; i++) sumSquares += v[i] * v[i];
  const scale = 1 / Math.sqrt(sumSquares);
  return Float32Array.from(v, (x) => x * scale);
}

function checkedView(view: SpotViewModel, dimension: number, where: string): SpotViewModel {
  const finiteVector = (v: Float32Array) => v instanceof Float32Array && v.length === dimension && v.every(Number.isFinite);
  if (!finiteVector(view.mean)) throw new RangeError(`${where} has a view model mean that is not ${dimension} finite values`);
  if (view.directions.length !== view.scales.length || !view.directions.every(finiteVector)) {
    throw new RangeError(`${where} has view model directions that are not ${dimension}-d finite vectors, one per scale`);
  }
  if (!view.scales.every((s) => Number.isFinite(s) && s >= 0) || !(Number.isFinite(view.residual) && view.residual >= 0)) {
    throw new RangeError(`${where} has a view model scale or residual that is not a finite number >= 0`);
  }
  if (view.residual === 0 && view.scales.every((s) => s === 0)) {
    // No randomness at all would emit the same vector on every call: recognisable and repeated.
    throw new RangeError(`${where} has a view model with no variation`);
  }
  return view;
}

/**
 * Fits the view-variation sigma from (photo feature, reference feature) pairs of the same spot. In high
 * dimension the model's noise is nearly orthogonal to the reference, so each pair's angle θ gives
 * sigma ≈ tan θ. The median keeps a few mislabelled photos from inflating it.
 */
export function estimateSigma(pairs: { photo: Float32Array; reference: Float32Array }[]): number {
  if (pairs.length === 0) throw new RangeError('estimateSigma needs at least one (photo, reference) pair');
  const tangents = pairs.map(({ photo, reference }, i) => {
    if (photo.length !== reference.length) {
      throw new RangeError(`pair ${i}: photo has dimension ${photo.length}, reference ${reference.length}`);
    }
    const c = cosineOf(photo, reference);
    // A pair at or beyond 90° is an outlier (wrong spot); it still counts as "far" for the median.
    return c > 0 ? Math.sqrt(Math.max(0, 1 - c * c)) / c : Infinity;
  });
  tangents.sort((a, b) => a - b);
  const mid = tangents.length >> 1;
  const median = tangents.length % 2 === 1 ? tangents[mid] : (tangents[mid - 1] + tangents[mid]) / 2;
  if (!Number.isFinite(median)) {
    throw new RangeError('estimateSigma: most pairs are unrelated (cosine <= 0); check that photos match their references');
  }
  return median;
}

function cosineOf(a: Float32Array, b: Float32Array): number {
  const c = cosine(a, b);
  if (!Number.isFinite(c)) throw new RangeError('estimateSigma: a feature holds non-finite numbers');
  return Math.min(1, c); // rounding can push an identical pair a hair above 1
}

/** Index of the first entry of the ascending `cumulative` that is greater than `x`. */
function upperBound(cumulative: Float64Array, x: number): number {
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid] > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
