/**
 * A synthetic but realistic gallery for privacy and resolver tests (not a test file itself; tap lists it
 * as "no tests found"). Reference features are clustered like real places (shop fronts of one street
 * look alike), popularity is skewed, and photo features stray from their reference with ANISOTROPIC noise,
 * so the isotropic decoy model of decoys.ts is an approximation here, as it will be for a real extractor.
 */
import type { Candidate, RegionSpot } from '../../daemon/transport/messages.js';
import { dot, normalize } from '../../daemon/util/vector.js';
import { seededRandom, type Random } from '../../daemon/util/random.js';

export interface SyntheticGalleryOptions {
  seed?: number;
  spots?: number;
  dimension?: number;
  clusters?: number;
  /** Spread of spots around their cluster centre; cos between two spots of a cluster ≈ 1/(1 + spread²). */
  spread?: number;
  /** Total norm of a photo's deviation from its reference; cos(photo, reference) ≈ 1/√(1 + σ²). */
  photoSigma?: number;
}

export interface SyntheticGallery {
  spots: RegionSpot[];
  dimension: number;
  /** A fresh photo feature of `spotId`. */
  photo(spotId: string, random: Random): Float32Array;
  /** A spot drawn with probability proportional to popularity (a real visit). */
  visit(random: Random): RegionSpot;
  /** The recognizer's plain answer: top `m` spots by cosine with `query`, as reply candidates. */
  topM(query: Float32Array, m: number): (Candidate & { score: number })[];
}

export function makeGallery(options: SyntheticGalleryOptions = {}): SyntheticGallery {
  const { seed = 1, spots: count = 200, dimension = 256, clusters = 20, spread = 0.7, photoSigma = 0.75 } = options;
  const random = seededRandom(seed);
  const gaussian = (scale: number): Float32Array => Float32Array.from({ length: dimension }, () => scale * random.normal());
  const centres = Array.from({ length: clusters }, () => normalize(gaussian(1)));

  const spots: RegionSpot[] = [];
  for (let i = 0; i < count; i++) {
    const centre = centres[i % clusters];
    const offset = normalize(gaussian(1));
    const feature = normalize(centre.map((c, j) => c + spread * offset[j]));
    // Log-normal popularity: a few busy landmarks, a long tail of quiet spots.
    spots.push({ id: `spot-${i}`, feature, x: random.next() * 1000, y: random.next() * 1000, popularity: Math.exp(random.normal()) });
  }
  const byId = new Map(spots.map((s) => [s.id, s]));

  // Per-dimension noise scales with mean square 1: some directions vary more between views than others.
  const scales = Float32Array.from({ length: dimension }, () => Math.exp(0.5 * random.normal()));
  const meanSquare = scales.reduce((s, v) => s + v * v, 0) / dimension;
  for (let i = 0; i < dimension; i++) scales[i] /= Math.sqrt(meanSquare);

  const totalPopularity = spots.reduce((s, spot) => s + spot.popularity, 0);

  return {
    spots,
    dimension,
    photo(spotId, r) {
      const reference = byId.get(spotId)!.feature;
      const perDimension = photoSigma / Math.sqrt(dimension);
      return normalize(reference.map((v, i) => v + perDimension * scales[i] * r.normal()));
    },
    visit(r) {
      let target = r.next() * totalPopularity;
      for (const spot of spots) {
        target -= spot.popularity;
        if (target < 0) return spot;
      }
      return spots[spots.length - 1];
    },
    topM(query, m) {
      return spots
        .map((s) => ({ id: s.id, score: dot(query, s.feature), feature: s.feature, info: { name: `Spot ${s.id}` } }))
        .sort((a, b) => b.score - a.score)
        .slice(0, m);
    },
  };
}
