import { MAX_VIEW_DIRECTIONS } from '../domain/spot.js';
import type { WireLimits } from './messages.js';

/** Most spots a region pack may hold (WireLimits.maxSpots). */
const MAX_REGION_SPOTS = 20_000;

/**
 * Bytes one spot may take in a region pack: its reference and a full view model (the mean and MAX_VIEW_DIRECTIONS
 * directions), each an int8 vector with its scale and CBOR framing, the directions' scales, and 1 kB for its id,
 * position, popularity and service information. Measured: 2,126 bytes a spot for the 256-d default model with
 * enrolment's view models and sample service information (a 10,555-spot pack, 22.4 MB).
 */
export function regionPackSpotBytes(dimension: number): number {
  const vector = dimension + 16;
  return (2 + MAX_VIEW_DIRECTIONS) * vector + MAX_VIEW_DIRECTIONS * 9 + 1024;
}

/**
 * Deployment limits for inbound messages, from the model's dimension. A region pack is the largest message, so
 * maxBytes is what a pack of maxSpots spots may take (76 MB for the 256-d default model, 111 MB for a 432-d one).
 * Until 2026-12-07 it was a flat 8 MiB, sized before packs carried view models: about 3,900 spots of the default
 * model, so a region of 10,555 spots could not be served (the recognizer answered "too-large").
 */
export function wireLimitsFor(dimension: number, overrides: Partial<WireLimits> = {}): WireLimits {
  const maxSpots = overrides.maxSpots ?? MAX_REGION_SPOTS;
  return {
    dimension,
    maxBytes: Math.max(8 * 1024 * 1024, 1024 + maxSpots * regionPackSpotBytes(dimension)),
    maxCandidates: 256,
    maxSpots,
    ...overrides,
  };
}
