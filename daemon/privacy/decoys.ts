import type { RegionSpot, SpotViewModel } from '../domain/spot.js';
import { cosine, dot, norm, normalize } from '../util/vector.js';
import type { Random } from '../util/random.js';
import type { DecoySpotPicker } from './types.js';
import { RegionPackScan } from './region-pack-scan.js';
import { upperBound } from '../util/upper-bound.js';

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
 * every time would not, and a server comparing neighbouring queries finds the one that persists. Frames of one visit
 * vary on two time scales: the head's jitter from frame to frame, and where the wearer stands, which holds for the
 * whole visit. So each spot keeps the random draws behind its last decoy as two Ornstein-Uhlenbeck processes, a fast
 * and a slow one, mixed with weights √(1 − slowShare) and √slowShare: the correlation between two decoys of one spot
 * `gap` s apart is slowShare·exp(−gap/slowSeconds) + (1 − slowShare)·exp(−gap/fastSeconds), and each decoy on its
 * own is still an exact draw from the spot's view model.
 */
export interface ViewDrift {
  /** Correlation time of the frame-to-frame jitter, seconds; 0 draws every decoy independently. */
  fastSeconds: number;
  /** Correlation time of the viewpoint held over a visit, seconds. */
  slowSeconds: number;
  /** Share of a view's variation that is held over a visit (0..1). */
  slowShare: number;
  /** Milliseconds; the evaluation passes its virtual clock. */
  clock: () => number;
}

/** The two processes behind one spot's decoys. */
interface DriftState {
  at: number;
  slow: ViewNoise;
  fast: ViewNoise;
}

