/**
 * The pedestrian movement model over a region's spot map (DESIGN §4, phantom walkers; §7, trajectory_acc).
 * One model serves three users on purpose: the phantoms that supply decoys, the evaluation's simulated real
 * users, and the path attack's transition likelihood. Phantoms are only useful if their paths are
 * statistically exchangeable with real ones, and the cheapest way to keep that true is to draw both from the
 * same code.
 */
import type { RegionSpot } from '../domain/spot.js';
import type { Random } from '../util/random.js';
import { upperBound } from '../util/upper-bound.js';

/** What the movement model needs of a spot: where it is and how strongly it draws people. */
export type MapSpot = Pick<RegionSpot, 'id' | 'x' | 'y' | 'popularity'>;

export interface WalkParams {
  /** Median walking speed in m/s; each leg draws its own speed, lognormal around this. */
  speedMedian: number;
  /** Log-standard deviation of a leg's speed. */
  speedSigma: number;
  /** Hard bounds on a leg's speed in m/s: the tails of the lognormal would otherwise produce runners and statues. */
  speedMin: number;
  speedMax: number;
  /** Median dwell at a spot of average popularity, in ms. */
  dwellMedianMs: number;
  /** Log-standard deviation of a dwell. */
  dwellSigma: number;
  /** A spot's dwell median is dwellMedianMs × (popularity / mean popularity)^this: people linger at landmarks. */
  dwellPopularityExponent: number;
  /** Gravity model distance scale in metres: the next spot is chosen ∝ popularity × exp(−distance / lambdaM). */
  lambdaM: number;
}

export const DEFAULT_WALK_PARAMS: Readonly<WalkParams> = Object.freeze({
  speedMedian: 1.3,
  speedSigma: 0.15,
  speedMin: 0.6,
  speedMax: 2.2,
  dwellMedianMs: 4 * 60_000,
  dwellSigma: 0.7,
  dwellPopularityExponent: 0.5,
  lambdaM: 300,
});

/** `DEFAULT_WALK_PARAMS` with `overrides`, validated. */
export function walkParams(overrides: Partial<WalkParams> = {}): WalkParams {
  const p: WalkParams = { ...DEFAULT_WALK_PARAMS, ...overrides };
  const positive: (keyof WalkParams)[] = ['speedMedian', 'speedMin', 'speedMax', 'dwellMedianMs', 'lambdaM'];
  for (const key of positive) {
    if (!(Number.isFinite(p[key]) && p[key] > 0)) throw new RangeError(`walk parameter ${key} must be a finite number > 0, got ${p[key]}`);
  }
  for (const key of ['speedSigma', 'dwellSigma', 'dwellPopularityExponent'] as const) {
    if (!(Number.isFinite(p[key]) && p[key] >= 0)) throw new RangeError(`walk parameter ${key} must be a finite number >= 0, got ${p[key]}`);
  }
  if (!(p.speedMin <= p.speedMedian && p.speedMedian <= p.speedMax)) {
    throw new RangeError(`walk parameters need speedMin <= speedMedian <= speedMax, got ${p.speedMin} / ${p.speedMedian} / ${p.speedMax}`);
  }
  return p;
}

/** The spots of a region pack, indexed for the walk: coordinates and popularity in flat arrays. */
export class SpotMap {
  readonly size: number;
  readonly meanPopularity: number;
  private readonly ids: string[] = [];
  private readonly xs: Float64Array;
  private readonly ys: Float64Array;
  private readonly popularities: Float64Array;
  private readonly indexById = new Map<string, number>();

  constructor(spots: readonly MapSpot[]) {
    if (spots.length === 0) throw new RangeError('the spot map has no spots to walk between');
    this.size = spots.length;
    this.xs = new Float64Array(spots.length);
    this.ys = new Float64Array(spots.length);
    this.popularities = new Float64Array(spots.length);
    let total = 0;
    spots.forEach((spot, i) => {
      const where = `region pack spot "${spot.id}"`;
      if (this.indexById.has(spot.id)) throw new RangeError(`${where} appears twice`);
      if (!(Number.isFinite(spot.x) && Number.isFinite(spot.y))) throw new RangeError(`${where} has non-finite coordinates`);
      if (!(Number.isFinite(spot.popularity) && spot.popularity > 0)) {
        throw new RangeError(`${where} has popularity ${spot.popularity}, expected a finite number > 0`);
      }
      this.indexById.set(spot.id, i);
      this.ids.push(spot.id);
      this.xs[i] = spot.x;
      this.ys[i] = spot.y;
      this.popularities[i] = spot.popularity;
      total += spot.popularity;
    });
    this.meanPopularity = total / spots.length;
  }

