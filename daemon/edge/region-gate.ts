import { loadBackground } from '../extractor/background.js';
import { regionGateCosine, type LoadedManifest } from '../extractor/manifest.js';
import type { RegionSpot } from '../transport/messages.js';
import { normalize } from '../util/vector.js';

/**
 * Keeps frames of no spot off the wire (DESIGN §4, "frames come in sequences"). Most of what glasses see is no spot
 * at all — walls, streets, people — and such a frame sent as a real query has a residual unlike any decoy's (an
 * issue measured AUC 0.93) and drags the user's track to whichever spot is nearest. The device holds the region's
 * references, so it can tell on its own: a frame whose best cosine with any of them is under `minCosine` would be
 * answered "unknown" by the resolver anyway (it ranks the same references), so it never becomes a query and the
 * slot it would have taken carries a dummy like any other empty slot.
 */
export class RegionGate {
  /** The references' unit features, one row after the other (a flat matrix: the scan is one tight loop). */
  private readonly rows: Float32Array;
  private readonly dimension: number;

  constructor(
    spots: readonly RegionSpot[],
    readonly minCosine: number,
  ) {
    if (!(minCosine >= -1 && minCosine <= 1)) throw new RangeError(`the region gate's cosine must be in [-1, 1], got ${minCosine}`);
    this.dimension = spots[0]?.feature.length ?? 0;
    const usable = spots.filter((s) => s.feature.length === this.dimension);
    this.rows = new Float32Array(usable.length * this.dimension);
    usable.forEach((s, i) => this.rows.set(normalize(s.feature), i * this.dimension));
  }

  /** Best cosine between the unit `feature` and any region reference (-1 for an empty region or another dimension). */
  bestCosine(feature: Float32Array): number {
    const d = this.dimension;
    if (feature.length !== d) return -1;
    const rows = this.rows;
    let best = -1;
    // Four partial sums: V8 keeps them in registers, about three times the speed of one running sum.
    const tail = d - (d % 4);
    for (let offset = 0; offset < rows.length; offset += d) {
      let c0 = 0;
      let c1 = 0;
      let c2 = 0;
      let c3 = 0;
      for (let i = 0; i < tail; i += 4) {
        c0 += feature[i] * rows[offset + i];
        c1 += feature[i + 1] * rows[offset + i + 1];
        c2 += feature[i + 2] * rows[offset + i + 2];
        c3 += feature[i + 3] * rows[offset + i + 3];
      }
      for (let i = tail; i < d; i++) c0 += feature[i] * rows[offset + i];
      const c = c0 + c1 + c2 + c3;
      if (c > best) best = c;
    }
    return best;
  }

  /** True when the frame may show a spot of the region, i.e. may become a real query. */
  admits(feature: Float32Array): boolean {
    return this.bestCosine(normalize(feature)) >= this.minCosine;
  }
}

/**
 * The gate's cosine for a region from the model's background views: the least cosine that at most the share `pass`
 * of them reach with their best spot of the region (linear interpolation between order statistics), and never under
 * `floor` (the match threshold: a frame under it is answered "unknown" anyway). The best cosine of a picture of no
 * spot grows with the region, and a fixed cosine that kept 92 % of frames of no spot off the wire among 25 spots let
 * 66 % through among 1,077 (docs/privacy.md); a share of views of no spot scales with the region instead.
 */
export function backgroundGateCosine(spots: readonly RegionSpot[], background: readonly Float32Array[], pass: number, floor: number): number {
  if (!(pass > 0 && pass <= 1)) throw new RangeError(`the share of background views let through must be in (0, 1], got ${pass}`);
  if (background.length === 0 || spots.length === 0) return floor;
  const scorer = new RegionGate(spots, Math.max(-1, Math.min(1, floor)));
  const best = background.map((v) => scorer.bestCosine(v)).sort((a, b) => a - b);
  const at = (1 - pass) * (best.length - 1);
  const below = Math.floor(at);
  const above = Math.min(best.length - 1, below + 1);
  const cosine = best[below] + (best[above] - best[below]) * (at - below);
  return Math.max(floor, cosine);
}

/** How a device's profile sets its region gate (privacy.minSpotCosine, privacy.backgroundPass). */
export interface RegionGateSettings {
  minSpotCosine?: number;
  backgroundPass: number;
}

/**
 * The region gate a device runs for a region pack: the profile's fixed cosine, else one set from the model's
 * background views for this pack, else the model's spotCosine, else the match threshold (regionGateCosine).
 */
export async function regionGateFor(
  spots: readonly RegionSpot[],
  manifest: Pick<LoadedManifest, 'manifestPath' | 'sha256' | 'output'>,
  settings: RegionGateSettings,
  threshold: number,
): Promise<RegionGate> {
  const background = settings.minSpotCosine === undefined ? await loadBackground(manifest) : undefined;
  const fromBackground = background && backgroundGateCosine(spots, background, settings.backgroundPass, threshold);
  return new RegionGate(spots, regionGateCosine(manifest, settings.minSpotCosine, threshold, fromBackground));
}