export interface DecoySynthesizerOptions {
  /** The region pack's spots: ids, reference features and popularity. */
  spots: RegionSpot[];
  variation: ViewVariation;
  random: Random;
  /** Absent: independent draws. */
  drift?: ViewDrift;
  /** The scan of these very spots that the device's region gate uses (edge-runtime.ts); absent: one of its own. */
  scan?: RegionPackScan;
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
  /** Per spot index: the draws behind its last shown decoy, and when. */
  private readonly driftStates = new Map<number, DriftState>();
  private readonly scan: RegionPackScan;

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
    const d = options.drift;
    if (d && !(Number.isFinite(d.fastSeconds) && d.fastSeconds >= 0 && d.slowSeconds >= d.fastSeconds && d.slowShare >= 0 && d.slowShare <= 1)) {
      throw new RangeError(
        `decoy drift needs 0 <= fastSeconds <= slowSeconds and a slowShare in [0, 1], got ${d.fastSeconds} s, ${d.slowSeconds} s, ${d.slowShare}`,
      );
    }
    this.drift = d && d.fastSeconds > 0 ? d : undefined;
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
    this.scan = options.scan ?? new RegionPackScan(spots);
    // A scan of another pack would name spots this synthesizer cannot draw, or the wrong ones.
    if (this.scan.dimension !== this.dimension || this.scan.size !== this.ids.length || this.scan.ids.some((id, i) => id !== this.ids[i])) {
      throw new RangeError('the region pack scan given to the decoy synthesizer is not of its spots');
    }
  }

  get spotCount(): number {
    return this.ids.length;
  }

  has(spotId: string): boolean {
    return this.indexById.has(spotId);
  }

  /** The unit reference feature of `spotId`, as the server ranks it. */
  reference(spotId: string): Float32Array {
    const index = this.indexById.get(spotId);
    if (index === undefined) throw new RangeError(`spot "${spotId}" is not in the region pack`);
    return this.references[index];
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
    const directions = view?.directions.length ?? 0;
    const drift = this.drift;
    if (!drift) {
      const noise = freshNoise(directions, this.dimension, this.random);
      return { vector: this.render(index, noise), commit: () => {} };
    }
    const at = drift.clock();
    const previous = this.driftStates.get(index);
    const gapS = previous ? Math.max(0, at - previous.at) / 1000 : Infinity;
    const state: DriftState = {
      at,
      slow: this.step(previous?.slow, Math.exp(-gapS / drift.slowSeconds), directions),
      fast: this.step(previous?.fast, Math.exp(-gapS / drift.fastSeconds), directions),
    };
    return { vector: this.render(index, mixNoise(state, drift.slowShare)), commit: () => this.remember(index, state) };
  }

  /**
   * Every spot's next decoy is drawn afresh (a new identity): views drift for minutes (slowSeconds), and a spot shown
   * in the same view by the old identity and the new would link the two.
   */
  forgetViews(): void {
    this.driftStates.clear();
  }

  /**
   * The user's own frame of `spotId` becomes the state its next decoys drift from. When the wearer's track shows
   * this spot in a dummy (the wearer has just looked away, or stands there between real queries), its view then
   * continues the real frames, as the next real frame would, instead of jumping to an unrelated draw: the persistence
   * attack read exactly that break (issue #9). The draws behind `feature` are recovered by inverting `sampleView`.
   */
  anchor(spotId: string, feature: Float32Array): void {
    const drift = this.drift;
    const index = this.indexById.get(spotId);
    if (!drift || index === undefined || feature.length !== this.dimension) return;
    const noise = this.noiseBehind(index, normalize(feature));
    if (!noise) return;
    // Split the total draw between the two processes as their posterior means, plus the independent part.
    const s = drift.slowShare;
    const split = (v: Float64Array) => {
      const e = Float64Array.from(v, () => this.random.normal());
      return {
        slow: Float64Array.from(v, (x, i) => Math.sqrt(s) * x + Math.sqrt(1 - s) * e[i]),
        fast: Float64Array.from(v, (x, i) => Math.sqrt(1 - s) * x - Math.sqrt(s) * e[i]),
      };
    };
    const steps = split(noise.steps);
    const residual = split(noise.residual);
    this.remember(index, {
      at: drift.clock(),
      slow: { steps: steps.slow, residual: residual.slow },
      fast: { steps: steps.fast, residual: residual.fast },
    });
  }

  /** The standard-normal draws that would make `sampleView` (or `perturb`) give `unit`, up to its scale. */
  private noiseBehind(index: number, unit: Float32Array): ViewNoise | undefined {
    const view = this.views[index];
    const centre = Float64Array.from(this.references[index], (r, i) => r + (view ? view.mean[i] : 0));
    // Scale the unit feature back to the pre-normalisation vector whose deviation from the centre is orthogonal to it.
    let cc = 0;
    let fc = 0;
    for (let i = 0; i < centre.length; i++) {
      cc += centre[i] * centre[i];
      fc += unit[i] * centre[i];
    }
    if (!(fc > 0)) return undefined;
    const deviation = Float64Array.from(unit, (f, i) => (cc / fc) * f - centre[i]);
    const d = this.dimension;
    const steps = new Float64Array(view?.directions.length ?? 0);
    view?.directions.forEach((u, j) => {
      let along = 0;
      for (let i = 0; i < d; i++) along += deviation[i] * u[i];
      for (let i = 0; i < d; i++) deviation[i] -= along * u[i];
      steps[j] = view.scales[j] > 0 ? along / view.scales[j] : 0;
    });
    const perDimension = (view ? view.residual : this.sigma) / Math.sqrt(d);
    if (!(perDimension > 0)) return undefined;
    return { steps, residual: Float64Array.from(deviation, (x) => x / perDimension) };
  }

  private render(index: number, noise: ViewNoise): Float32Array {
    const view = this.views[index];
    return view ? sampleViewWith(this.references[index], view, noise) : perturbWith(this.references[index], this.sigma, noise);
  }

  /** One Ornstein-Uhlenbeck step of a whole draw: correlation `rho` with `old` (absent: a fresh draw). */
  private step(old: ViewNoise | undefined, rho: number, directions: number): ViewNoise {
    const r = old ? rho : 0;
    const fresh = Math.sqrt(1 - r * r);
    const next = (prev: Float64Array | undefined, n: number) => Float64Array.from({ length: n }, (_, i) => (prev ? r * prev[i] : 0) + fresh * this.random.normal());
    return { steps: next(old?.steps, directions), residual: next(old?.residual, this.dimension) };
  }

  private remember(index: number, state: DriftState): void {
    this.driftStates.delete(index);
    this.driftStates.set(index, state);
    if (this.driftStates.size > MAX_DRIFT_STATES && this.drift) {
      // Insertion order is age order: forget the oldest, which are uncorrelated with anything new by now anyway.
      for (const [i, old] of this.driftStates) {
        if (this.driftStates.size <= MAX_DRIFT_STATES / 2 && state.at - old.at < 3 * this.drift.slowSeconds * 1000) break;
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

  /**
   * The region spot whose reference is closest to `feature` (of any scale), with its cosine: the device's guess of the
   * real spot. The caller passes the frame's own array, so the region gate's scan of it is reused (region-pack-scan.ts).
   */
  nearestSpot(feature: Float32Array): { id: string; score: number } {
    if (feature.length !== this.dimension) {
      throw new RangeError(`feature has dimension ${feature.length}, the region pack ${this.dimension}`);
    }
    const hit = this.scan.nearest(feature);
    // No finite cosine (a NaN feature): the first spot, as the loop this replaced answered.
    return hit ? { id: hit.id, score: hit.cosine } : { id: this.ids[0], score: -Infinity };
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

/** √share·slow + √(1 − share)·fast: again standard normal in every entry. */
function mixNoise(state: DriftState, share: number): ViewNoise {
  const a = Math.sqrt(share);
  const b = Math.sqrt(1 - share);
  return {
    steps: Float64Array.from(state.slow.steps, (x, i) => a * x + b * state.fast.steps[i]),
    residual: Float64Array.from(state.slow.residual, (x, i) => a * x + b * state.fast.residual[i]),
  };
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
  const scale = 1 / norm(v);
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