  has(id: string): boolean {
    return this.indexById.has(id);
  }

  indexOf(id: string): number {
    const index = this.indexById.get(id);
    if (index === undefined) throw new RangeError(`spot "${id}" is not on the spot map`);
    return index;
  }

  id(index: number): string {
    return this.ids[index];
  }

  x(index: number): number {
    return this.xs[index];
  }

  y(index: number): number {
    return this.ys[index];
  }

  popularity(index: number): number {
    return this.popularities[index];
  }

  /** Straight-line distance in metres between two spots (by index). */
  distance(a: number, b: number): number {
    return Math.hypot(this.xs[a] - this.xs[b], this.ys[a] - this.ys[b]);
  }

  distanceTo(index: number, x: number, y: number): number {
    return Math.hypot(this.xs[index] - x, this.ys[index] - y);
  }

  /**
   * Every spot other than `index` within `radius` metres of it, in index order. Reads a grid built on first use
   * (cells about twice the mean spacing), so a query costs the spots near it rather than the whole map: the path
   * attack asks this for many spots at every step of a 10,000-spot map.
   */
  within(index: number, radius: number): number[] {
    const grid = this.buildGrid();
    const { cell, columns, rows, minX, minY, buckets } = grid;
    const x = this.xs[index];
    const y = this.ys[index];
    const c0 = Math.max(0, Math.floor((x - radius - minX) / cell));
    const c1 = Math.min(columns - 1, Math.floor((x + radius - minX) / cell));
    const r0 = Math.max(0, Math.floor((y - radius - minY) / cell));
    const r1 = Math.min(rows - 1, Math.floor((y + radius - minY) / cell));
    const found: number[] = [];
    for (let r = r0; r <= r1; r++) {
      for (let c = c0; c <= c1; c++) {
        for (const j of buckets[r * columns + c]) {
          if (j !== index && this.distance(index, j) <= radius) found.push(j);
        }
      }
    }
    return found.sort((a, b) => a - b);
  }

  private grid: { cell: number; columns: number; rows: number; minX: number; minY: number; buckets: number[][] } | undefined;

  private buildGrid(): NonNullable<SpotMap['grid']> {
    if (!this.grid) {
      let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
      for (let i = 0; i < this.size; i++) {
        minX = Math.min(minX, this.xs[i]);
        maxX = Math.max(maxX, this.xs[i]);
        minY = Math.min(minY, this.ys[i]);
        maxY = Math.max(maxY, this.ys[i]);
      }
      const width = Math.max(maxX - minX, 1e-9);
      const height = Math.max(maxY - minY, 1e-9);
      // About four spots a cell on a map of even density; at most about 4 × size cells.
      const cell = Math.max(2 * Math.sqrt((width * height) / this.size), width / (2 * this.size), height / (2 * this.size), 1e-6);
      const columns = Math.floor(width / cell) + 1;
      const rows = Math.floor(height / cell) + 1;
      const buckets: number[][] = Array.from({ length: columns * rows }, () => []);
      for (let i = 0; i < this.size; i++) {
        buckets[Math.floor((this.ys[i] - minY) / cell) * columns + Math.floor((this.xs[i] - minX) / cell)].push(i);
      }
      this.grid = { cell, columns, rows, minX, minY, buckets };
    }
    return this.grid;
  }

  /** Index of the spot nearest to (x, y) that `skip` does not reject; -1 when every spot is rejected. */
  nearest(x: number, y: number, skip?: (index: number) => boolean): number {
    let best = -1;
    let bestD = Infinity;
    for (let i = 0; i < this.size; i++) {
      if (skip?.(i)) continue;
      const d = (this.xs[i] - x) ** 2 + (this.ys[i] - y) ** 2;
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    }
    return best;
  }
}

/** What a path attack needs of a movement model (DESIGN §7, trajectory_acc). */
export interface PathModel {
  /** Log-probability that a path starts at `spot`. */
  logPrior(spot: string): number;
  /** Log-likelihood of being seen at `to` `dtMs` after being seen at `from`. */
  logTransition(from: string, to: string, dtMs: number): number;
}

