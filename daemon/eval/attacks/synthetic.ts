/**
 * A synthetic gallery with view models (no pictures, no extractor): random unit references, each spot with a view
 * mean, a few orthonormal principal view directions and an isotropic rest, sized so that a view sits at cosine ≈ 0.86
 * from its reference, as the benchmark's do. For the attacks' tests and for sizing an attack without a model.
 */
import type { Random } from '../../util/random.js';
import type { RegionSpot } from '../../transport/messages.js';
import { normalize } from '../../util/vector.js';
import { addScaled, dot64 } from './linalg.js';

export interface SyntheticGalleryOptions {
  spots: number;
  dimension: number;
  /** Principal view directions per spot. Default 5. */
  directions?: number;
  /** Side of the square the spots lie on, metres. Default 600. */
  sideM?: number;
  /**
   * Expected cosine between two references, from a direction all of them share (CNN features of photos are far from
   * orthogonal: the benchmark's references are at ≈ 0.5 to each other). Default 0: independent random references.
   */
  similarity?: number;
  random: Random;
}

export function syntheticGallery(options: SyntheticGalleryOptions): RegionSpot[] {
  const { dimension: d, random } = options;
  const directions = options.directions ?? 5;
  const side = options.sideM ?? 600;
  const similarity = options.similarity ?? 0;
  const shared = normalize(Float32Array.from(gaussian(d, random)));
  return Array.from({ length: options.spots }, (_, i) => {
    const own = normalize(Float32Array.from(gaussian(d, random)));
    const feature = normalize(Float32Array.from(own, (x, j) => Math.sqrt(1 - similarity) * x + Math.sqrt(similarity) * shared[j]));
    const basis: Float64Array[] = [];
    while (basis.length < directions) {
      const v = gaussian(d, random);
      for (const b of [feature, ...basis]) addScaled(v, b, -dot64(v, b));
      const n = Math.sqrt(dot64(v, v));
      if (n > 1e-6) basis.push(v.map((x) => x / n));
    }
    return {
      id: `s${i}`,
      feature,
      x: random.next() * side,
      y: random.next() * side,
      popularity: 0.2 + random.next(),
      view: {
        mean: Float32Array.from(gaussian(d, random), (x) => (0.12 * x) / Math.sqrt(d)),
        directions: basis.map((b) => Float32Array.from(b)),
        scales: basis.map((_, j) => 0.4 / Math.sqrt(j + 1.5)),
        residual: 0.25,
      },
    };
  });
}

/** A later frame of the same scene: `view` moved by isotropic noise to cosine ≈ `cosine` with it. */
export function nextFrame(view: Float32Array, random: Random, cosine = 0.99): Float32Array {
  const size = Math.tan(Math.acos(cosine)) / Math.sqrt(view.length);
  return normalize(Float32Array.from(view, (x) => x + size * random.normal()));
}

function gaussian(d: number, random: Random): Float64Array {
  return Float64Array.from({ length: d }, () => random.normal());
}
