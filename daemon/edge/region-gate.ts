import type { RegionSpot } from '../transport/messages.js';
import { dot, normalize } from '../util/vector.js';

/**
 * Keeps frames of no spot off the wire (DESIGN §4, "frames come in sequences"). Most of what glasses see is no spot
 * at all — walls, streets, people — and such a frame sent as a real query has a residual unlike any decoy's (an
 * issue measured AUC 0.93) and drags the user's track to whichever spot is nearest. The device holds the region's
 * references, so it can tell on its own: a frame whose best cosine with any of them is under `minCosine` would be
 * answered "unknown" by the resolver anyway (it ranks the same references), so it never becomes a query and the
 * slot it would have taken carries a dummy like any other empty slot.
 */
export class RegionGate {
  private readonly references: Float32Array[];

  constructor(
    spots: readonly RegionSpot[],
    readonly minCosine: number,
  ) {
    if (!(minCosine >= -1 && minCosine <= 1)) throw new RangeError(`the region gate's cosine must be in [-1, 1], got ${minCosine}`);
    this.references = spots.map((s) => normalize(s.feature));
  }

  /** Best cosine between the unit `feature` and any region reference (-1 for an empty region). */
  bestCosine(feature: Float32Array): number {
    let best = -1;
    for (const r of this.references) {
      if (r.length !== feature.length) continue;
      const c = dot(feature, r);
      if (c > best) best = c;
    }
    return best;
  }

  /** True when the frame may show a spot of the region, i.e. may become a real query. */
  admits(feature: Float32Array): boolean {
    return this.bestCosine(normalize(feature)) >= this.minCosine;
  }
}