/** Smallest probability a transition is given, so that one implausible step lowers a path instead of killing it. */
const FLOOR = 1e-12;

/**
 * The movement model: draws for the walker (speed, dwell, next spot, start) and, from the same parameters,
 * the approximate likelihoods a path attack scores candidate paths with. Expensive per-map quantities are
 * computed once, lazily, and shared by every walker built on the model.
 */
export class WalkModel implements PathModel {
  readonly map: SpotMap;
  readonly params: Readonly<WalkParams>;
  /** Σ_j≠i popularity_j × exp(−d_ij/λ): the gravity normaliser of each spot (NaN until needed). */
  private readonly gravityTotals: Float64Array;
  private startCumulative: Float64Array | undefined;
  private spacing: number | undefined;

  constructor(map: SpotMap | readonly MapSpot[], params: Partial<WalkParams> = {}) {
    this.map = map instanceof SpotMap ? map : new SpotMap(map);
    this.params = Object.freeze(walkParams(params));
    this.gravityTotals = new Float64Array(this.map.size).fill(Number.NaN);
  }

  /** Median dwell at a spot, in ms. */
  dwellMedianMs(spot: number): number {
    const { dwellMedianMs, dwellPopularityExponent } = this.params;
    return dwellMedianMs * (this.map.popularity(spot) / this.map.meanPopularity) ** dwellPopularityExponent;
  }

  drawDwellMs(spot: number, random: Random): number {
    return this.dwellMedianMs(spot) * Math.exp(this.params.dwellSigma * random.normal());
  }

  /** One leg's speed in m/s: lognormal, clamped to [speedMin, speedMax]. */
  drawSpeed(random: Random): number {
    const { speedMedian, speedSigma, speedMin, speedMax } = this.params;
    return Math.min(speedMax, Math.max(speedMin, speedMedian * Math.exp(speedSigma * random.normal())));
  }

  /**
   * The next spot after `from`: gravity model, never `from` itself and never straight back to `previous`
   * (people rarely walk back to where they just were; a random walk without this rule dithers between two
   * neighbours, which would make phantoms easy to spot). A dead end (no other spot but `previous`) allows the return.
   * `avoid` leaves out spots taken by others (decoy tracks that must not meet); when it leaves nothing, it is ignored.
   */
  drawNext(from: number, previous: number, random: Random, avoid?: (index: number) => boolean): number {
    const map = this.map;
    if (map.size === 1) return from;
    const weights = new Float64Array(map.size);
    let total = 0;
    for (let i = 0; i < map.size; i++) {
      if (i === from || i === previous || avoid?.(i)) continue;
      weights[i] = this.gravity(from, i);
      total += weights[i];
    }
    if (total === 0) {
      // All others are too far for exp() to register, or only `previous` is left: fall back to the nearest allowed spot.
      const skip = (i: number) => i === from || (i === previous && map.size > 2);
      const free = avoid ? map.nearest(map.x(from), map.y(from), (i) => skip(i) || avoid(i)) : -1;
      if (free >= 0) return free;
      const nearest = map.nearest(map.x(from), map.y(from), skip);
      return nearest >= 0 ? nearest : from;
    }
    return drawWeighted(weights, total, random, from);
  }

  /**
   * The next spot after `from` for someone last seen at `from` `elapsedMs` ago and now seen elsewhere: the gravity
   * choice of `drawNext` weighted by the chance a leg's speed covers the distance in that time — the same terms
   * `logTransition` scores a move with, so a move drawn here is as plausible to a path attack as a real one. When no
   * spot is within reach (a move faster than walking: in a real track that is a misrecognised frame), the draw is by
   * popularity alone. Never `from`, never `previous` unless nothing else is left.
   */
  drawNextWithin(from: number, previous: number, elapsedMs: number, random: Random): number {
    const map = this.map;
    if (map.size === 1) return from;
    const seconds = Math.max(0, elapsedMs) / 1000;
    const spacing = this.typicalSpacing();
    const weights = new Float64Array(map.size);
    let total = 0;
    for (let i = 0; i < map.size; i++) {
      if (i === from || i === previous) continue;
      const needed = Math.max(0, map.distance(from, i) - 2 * spacing);
      weights[i] = this.gravity(from, i) * this.speedSurvival(seconds > 0 ? needed / seconds : needed > 0 ? Infinity : 0);
      total += weights[i];
    }
    if (total === 0) {
      for (let i = 0; i < map.size; i++) {
        weights[i] = i === from || (i === previous && map.size > 2) ? 0 : map.popularity(i);
        total += weights[i];
      }
    }
    return drawWeighted(weights, total, random, from);
  }

