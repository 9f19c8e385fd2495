import type { WireLimits } from './messages.js';

/**
 * Deployment limits for inbound messages, from the model's dimension. A region pack is the largest message: at
 * ~(dimension + 80) bytes a spot, 8 MiB leaves room for 20 000 spots of a 384-d model.
 */
export function wireLimitsFor(dimension: number, overrides: Partial<WireLimits> = {}): WireLimits {
  return {
    dimension,
    maxBytes: 8 * 1024 * 1024,
    maxCandidates: 256,
    maxSpots: 20_000,
    ...overrides,
  };
}
