/**
 * Off-gallery frames (DESIGN §4: "a frame that matches no spot closely enough never becomes a real query"). Most of
 * what glasses see is no spot; if such a frame leaks out as a real query, its real component is no view of any
 * gallery spot, and the query is left with a residual no k views explain. The server knows the exact distribution
 * of a dummy's residual — it simulates dummies itself (simulate.ts) and runs them through the same decomposition —
 * so it flags queries whose residual is larger than a dummy's: after removing the components' references, after
 * removing their expected views (reference + view mean), and outside the components' view subspaces, plus how
 * badly the best k-subset fits at all. The score is the sum of the positive standardised excesses over the
 * simulated dummies (a one-sided novelty score; no ground truth is used).
 */
import type { Random } from '../../util/random.js';
import type { RegionSpot } from '../../transport/messages.js';
import type { ServerRecord } from '../wiretap.js';
import { decompose, type DecomposeOptions, type Decomposition } from './decompose.js';
import { meanAndSd } from './linalg.js';
import { KMixSimulator } from './simulate.js';
import type { SpotModels } from './spot-models.js';
import { fitViews } from './view-fit.js';

export const OFF_GALLERY_FEATURES = ['ref_norm', 'mean_norm', 'outside_norm', 'misfit'] as const;

export interface OffGalleryOptions {
  k: number;
  sigma: number;
  topM: number;
  random: Random;
  /** Simulated dummies the reference distribution is fitted on. Default 300. */
  simulations?: number;
  decompose?: DecomposeOptions;
}

/** The residual's size and shape, one entry per `OFF_GALLERY_FEATURES` (larger: less like k gallery views). */
export function residualShape(record: ServerRecord, decomposition: Decomposition, models: SpotModels): number[] {
  const fit = fitViews(record.vector, decomposition.components, models);
  return [fit.refNorm, fit.meanNorm, fit.outsideNorm, 1 - decomposition.cosine];
}

export class OffGalleryTest {
  /** Mean and deviation of each feature over the simulated dummies. */
  readonly reference: { mean: number; sd: number }[];

  constructor(
    private readonly models: SpotModels,
    gallery: RegionSpot[],
    options: OffGalleryOptions,
  ) {
    const simulator = new KMixSimulator(gallery, options);
    const rows = Array.from({ length: options.simulations ?? 300 }, () => {
      const { record } = simulator.dummy();
      return residualShape(record, decompose(record.vector, record.candidates, models, options.k, options.decompose), models);
    });
    this.reference = OFF_GALLERY_FEATURES.map((_, j) => meanAndSd(rows.map((r) => r[j])));
  }

  score(record: ServerRecord, decomposition: Decomposition): number {
    const shape = residualShape(record, decomposition, this.models);
    return shape.reduce((s, x, j) => s + Math.max(0, (x - this.reference[j].mean) / (this.reference[j].sd || 1)), 0);
  }
}