  /**
   * A starting spot drawn from (approximately) where a walker that has been walking a while is found: for the
   * gravity chain, the visit frequency is ∝ popularity × gravity normaliser, and time spent ∝ that × dwell. Real
   * users in the evaluation start the same way, so a fresh phantom is not told apart by where it begins.
   * O(n²) once per model (walking time and the no-return rule are left out of the approximation).
   */
  drawStart(random: Random): number {
    const cumulative = this.startWeights();
    const total = cumulative[cumulative.length - 1];
    return upperBound(cumulative, random.next() * total);
  }

  logPrior(spot: string): number {
    const i = this.map.indexOf(spot);
    const cumulative = this.startWeights();
    const weight = cumulative[i] - (i > 0 ? cumulative[i - 1] : 0);
    return Math.log(Math.max(FLOOR, weight / cumulative[cumulative.length - 1]));
  }

  /**
   * Approximate likelihood of the walk model: still at `from` with the chance a dwell of that spot outlasts
   * `dtMs` (exponential approximation), otherwise moved to `to` with the gravity choice times the chance a
   * leg's speed covers the distance in time. Walkers are reported at the spot nearest to them while walking,
   * so the distance is discounted by the map's typical spacing before the speed check.
   */
  logTransition(from: string, to: string, dtMs: number): number {
    return this.logTransitionAt(this.map.indexOf(from), this.map.indexOf(to), dtMs);
  }

  /** logTransition by map index. */
  logTransitionAt(a: number, b: number, dtMs: number): number {
    const dt = Math.max(0, dtMs);
    const meanDwell = this.dwellMedianMs(a) * Math.exp((this.params.dwellSigma ** 2) / 2);
    const stay = Math.exp(-dt / meanDwell);
    let p: number;
    if (a === b) {
      p = stay;
    } else {
      const total = this.gravityTotal(a);
      const choice = total > 0 ? this.gravity(a, b) / total : 0;
      const needed = Math.max(0, this.map.distance(a, b) - 2 * this.typicalSpacing());
      p = (1 - stay) * choice * this.speedSurvival(dt > 0 ? needed / (dt / 1000) : needed > 0 ? Infinity : 0);
    }
    return Math.log(Math.max(FLOOR, p));
  }

  /** The least any transition scores: log of the floor every implausible step is lifted to. */
  readonly logFloor = Math.log(FLOOR);

  /**
   * The spots other than `from` that a walker may have reached `dtMs` later at more than the floor's likelihood
   * (logTransitionAt above logFloor). Every other move needs a speed above `speedMax` once the spacing discount is
   * taken, so its likelihood is 0 and it scores exactly logFloor. The radius is widened by a hair, so rounding can only
   * add a spot that scores the floor, never leave out one that scores more.
   */
  reachable(from: number, dtMs: number): number[] {
    const reach = 2 * this.typicalSpacing() + (this.params.speedMax * Math.max(0, dtMs)) / 1000;
    return this.map.within(from, reach * (1 + 1e-9) + 1e-6);
  }

  /** Median distance from a spot to its nearest neighbour, in metres (O(n²) once). */
  typicalSpacing(): number {
    if (this.spacing === undefined) {
      const map = this.map;
      const nearest: number[] = [];
      for (let i = 0; i < map.size; i++) {
        const j = map.nearest(map.x(i), map.y(i), (k) => k === i);
        if (j >= 0) nearest.push(map.distance(i, j));
      }
      nearest.sort((x, y) => x - y);
      this.spacing = nearest.length > 0 ? nearest[nearest.length >> 1] : 0;
    }
    return this.spacing;
  }

  private gravity(from: number, to: number): number {
    return this.map.popularity(to) * Math.exp(-this.map.distance(from, to) / this.params.lambdaM);
  }

