import { UserError } from '../util/errors.js';
import { dot, normalize } from '../util/vector.js';
import type { Random } from '../util/random.js';
import type { Transform, TransformedQuery } from './types.js';
import type { RegionSpot } from '../domain/spot.js';

export interface BucketTransformOptions {
  /** The region pack's spots: both sides compute the same buckets from it. */
  spots: readonly RegionSpot[];
  /** Smallest bucket: about this many spots come back for every query. */
  k: number;
  random: Random;
}

/** k-means rounds: the partition settles within a few on a region's few hundred spots. */
const ROUNDS = 20;

/**
 * The coarse-bucket alternative (DESIGN §4): the region's spots are grouped by a deterministic k-means of their
 * reference features into about n/k buckets; the query is the bucket's centroid and asks for the spots the server
 * ranks nearest to it, so the reply is (nearly) the bucket and the server learns only which bucket. Everyone
 * computes the same buckets from the region pack, so the server knows them too: the anonymity set is the bucket,
 * the same vector goes out for every query of a bucket, and a dummy is a bucket drawn in proportion to its size
 * (so dummies land where real queries do). Kept to be measured against k-mix (`enfpire eval --transform bucket`).
 */
export class BucketTransform implements Transform {
  readonly name = 'bucket';
  readonly topM: number;
  private readonly centroids: Float32Array[];
  /** Bucket of each spot, by spot id. */
  private readonly bucketOf = new Map<string, number>();
  private readonly sizes: number[];
  private readonly references: { id: string; unit: Float32Array }[];
  private readonly random: Random;

  constructor(options: BucketTransformOptions) {
    const { spots, k, random } = options;
    if (!Number.isInteger(k) || k < 1) throw new UserError(`privacy k must be an integer >= 1 (got ${k}); set privacy.transform.k in the device profile`);
    if (spots.length < k) {
      throw new UserError(`privacy k = ${k} needs at least ${k} spots in the region pack, which has ${spots.length}; lower privacy.transform.k or choose a larger region`);
    }
    this.random = random;
    this.references = [...spots].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((s) => ({ id: s.id, unit: normalize(s.feature) }));
    const count = Math.max(1, Math.floor(this.references.length / k));
    const assignment = kMeans(this.references.map((r) => r.unit), count);
    this.centroids = assignment.centroids;
    this.sizes = this.centroids.map(() => 0);
    this.references.forEach((r, i) => {
      this.bucketOf.set(r.id, assignment.labels[i]);
      this.sizes[assignment.labels[i]]++;
    });
    // Ask for the largest bucket's size, plus the spots that rank between a bucket's members and its centroid.
    this.topM = Math.min(this.references.length, Math.max(...this.sizes) + k);
  }

  /** The buckets, as spot ids: public knowledge (tests and the harness). */
  buckets(): string[][] {
    const out: string[][] = this.centroids.map(() => []);
    for (const [id, b] of this.bucketOf) out[b].push(id);
    return out;
  }

  transform(feature: Float32Array): TransformedQuery {
    const unit = normalize(feature);
    let best = 0;
    let bestScore = -Infinity;
    for (const r of this.references) {
      const score = dot(unit, r.unit);
      if (score > bestScore) {
        bestScore = score;
        best = this.bucketOf.get(r.id)!;
      }
    }
    return this.query(best);
  }

  dummy(): TransformedQuery {
    let target = this.random.int(this.references.length);
    let bucket = 0;
    while (target >= this.sizes[bucket]) target -= this.sizes[bucket++];
    return this.query(bucket);
  }

  private query(bucket: number): TransformedQuery {
    return { vector: Float32Array.from(this.centroids[bucket]), topM: this.topM, decoySpots: [] };
  }
}

/** Spherical k-means, initialised from evenly spaced points (deterministic): unit centroids and a label per point. */
function kMeans(points: readonly Float32Array[], count: number): { centroids: Float32Array[]; labels: number[] } {
  const step = points.length / count;
  let centroids: Float32Array[] = Array.from({ length: count }, (_, c) => Float32Array.from(points[Math.floor(c * step)]));
  let labels = new Array<number>(points.length).fill(0);
  for (let round = 0; round < ROUNDS; round++) {
    labels = points.map((p) => {
      let best = 0;
      let bestScore = -Infinity;
      centroids.forEach((c, j) => {
        const s = dot(p, c);
        if (s > bestScore) {
          bestScore = s;
          best = j;
        }
      });
      return best;
    });
    centroids = centroids.map((old, j) => {
      const sum = new Float32Array(old.length);
      let members = 0;
      points.forEach((p, i) => {
        if (labels[i] !== j) return;
        members++;
        for (let d = 0; d < sum.length; d++) sum[d] += p[d];
      });
      return members > 0 ? normalize(sum) : old; // an empty bucket keeps its place and may win points back
    });
  }
  return { centroids, labels };
}
