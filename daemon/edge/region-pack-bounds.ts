/**
 * Defence in depth for the region pack that decoys are drawn from. The operator's signature proves who sent a pack,
 * not that its view models are honest: a compromised recognizer holding the key could stretch a spot's view model so
 * its decoys stand apart from real views. A view model larger than the model manifest allows (viewVariation.bounds,
 * a few times the spread real camera views have) is dropped, so that spot's decoys and stand-ins fall back to the
 * isotropic spread of viewVariation.sigma — the device never draws from it.
 */
import type { ViewModelBounds } from '../extractor/types.js';
import type { RegionPackMessage, SpotViewModel } from '../transport/messages.js';
import { norm } from '../util/vector.js';

/** Why a view model exceeds the bounds, or undefined when it is within them. */
export function viewModelExcess(view: SpotViewModel, bounds: ViewModelBounds): string | undefined {
  const meanNorm = norm(view.mean);
  if (meanNorm > bounds.meanNorm) return `mean deviation ${meanNorm.toFixed(3)} > ${bounds.meanNorm}`;
  const scale = Math.max(0, ...view.scales);
  if (scale > bounds.scale) return `direction scale ${scale.toFixed(3)} > ${bounds.scale}`;
  if (view.residual > bounds.residual) return `residual ${view.residual.toFixed(3)} > ${bounds.residual}`;
  return undefined;
}

export interface BoundedPack {
  pack: RegionPackMessage;
  /** Spot ids whose view model was dropped, each with the reason. */
  dropped: { id: string; reason: string }[];
}

/** The pack with every out-of-bounds view model removed (the pack itself is not modified). */
export function boundRegionPack(pack: RegionPackMessage, bounds: ViewModelBounds | undefined): BoundedPack {
  if (!bounds) return { pack, dropped: [] };
  const dropped: BoundedPack['dropped'] = [];
  const spots = pack.spots.map((spot) => {
    const reason = spot.view && viewModelExcess(spot.view, bounds);
    if (!reason) return spot;
    dropped.push({ id: spot.id, reason });
    const { view: _dropped, ...rest } = spot;
    return rest;
  });
  return { pack: dropped.length > 0 ? { ...pack, spots } : pack, dropped };
}
