/**
 * The spots the whole product talks about, independent of where they travel (transport/, which carries them
 * quantised) or are kept (gallery/, recognizer/): a spot's service information, its place and popularity in a
 * region, its view model, a region's pack of spots, and the candidates a query finds.
 */

/** Service information about a spot, returned for every candidate so the device never asks again. */
export interface ServiceInfo {
  name: string;
  description?: string;
  url?: string;
  [key: string]: unknown;
}

/**
 * A spot the recognizer found for a query, as the reply names it: by id alone, best first. No score: the device's
 * resolver ranks every candidate against the frame itself (edge/resolver.ts), never by the server's number.
 */
export interface CandidateRef {
  id: string;
}

/**
 * A candidate with what the device judges it by: its reference feature and service information, which the device
 * takes from its region pack (edge/candidate-book.ts), never from the reply.
 */
export interface Candidate extends CandidateRef {
  feature: Float32Array;
  info: ServiceInfo;
}

export interface RegionSpot {
  id: string;
  feature: Float32Array;
  /** Planar coordinates in metres inside the region (assigned at enrolment when none are given). */
  x: number;
  y: number;
  /** Relative popularity, > 0. */
  popularity: number;
  /** How camera views of this spot deviate from `feature` (learned at enrolment); absent in older galleries. */
  view?: SpotViewModel;
  /** What the device shows when this spot is the answer; every pack from a recognizer carries it. */
  info?: ServiceInfo;
}

/** Most principal directions a spot view model may carry (wire and store bound). */
export const MAX_VIEW_DIRECTIONS = 8;
/** Largest accepted norm of a view model's mean deviation, direction scale or residual (features are unit length). */
export const MAX_VIEW_DEVIATION = 4;

/**
 * A spot's view-variation model: camera views of the spot, as features, are about
 * reference + mean + Σ_j scales[j]·z_j·directions[j] + residual·(isotropic unit-norm noise), z_j ~ N(0, 1).
 */
export interface SpotViewModel {
  /** Mean deviation (view − reference) over the enrolment views. */
  mean: Float32Array;
  /** Up to MAX_VIEW_DIRECTIONS unit principal directions of the centred deviations. */
  directions: Float32Array[];
  /** Standard deviation of the deviations along each direction (same length as `directions`). */
  scales: number[];
  /** Total norm (≈ √E|n|²) of the deviation left outside the directions, modelled as isotropic. */
  residual: number;
}

/**
 * A region's spots as the recognizer hands them out and the device keeps them (gallery/): the `region-pack` wire
 * message (transport/messages.ts names it RegionPackMessage).
 */
export interface RegionPack {
  type: 'region-pack';
  model: string;
  region: string;
  galleryVersion: string;
  spots: RegionSpot[];
}
