/**
 * Galleries for the load generator (docs/scaling.md, "Galleries"): N spots whose features are windows of real
 * photographs (photo-features.ts) and, past the real windows there are, synthetic spots made from them. A synthetic
 * spot lies between two real windows of one photograph, off the line by a view's worth of noise:
 *
 *   normalize((1 − t)·a + t·b + n),   a, b windows of one photo, t ~ U(0, 0.5), |n| ≈ SYNTHETIC_SIGMA,
 *
 * so it is as close to real spots as real spots are to each other (a realistic confuser), never a copy of one. Spots
 * are cut into regions of `regionSize` in order (a photo's windows stay together, the way one street's shop fronts
 * do), laid on a grid inside each region, with a popularity drawn from a long-tailed law.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { seededRandom, type Random } from '../util/random.js';
import { SpotStore, type StoredSpot } from '../recognizer/spot-store.js';
import { normalize } from '../util/vector.js';
import type { PhotoFeatures } from './photo-features.js';

/** Norm of the noise that takes a synthetic spot off the line between its two real windows. */
export const SYNTHETIC_SIGMA = 0.2;
export const DEFAULT_REGION_SIZE = 1000;
const SPACING_M = 80;
const CACHE_VERSION = 1;

export interface LoadGalleryOptions {
  spots: number;
  features: PhotoFeatures;
  model: string;
  seed?: number;
  regionSize?: number;
  /** Gallery edition: 1 for the first, 2 for the rolled-out update (every spot's service information says which). */
  edition?: number;
}

/** Spot i's id: fixed width so the gallery's id order is index order. */
export function spotId(i: number): string {
  return `s${String(i).padStart(7, '0')}`;
}

/** The unit feature of every spot, real windows first, then synthetic ones (see the module comment). */
export function galleryFeatures(features: PhotoFeatures, count: number, seed = 1): Float32Array[] {
  const d = features.dimension;
  const real = (i: number) => features.references.subarray(i * d, (i + 1) * d);
  const out: Float32Array[] = [];
  for (let i = 0; i < Math.min(count, features.count); i++) out.push(normalize(real(i)));
  if (out.length === count) return out;
  // Windows by photo, to draw both parents of a synthetic spot from one photo.
  const byPhoto = new Map<number, number[]>();
  for (let i = 0; i < features.count; i++) {
    const list = byPhoto.get(features.photoOf[i]) ?? [];
    list.push(i);
    byPhoto.set(features.photoOf[i], list);
  }
  const random = seededRandom(seed * 7919 + 17);
  const perDimension = SYNTHETIC_SIGMA / Math.sqrt(d);
  const v = new Float32Array(d);
  while (out.length < count) {
    const a = random.int(features.count);
    const siblings = byPhoto.get(features.photoOf[a])!;
    const b = siblings[random.int(siblings.length)];
    const t = 0.5 * random.next();
    const fa = real(a);
    const fb = real(b);
    for (let j = 0; j < d; j++) v[j] = (1 - t) * fa[j] + t * fb[j] + perDimension * random.normal();
    out.push(normalize(v));
  }
  return out;
}

/** Regions of `regionSize` consecutive spots: r0000, r0001, … */
export function regionOf(i: number, regionSize = DEFAULT_REGION_SIZE): string {
  return `r${String(Math.floor(i / regionSize)).padStart(4, '0')}`;
}

/** The stored spots of a load gallery. */
export function gallerySpots(options: LoadGalleryOptions): StoredSpot[] {
  const regionSize = options.regionSize ?? DEFAULT_REGION_SIZE;
  const edition = options.edition ?? 1;
  const feats = galleryFeatures(options.features, options.spots, options.seed);
  if (edition > 1) reEnrol(feats, edition);
  const random = seededRandom((options.seed ?? 1) * 104729 + 3);
  const width = Math.ceil(Math.sqrt(regionSize));
  return feats.map((feature, i) => {
    const within = i % regionSize;
    return {
      id: spotId(i),
      feature,
      info: {
        name: `Spot ${i}`,
        description: `Load-test spot ${i}: ${i < options.features.count ? 'a window of a real photograph' : 'synthetic, between two windows of one photograph'}.`,
        url: `https://spots.example/${spotId(i)}`,
        edition,
      },
      region: regionOf(i, regionSize),
      x: (within % width) * SPACING_M,
      y: Math.floor(within / width) * SPACING_M,
      popularity: popularity(random),
    };
  });
}

/**
 * A later edition of the gallery: every spot re-enrolled, its reference moved by EDITION_SHIFT in a random direction
 * (cosine ≈ 0.96 with the old one), so that a reply's scores tell which edition answered it.
 */
export const EDITION_SHIFT = 0.3;

function reEnrol(feats: Float32Array[], edition: number): void {
  const random = seededRandom(edition * 15485863);
  for (const f of feats) {
    const g = new Float32Array(f.length);
    for (let j = 0; j < f.length; j++) g[j] = random.normal();
    const unit = normalize(g);
    for (let j = 0; j < f.length; j++) f[j] += EDITION_SHIFT * unit[j];
    f.set(normalize(f));
  }
}

/** Long-tailed (Pareto, α = 1.5) popularity in [1, 100]. */
function popularity(random: Random): number {
  return Math.min(100, Math.pow(1 - random.next(), -1 / 1.5));
}

/**
 * The SQLite gallery file for these options, built once and kept in `cacheDir` (a 100,000-spot gallery takes a
 * minute to write and hash). Returns its path.
 */
export async function loadGalleryFile(options: LoadGalleryOptions & { cacheDir: string; featuresKey: string }): Promise<string> {
  const key = createHash('sha256')
    .update(JSON.stringify({ v: CACHE_VERSION, spots: options.spots, seed: options.seed ?? 1, regionSize: options.regionSize ?? DEFAULT_REGION_SIZE, edition: options.edition ?? 1, model: options.model, features: options.featuresKey }))
    .digest('hex')
    .slice(0, 16);
  const path = join(options.cacheDir, `gallery-${options.spots}-e${options.edition ?? 1}-${key}.db`);
  if (existsSync(path)) return path;
  await mkdir(options.cacheDir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await rm(tmp, { force: true });
  const store = SpotStore.create(tmp, { model: options.model, dimension: options.features.dimension });
  try {
    const spots = gallerySpots(options);
    for (let i = 0; i < spots.length; i += 10_000) store.putAll(spots.slice(i, i + 10_000));
    store.meta(); // computes and stores the gallery version
  } finally {
    store.close();
  }
  await rename(tmp, path);
  return path;
}
