import type { Random } from '../util/random.js';
import type { DecoySpotPicker } from './types.js';
import { Walker, WalkModel, type MapSpot, type WalkParams } from './walk-model.js';

/** What every phantom crowd is built from (phantoms.ts, lockstep.ts). */
export interface CrowdOptions {
  /** The region pack's spots (id, x, y and popularity are used), or a model already built over them. */
  map: WalkModel | readonly MapSpot[];
  random: Random;
  /** Milliseconds; default `Date.now`. The evaluation passes its simulated clock. */
  clock?: () => number;
  /** Movement model parameters when `map` is a spot list; defaults otherwise. */
  walk?: Partial<WalkParams>;
}

/** The crowd's walk model, after checking that `size` tracks (an integer >= 1) fit on its map. */
export function crowdModel(options: CrowdOptions, size: number, noun: 'walkers' | 'tracks'): WalkModel {
  if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`a phantom crowd needs an integer >= 1 ${noun}, got ${size}`);
  const model = options.map instanceof WalkModel ? options.map : new WalkModel(options.map, options.walk);
  if (model.map.size < size) throw new RangeError(`${size} phantom ${noun} need at least ${size} spots; the spot map has ${model.map.size}`);
  return model;
}

export interface PhantomCrowdOptions extends CrowdOptions {
  /** Number of phantom walkers: k for a k-mix (see the class comment). */
  walkers: number;
}

/**
 * Phantom walkers (DESIGN §4): decoys are the spots where simulated companions are now, so across time the
 * server sees k plausible paths rather than one path among random jumps. Walkers advance lazily to the clock
 * on each pick, so there is nothing to start or stop.
 *
 * Why k walkers for k−1 decoys: a dummy needs k components and, to be exchangeable with real queries, its k
 * tracks must continue the k tracks the server saw in real queries. So the crowd keeps k walkers, and one of
 * them is the user's "shadow": in a real query the user takes its place (it is placed at the real spot,
 * unreported), and in dummies it walks on from the user's last real spot, continuing the user's track. The
 * alternative, k−1 phantoms plus a random spot in dummies, gives the server k−1 smooth tracks and one that
 * jumps exactly in dummies, marking both the dummies and the user's track. What remains visible is that the
 * shadow's track may jump at a real query by the gap between its simulated walk and the user's real one since
 * the last real query (two plausible walks from one spot); with real queries only there is no jump at all.
 */
export class PhantomCrowd implements DecoySpotPicker {
  readonly model: WalkModel;
  private readonly walkers: Walker[];
  private readonly clock: () => number;
  private lastMs: number;
  /** The walker that stood in for the real user last time (-1: none yet). */
  private shadow = -1;

  constructor(options: PhantomCrowdOptions) {
    const { walkers, random } = options;
    this.model = crowdModel(options, walkers, 'walkers');
    this.clock = options.clock ?? Date.now;
    this.lastMs = this.now();
    this.walkers = Array.from({ length: walkers }, () => new Walker(this.model, random, { atMs: this.lastMs }));
  }

  get size(): number {
    return this.walkers.length;
  }

  /**
   * Where each walker is now, in walker order: the spot it is seen at (ids may repeat: distinctness is settled
   * at pick time) and its position in map metres. Ground truth for tests and the evaluation; never sent.
   */
  positions(): { spot: string; x: number; y: number }[] {
    const now = this.advance();
    return this.walkers.map((w) => ({ spot: w.spotAt(now), ...w.positionAt(now) }));
  }

  /**
   * `n` distinct spots where phantoms are now, none in `exclude`. Excluded spots are where real users stand:
   * while the crowd has walkers to spare (size − n), a walker is placed at each excluded spot and left out (the
   * shadow for the first, the nearest walker for any other). A phantom on a spot already taken is shown at the
   * nearest free spot and walks on its own way.
   */
  pickDecoySpots(n: number, exclude: ReadonlySet<string>): string[] {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`decoy count must be an integer >= 0, got ${n}`);
    if (n > this.walkers.length) throw new RangeError(`${n} decoys need ${n} phantom walkers; the crowd has ${this.walkers.length}`);
    const map = this.model.map;
    const taken = new Set<number>();
    for (const id of exclude) if (map.has(id)) taken.add(map.indexOf(id));
    if (map.size - taken.size < n) {
      throw new RangeError(`${n} decoys need ${n} spots besides the excluded ones; the spot map has ${map.size - taken.size}`);
    }
    const now = this.advance();
    const free = new Set(this.walkers.keys());
    let spare = this.walkers.length - n;
    for (const spot of taken) {
      if (spare === 0) break;
      // The same walker stands in every time. Letting the nearest walker stand in instead shortens the shadow's
      // jump but swaps tracks next to the user, and each swap joins the user's path to a second track, which the
      // path attack exploits (k = 4, one hour: 0.28 of real steps recovered with swaps, 0.27 sticky, 0.25 = 1/k).
      const shadow = this.shadow >= 0 && free.has(this.shadow) ? this.shadow : this.nearestWalker(free, spot, now);
      if (this.shadow < 0) this.shadow = shadow;
      this.walkers[shadow].placeAt(map.id(spot), now);
      free.delete(shadow);
      spare--;
    }
    const picked: string[] = [];
    for (const w of free) {
      if (picked.length === n) break;
      const walker = this.walkers[w];
      let spot = walker.spotIndexAt(now);
      if (taken.has(spot)) {
        // Shown at the nearest free spot, but left to walk its own way: diverting it (a walk there and a fresh dwell)
        // made phantoms near the user linger, so the user's track was the one that changed spots most often
        // (measured, continuous camera, k = 4: the most recently changed component was the user's at 0.31 of
        // real queries; 0.25 would be chance).
        const { x, y } = walker.positionAt(now);
        spot = map.nearest(x, y, (i) => taken.has(i));
      }
      taken.add(spot);
      picked.push(map.id(spot));
    }
    return picked;
  }

  /** The clock, never going back: a clock stepped backwards must not rewind walkers that cannot rewind. */
  private now(): number {
    const ms = this.clock();
    if (!Number.isFinite(ms)) throw new RangeError(`the phantom clock returned ${ms}`);
    return ms;
  }

  private advance(): number {
    this.lastMs = Math.max(this.lastMs, this.now());
    for (const walker of this.walkers) walker.advance(this.lastMs);
    return this.lastMs;
  }

  private nearestWalker(candidates: ReadonlySet<number>, spot: number, now: number): number {
    let best = -1;
    let bestD = Infinity;
    for (const w of candidates) {
      const { x, y } = this.walkers[w].positionAt(now);
      const d = this.model.map.distanceTo(spot, x, y);
      if (d < bestD) {
        bestD = d;
        best = w;
      }
    }
    return best;
  }
}