  private gravityTotal(from: number): number {
    if (Number.isNaN(this.gravityTotals[from])) {
      let total = 0;
      for (let i = 0; i < this.map.size; i++) if (i !== from) total += this.gravity(from, i);
      this.gravityTotals[from] = total;
    }
    return this.gravityTotals[from];
  }

  private startWeights(): Float64Array {
    if (!this.startCumulative) {
      const n = this.map.size;
      this.startCumulative = new Float64Array(n);
      let total = 0;
      for (let i = 0; i < n; i++) {
        // A lone spot (or one beyond exp()'s reach of all others) still gets its own popularity's worth.
        const reach = n > 1 ? this.gravityTotal(i) : 1;
        total += this.map.popularity(i) * Math.max(reach, FLOOR) * this.dwellMedianMs(i);
        this.startCumulative[i] = total;
      }
    }
    return this.startCumulative;
  }

  /** P(leg speed ≥ v) under the clamped lognormal. */
  private speedSurvival(v: number): number {
    const { speedMedian, speedSigma, speedMin, speedMax } = this.params;
    if (v <= speedMin) return 1;
    if (v > speedMax) return 0;
    if (speedSigma === 0) return v <= speedMedian ? 1 : 0;
    return 0.5 * erfc(Math.log(v / speedMedian) / (speedSigma * Math.SQRT2));
  }
}

/** An index drawn with probability ∝ `weights` (which sum to `total` > 0); `fallback` if rounding leaves none. */
function drawWeighted(weights: Float64Array, total: number, random: Random, fallback: number): number {
  let target = random.next() * total;
  let last = fallback;
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] === 0) continue;
    last = i;
    target -= weights[i];
    if (target < 0) return i;
  }
  return last;
}

/** Complementary error function (Numerical Recipes' erfcc, |error| < 1.2e-7): plenty for a likelihood. */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** One stretch of a walker's itinerary: standing at a spot, or walking towards one. */
export interface WalkSegment {
  kind: 'dwell' | 'walk';
  /** The spot stood at, or walked to. */
  spot: string;
  startMs: number;
  endMs: number;
  /** Where the segment starts (the previous spot). */
  fromX: number;
  fromY: number;
  /** The leg's speed in m/s (walks only). */
  speed?: number;
}

interface Segment {
  kind: 'dwell' | 'walk';
  spot: number;
  startMs: number;
  endMs: number;
  fromX: number;
  fromY: number;
  speed: number;
}

export interface WalkerOptions {
  /** Starting spot id; default a draw from `WalkModel.drawStart`. */
  start?: string;
  /** The walker's clock at creation, in ms. Default 0. */
  atMs?: number;
  /**
   * A gap longer than this (ms) is not walked step by step: the walker restarts from a fresh `drawStart`.
   * The walk has forgotten where it was long before, and a clock jump (a Pi without RTC setting its clock from
   * NTP jumps decades) must not mean simulating decades of walking. Default one hour.
   */
  resyncAfterMs?: number;
  /** Called with every segment as it is planned (tests and the evaluation's ground truth). */
  onSegment?: (segment: WalkSegment) => void;
}

/**
 * One pedestrian on the spot map, in continuous time: dwell at a spot, walk at a leg speed to the next spot
 * chosen by the gravity model, dwell again. Only the current and next segments are kept, so memory stays
 * constant however long it walks; the past cannot be asked about.
 */
export class Walker {
  private readonly model: WalkModel;
  private readonly random: Random;
  private readonly resyncAfterMs: number;
  private readonly onSegment?: (segment: WalkSegment) => void;
  /** Planned segments, in time order; segments[0] contains the present. */
  private segments: Segment[] = [];
  private presentMs: number;
  /** The spot the walker last left, so it does not head straight back (-1: none). */
  private previous = -1;

  constructor(model: WalkModel, random: Random, options: WalkerOptions = {}) {
    this.model = model;
    this.random = random;
    this.resyncAfterMs = options.resyncAfterMs ?? 3_600_000;
    this.onSegment = options.onSegment;
    this.presentMs = options.atMs ?? 0;
    if (!Number.isFinite(this.presentMs)) throw new RangeError(`walker start time must be finite, got ${this.presentMs}`);
    const start = options.start === undefined ? model.drawStart(random) : model.map.indexOf(options.start);
    // Start part-way through a dwell, so a crowd created at one moment does not set off all at once.
    this.dwell(start, this.presentMs, this.random.next());
  }

