import { UserError } from '../util/errors.js';
import { normalize } from '../util/vector.js';
import type { DecoySynthesizer } from './decoys.js';
import type { Random } from '../util/random.js';
import type { DecoySpotPicker, Transform, TransformedQuery } from './types.js';

export interface NoiseTransformOptions {
  /** Norm of the Gaussian noise added to the unit feature (1: as strong as the feature itself). */
  noise: number;
  /** Candidates asked for; the real spot must come back among them for the resolver to find it. */
  topM: number;
  synthesizer: DecoySynthesizer;
  random: Random;
  /** Where dummies pretend to be; default the synthesizer's popularity draw. */
  spotPicker?: DecoySpotPicker;
}

/**
 * The local-noise alternative (DESIGN §4): the query is the unit feature plus isotropic Gaussian noise of norm
 * `noise`, re-normalised — the Gaussian mechanism of local differential privacy on the feature. The server still
 * sees one spot, blurred; how blurred is the whole privacy, and the same noise that hides the spot from the server
 * pushes it out of the reply. Kept to be measured against k-mix by the same harness (`enfpire eval --transform
 * noise`); a dummy is a decoy photo of a spot the picker chooses, noised the same way.
 */
export class NoiseTransform implements Transform {
  readonly name = 'noise';
  readonly topM: number;
  private readonly noise: number;
  private readonly synthesizer: DecoySynthesizer;
  private readonly random: Random;
  private readonly spotPicker: DecoySpotPicker;

  constructor(options: NoiseTransformOptions) {
    if (!(Number.isFinite(options.noise) && options.noise >= 0)) {
      throw new UserError(`privacy noise must be a number >= 0 (got ${options.noise}); set privacy.transform.noise in the device profile`);
    }
    if (!Number.isInteger(options.topM) || options.topM < 1) throw new RangeError(`topM must be an integer >= 1, got ${options.topM}`);
    this.noise = options.noise;
    this.topM = options.topM;
    this.synthesizer = options.synthesizer;
    this.random = options.random;
    this.spotPicker = options.spotPicker ?? options.synthesizer;
  }

  transform(feature: Float32Array): TransformedQuery {
    if (feature.length !== this.synthesizer.dimension) {
      throw new RangeError(`feature has dimension ${feature.length}, the region pack ${this.synthesizer.dimension}`);
    }
    return { vector: this.blur(normalize(feature)), topM: this.topM, decoySpots: [] };
  }

  dummy(): TransformedQuery {
    const [spot] = this.spotPicker.pickDecoySpots(1, new Set());
    return { vector: this.blur(this.synthesizer.decoyFor(spot)), topM: this.topM, decoySpots: [spot] };
  }

  private blur(unit: Float32Array): Float32Array {
    const perDimension = this.noise / Math.sqrt(unit.length);
    return normalize(Float32Array.from(unit, (v) => v + perDimension * this.random.normal()));
  }
}
