/**
 * Which pictures the evaluation shows to whom (docs/benchmark.md, "Gallery and queries"). The gallery must never be
 * enrolled from the very pixels a query is cut from, or the benchmark measures copy detection, not recognition:
 *
 * - a spot with one photo is enrolled from an "enrolment view": a mild, seeded re-rendering of the photo (small
 *   crop, tilt, exposure, JPEG) from its own seed stream, so the reference is one plausible picture of the spot;
 * - a spot with several photos is enrolled from its first photo, and its queries are cut from the others;
 * - queries are camera views from `distortPhoto` on a seed stream disjoint from the enrolment stream.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { distortPhoto, type DistortionOptions } from '../augment/distort.js';
import type { SpotPhotos } from '../util/spots-dir.js';

/**
 * The enrolment view: what a careful photographer standing at the spot takes for the gallery. Much milder than a
 * camera view, but never the identity (every parameter range excludes "unchanged").
 */
export const ENROLMENT_DISTORTION: Readonly<DistortionOptions> = Object.freeze<DistortionOptions>({
  cropArea: [0.88, 0.97],
  cropAspect: [0.97, 1.03],
  outputWidth: [900, 1024],
  rotationDeg: [-2, 2],
  shear: [-0.02, 0.02],
  exposure: [0.9, 1.1],
  whiteBalance: [0.97, 1.03],
  blurSigma: [0, 0.4],
  noiseSigma: [0.5, 1.5],
  jpegQuality: [88, 95],
});

/** How a spot's gallery reference is made. */
export type ReferenceSource =
  | { kind: 'enrolment-view'; file: string; seed: number }
  | { kind: 'separate-photo'; file: string };

export interface ReferencePlan {
  spot: string;
  source: ReferenceSource;
}

export interface QueryPlan {
  spot: string;
  /** 0-based number of the query among its spot's queries. */
  index: number;
  /** The photo the camera view is cut from (never the separate reference photo). */
  file: string;
  seed: number;
}

export interface EvalPlan {
  references: ReferencePlan[];
  queries: QueryPlan[];
}

/**
 * A seed from a named stream: sha256 of (stream, run seed, spot, index), 48 bits so it stays a safe integer. Two
 * streams can only collide by a hash collision, so enrolment and query seeds are disjoint in practice (and the
 * harness checks it for the run at hand).
 */
export function streamSeed(stream: 'enrol' | 'query' | 'privacy' | 'adversary', seed: number, spot: string, index: number): number {
  const h = createHash('sha256').update(`${stream}\0${seed}\0${spot}\0${index}`).digest();
  return h.readUIntBE(0, 6);
}

/** The reference and query pictures of a run, as descriptions (nothing is rendered yet). */
export function planEval(spots: readonly SpotPhotos[], options: { seed: number; queriesPerSpot: number }): EvalPlan {
  const { seed, queriesPerSpot } = options;
  const references: ReferencePlan[] = [];
  const queries: QueryPlan[] = [];
  for (const spot of spots) {
    const [first, ...others] = spot.files;
    const source: ReferenceSource =
      others.length > 0
        ? { kind: 'separate-photo', file: first }
        : { kind: 'enrolment-view', file: first, seed: streamSeed('enrol', seed, spot.id, 0) };
    references.push({ spot: spot.id, source });
    const queryFiles = others.length > 0 ? others : [first];
    for (let index = 0; index < queriesPerSpot; index++) {
      queries.push({
        spot: spot.id,
        index,
        file: queryFiles[index % queryFiles.length],
        seed: streamSeed('query', seed, spot.id, index),
      });
    }
  }
  const enrolSeeds = new Set(references.flatMap((r) => (r.source.kind === 'enrolment-view' ? [r.source.seed] : [])));
  const clash = queries.find((q) => enrolSeeds.has(q.seed));
  if (clash) throw new Error(`query seed ${clash.seed} of spot ${clash.spot} is also an enrolment seed; pick another --seed`);
  return { references, queries };
}

/** The encoded picture the gallery is enrolled from. */
export async function renderReference(plan: ReferencePlan): Promise<Buffer> {
  const photo = await readFile(plan.source.file);
  return plan.source.kind === 'separate-photo' ? photo : distortPhoto(photo, plan.source.seed, ENROLMENT_DISTORTION);
}

/** The camera view a query is extracted from (JPEG). */
export async function renderQuery(plan: Pick<QueryPlan, 'file' | 'seed'>): Promise<Buffer> {
  return distortPhoto(await readFile(plan.file), plan.seed);
}

/** The photos a spot's camera views are cut from: all but a separate reference photo. */
export function queryFiles(spot: SpotPhotos): string[] {
  const [first, ...others] = spot.files;
  return others.length > 0 ? others : [first];
}