  /** The walker's present, in ms. */
  get nowMs(): number {
    return this.presentMs;
  }

  /** Moves the walker's present to `toMs`; earlier times are ignored (the present never goes back). */
  advance(toMs: number): void {
    if (!Number.isFinite(toMs)) throw new RangeError(`walker time must be finite, got ${toMs}`);
    if (toMs <= this.presentMs) return;
    if (toMs - this.presentMs > this.resyncAfterMs) {
      this.segments = [];
      this.previous = -1;
      this.dwell(this.model.drawStart(this.random), toMs, this.random.next());
    }
    this.presentMs = toMs;
    while (this.segments[this.segments.length - 1].endMs <= toMs) this.planNext();
    while (this.segments[0].endMs <= toMs) this.segments.shift();
  }

  /** The spot the walker stands at, or the spot nearest to it while walking, at `ms` (≥ the present). */
  spotAt(ms: number): string {
    return this.model.map.id(this.spotIndexAt(ms));
  }

  spotIndexAt(ms: number): number {
    const segment = this.segmentAt(ms);
    if (segment.kind === 'dwell') return segment.spot;
    const { x, y } = this.interpolate(segment, ms);
    return this.model.map.nearest(x, y);
  }

  /** Where the walker is at `ms` (≥ the present), in map metres. */
  positionAt(ms: number): { x: number; y: number } {
    return this.interpolate(this.segmentAt(ms), ms);
  }

  /** From `ms` on, the walker stands at `spot`, starting a fresh dwell (a real user's shadow: see phantoms.ts). */
  placeAt(spot: string, ms: number): void {
    const target = this.model.map.indexOf(spot);
    this.advance(ms);
    this.segments = [];
    this.previous = -1;
    this.dwell(target, Math.max(ms, this.presentMs), 1);
  }

  private segmentAt(ms: number): Segment {
    if (!Number.isFinite(ms)) throw new RangeError(`walker time must be finite, got ${ms}`);
    if (ms < this.segments[0].startMs) throw new RangeError(`the walker no longer knows where it was at ${ms} (present ${this.presentMs})`);
    if (ms > this.presentMs) this.advance(ms);
    for (const segment of this.segments) if (ms < segment.endMs) return segment;
    return this.segments[this.segments.length - 1];
  }

  private interpolate(segment: Segment, ms: number): { x: number; y: number } {
    const map = this.model.map;
    if (segment.kind === 'dwell') return { x: map.x(segment.spot), y: map.y(segment.spot) };
    const span = segment.endMs - segment.startMs;
    const f = span > 0 ? Math.min(1, Math.max(0, (ms - segment.startMs) / span)) : 1;
    return {
      x: segment.fromX + f * (map.x(segment.spot) - segment.fromX),
      y: segment.fromY + f * (map.y(segment.spot) - segment.fromY),
    };
  }

  private dwell(spot: number, startMs: number, fraction: number): void {
    const map = this.model.map;
    const duration = this.model.drawDwellMs(spot, this.random) * fraction;
    this.push({ kind: 'dwell', spot, startMs, endMs: startMs + duration, fromX: map.x(spot), fromY: map.y(spot), speed: 0 });
  }

  private planNext(): void {
    const last = this.segments[this.segments.length - 1];
    if (last.kind === 'walk') {
      this.dwell(last.spot, last.endMs, 1);
      return;
    }
    const map = this.model.map;
    const next = this.model.drawNext(last.spot, this.previous, this.random);
    if (next === last.spot) {
      this.dwell(last.spot, last.endMs, 1); // a one-spot map: stay
      return;
    }
    this.previous = last.spot;
    const speed = this.model.drawSpeed(this.random);
    const seconds = map.distance(last.spot, next) / speed;
    this.push({
      kind: 'walk',
      spot: next,
      startMs: last.endMs,
      endMs: last.endMs + seconds * 1000,
      fromX: map.x(last.spot),
      fromY: map.y(last.spot),
      speed,
    });
  }

  private push(segment: Segment): void {
    this.segments.push(segment);
    if (this.onSegment) {
      const { kind, startMs, endMs, fromX, fromY, speed } = segment;
      this.onSegment({ kind, spot: this.model.map.id(segment.spot), startMs, endMs, fromX, fromY, ...(kind === 'walk' ? { speed } : {}) });
    }
  }
}
