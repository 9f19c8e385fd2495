import { UserError } from '../util/errors.js';
import { DecoySynthesizer, type ViewVariation } from './decoys.js';
import { KMixTransform } from './kmix.js';
import { cryptoRandom, type Random } from './random.js';
import type { DecoyPool, DecoySpotPicker, Transform } from './types.js';

export interface KMixConfig {
  kind: 'kmix';
  k: number;
  candidatesPerComponent?: number;
}

/**
 * The `privacy.transform` section of a device profile. Extension point: a new transform (Gaussian/local-DP
 * noise, coarse buckets) adds its config type to this union and one case to `createTransform`; the daemon
 * and the eval harness only ever see `Transform`.
 */
export type TransformConfig = KMixConfig;

export interface TransformDeps {
  /** The fetched region pack. */
  pool: DecoyPool;
  /** The extractor's view-variation model, shipped with the model. */
  variation: ViewVariation;
  /** Default `cryptoRandom()`; pass `seededRandom(seed)` only for evaluation and tests. */
  random?: Random;
  /** Default popularity-weighted choice; phantom walkers plug in here. */
  spotPicker?: DecoySpotPicker;
}

export function createTransform(config: TransformConfig, deps: TransformDeps): Transform {
  const random = deps.random ?? cryptoRandom();
  const kind = config.kind;
  switch (kind) {
    case 'kmix': {
      const synthesizer = new DecoySynthesizer({ spots: deps.pool.spots, variation: deps.variation, random });
      return new KMixTransform({
        k: config.k,
        candidatesPerComponent: config.candidatesPerComponent,
        synthesizer,
        random,
        spotPicker: deps.spotPicker,
      });
    }
    default: {
      // `never` here makes the compiler flag a config kind added to the union but not handled above.
      const unhandled: never = kind;
      throw new UserError(`unknown privacy transform kind "${String(unhandled)}"; set privacy.transform.kind to "kmix"`);
    }
  }
}
