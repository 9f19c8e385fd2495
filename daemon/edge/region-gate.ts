import { loadBackground } from '../extractor/background.js';
import { regionGateCosine, type LoadedManifest } from '../extractor/manifest.js';
import type { RegionSpot } from '../transport/messages.js';
import { RegionPackScan, type ScanHit } from '../privacy/region-pack-scan.js';

/**
 * Keeps frames of no spot off the wire (DESIGN §4, "frames come in sequences"). Most of what glasses see is no spot
 * at all — walls, streets, people — and such a frame sent as a real query has a residual unlike any decoy's (an
 * issue measured AUC 0.93) and drags the user's track to whichever spot is nearest. The device holds the region's
 * references, so it can tell on its own: a frame whose best cosine with any of them is under `minCosine` would be
 * answered "unknown" by the resolver anyway (it ranks the same references), so it never becomes a query and the
 * slot it would have taken carries a dummy like any other empty slot.
 */
export class RegionGate {
  /** Shared with the transform and the candidate book of the same pack (region-pack-scan.ts). */
  readonly scan: RegionPackScan;

  constructor(
    spots: readonly RegionSpot[] | RegionPackScan,
    readonly minCosine: number,
  ) {
    if (!(minCosine >= -1 && minCosine <= 1)) throw new RangeError(`the region gate's cosine must be in [-1, 1], got ${minCosine}`);
    this.scan = spots instanceof RegionPackScan ? spots : new RegionPackScan(spots);
  }

  /** Best cosine between the unit `feature` and any region reference (-1 for an empty region or another dimension). */
  bestCosine(feature: Float32Array): number {
    return floorCosine(this.scan.nearestUnit(feature));
  }

  /** True when the frame may show a spot of the region, i.e. may become a real query. */
  admits(feature: Float32Array): boolean {
    return floorCosine(this.scan.nearest(feature)) >= this.minCosine;
  }
}

/** The gate's best cosine has always started at -1: a rounding below it, or no finite cosine, reads as -1. */
function floorCosine(hit: ScanHit | null): number {
  return hit ? Math.max(-1, hit.cosine) : -1;
}

/**
 * The gate's cosine for a region from the model's background views: the least cosine that at most the share `pass`
 * of them reach with their best spot of the region (linear interpolation between order statistics), and never under
 * `floor` (the match threshold: a frame under it is answered "unknown" anyway). The best cosine of a picture of no
 * spot grows with the region, and a fixed cosine that kept 92 % of frames of no spot off the wire among 25 spots let
 * 66 % through among 1,077 (docs/privacy.md); a share of views of no spot scales with the region instead.
 */
export function backgroundGateCosine(
  spots: readonly RegionSpot[] | RegionPackScan,
  background: readonly Float32Array[],
  pass: number,
  floor: number,
): number {
  if (!(pass > 0 && pass <= 1)) throw new RangeError(`the share of background views let through must be in (0, 1], got ${pass}`);
  const size = spots instanceof RegionPackScan ? spots.size : spots.length;
  if (background.length === 0 || size === 0) return floor;
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
  spots: readonly RegionSpot[] | RegionPackScan,
  manifest: Pick<LoadedManifest, 'manifestPath' | 'sha256' | 'output'>,
  settings: RegionGateSettings,
  threshold: number,
): Promise<RegionGate> {
  const background = settings.minSpotCosine === undefined ? await loadBackground(manifest) : undefined;
  const fromBackground = background && backgroundGateCosine(spots, background, settings.backgroundPass, threshold);
  return new RegionGate(spots, regionGateCosine(manifest, settings.minSpotCosine, threshold, fromBackground));
}
