/**
 * What the curious server derives, once, from the gallery it holds (DESIGN §4: it knows the region pack the devices
 * download, view models included, and the public view-variation sigma): per spot the unit reference, the expected
 * view `centre` = reference + view mean, the expected *unit* component the device would add to a k-mix
 * (`template`), the view directions and scales, and coordinates. Inner products between spots' templates and view
 * directions are cached by pair: replies of one session keep returning the same few spots.
 */
import type { RegionSpot, SpotViewModel } from '../../transport/messages.js';
import { normalize } from '../../util/vector.js';
import { dot64 } from './linalg.js';

export interface SpotModel {
  id: string;
  /** Position in the gallery, for pair caches. */
  index: number;
  x: number;
  y: number;
  popularity: number;
  unit: Float32Array;
  /** reference + view mean: the expected (unnormalised) camera view. */
  centre: Float64Array;
  /**
   * The expected unit component: centre / √(|centre|² + Σ scales² + residual²) — a view is normalised after its
   * noise is added, so a spot with a wide view model contributes a shorter expected vector to the sum.
   */
  template: Float64Array;
  /** Orthonormal principal view directions and their standard deviations (empty without a view model). */
  directions: readonly Float32Array[];
  scales: readonly number[];
  /** Norm of the isotropic rest of a view's deviation. */
  residual: number;
  view?: SpotViewModel;
}

/** Cache entries kept per pair table before it is cleared (≈ 30 MB of direction blocks at 5 directions). */
const PAIR_CACHE_LIMIT = 100_000;
/**
 * Galleries up to this many spots keep template products in a full table (8 bytes a pair, 9 MB at 1,077 spots, at most
 * 134 MB): every decomposition reads all pairs of a reply's candidates, and a map of 100,000 pairs, cleared when full,
 * cost most of an evaluation's attack phase at 1,077 spots (a 64-candidate reply has 2,016 pairs).
 */
const FULL_TEMPLATE_TABLE_SPOTS = 4096;

export class SpotModels {
  readonly dimension: number;
  private readonly byId = new Map<string, SpotModel>();
  private readonly templatePairs = new Map<number, number>();
  /** template_a · template_b by a.index × size + b.index, NaN until computed (FULL_TEMPLATE_TABLE_SPOTS). */
  private templateTable: Float64Array | undefined;
  private readonly directionPairs = new Map<number, Float64Array>();
  private readonly directionCentre = new Map<number, Float64Array>();

  /** `sigma`: the public isotropic view variation, used for spots that carry no view model. */
  constructor(
    readonly gallery: readonly RegionSpot[],
    readonly sigma: number,
  ) {
    if (gallery.length === 0) throw new RangeError('the server gallery is empty');
    this.dimension = gallery[0].feature.length;
    gallery.forEach((spot, index) => {
      const unit = normalize(spot.feature);
      const view = spot.view;
      const centre = Float64Array.from(unit, (v, i) => v + (view ? view.mean[i] : 0));
      const spread = view ? view.scales.reduce((s, x) => s + x * x, 0) + view.residual ** 2 : sigma ** 2;
      const length = Math.sqrt(dot64(centre, centre) + spread);
      this.byId.set(spot.id, {
        id: spot.id,
        index,
        x: spot.x,
        y: spot.y,
        popularity: spot.popularity,
        unit,
        centre,
        template: centre.map((v) => v / length),
        directions: view?.directions ?? [],
        scales: view?.scales ?? [],
        residual: view ? view.residual : sigma,
        view,
      });
    });
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  get(id: string): SpotModel {
    const s = this.byId.get(id);
    if (!s) throw new RangeError(`spot ${id} is not in the gallery`);
    return s;
  }

  /** template_a · template_b. */
  templateDot(a: SpotModel, b: SpotModel): number {
    const n = this.gallery.length;
    if (n > FULL_TEMPLATE_TABLE_SPOTS) return this.cached(this.templatePairs, this.pairKey(a, b, true), () => dot64(a.template, b.template));
    const table = (this.templateTable ??= new Float64Array(n * n).fill(Number.NaN));
    let value = table[a.index * n + b.index];
    if (Number.isNaN(value)) {
      value = dot64(a.template, b.template);
      table[a.index * n + b.index] = table[b.index * n + a.index] = value;
    }
    return value;
  }

  /** directions_a · directions_b as a |a|×|b| row-major block. */
  directionGram(a: SpotModel, b: SpotModel): Float64Array {
    return this.cached(this.directionPairs, this.pairKey(a, b, false), () => {
      const nb = b.directions.length;
      const block = new Float64Array(a.directions.length * nb);
      a.directions.forEach((u, i) => b.directions.forEach((v, j) => (block[i * nb + j] = dot64(u, v))));
      return block;
    });
  }

  /** directions_a · centre_b, one entry per direction of a. */
  directionsOnCentre(a: SpotModel, b: SpotModel): Float64Array {
    return this.cached(this.directionCentre, this.pairKey(a, b, false), () => Float64Array.from(a.directions, (u) => dot64(u, b.centre)));
  }

  private pairKey(a: SpotModel, b: SpotModel, symmetric: boolean): number {
    const n = this.gallery.length;
    return symmetric && a.index > b.index ? b.index * n + a.index : a.index * n + b.index;
  }

  private cached<V>(cache: Map<number, V>, key: number, compute: () => V): V {
    let value = cache.get(key);
    if (value === undefined) {
      value = compute();
      if (cache.size >= PAIR_CACHE_LIMIT) cache.clear();
      cache.set(key, value);
    }
    return value;
  }
}
