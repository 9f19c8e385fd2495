import type { Logger } from '../util/log.js';
import type { Candidate, ServiceInfo } from '../transport/messages.js';
import { dot, norm } from '../util/vector.js';
import { schemaDefault } from '../config/load.js';

/**
 * Default (resolver.cacheThreshold, read from the schema) for answering from the local cache without asking the server: a cached spot is only a subset
 * of the server's gallery, so a look-alike the cache lacks could be the true answer; only a near-certain
 * match skips the query.
 */
export const DEFAULT_CACHE_THRESHOLD = schemaDefault('edge', 'resolver.cacheThreshold') as number;

export interface ResolverOptions {
  /**
   * Cosine below which the answer is "unknown" (spotId null). No default here: it belongs to the model (a genuine
   * view lands near 1/√(1 + sigma²) of its reference, an unrelated scene at the gallery's background similarity,
   * both per extractor), so the caller passes extractor/manifest.ts matchThreshold().
   */
  threshold: number;
  /** Cosine at or above which `resolveFromCache` answers locally. */
  cacheThreshold?: number;
  /** Smoothing for continuous recognition: vote over the last `size` results no older than `maxAgeMs`. */
  window?: { size: number; maxAgeMs: number };
  logger?: Logger;
}

export interface Resolution {
  /** The recognised spot, or null for "unknown". */
  spotId: string | null;
  /** Cosine of the original feature with the chosen spot's reference (best cosine when unknown). */
  score: number;
  /** Best minus second-best cosine over distinct spots (a missing second counts as 0). */
  margin: number;
  info?: ServiceInfo;
  /** True when the window overruled this frame's own answer. */
  smoothed: boolean;
  /** When smoothed: the frame's own answer that the window overruled (spotId null: "unknown"). */
  overruled?: { spotId: string | null; score: number; margin: number };
}

/** Anything with a reference feature and service info: reply candidates, gallery SpotRecords. */
export interface RankableSpot {
  id: string;
  feature: Float32Array;
  info: ServiceInfo;
}

/** A locally cached spot that answers the feature. */
export interface CacheHit {
  id: string;
  score: number;
  margin: number;
  info: ServiceInfo;
}

/** One frame's answer before smoothing. */
type Answer = Omit<Resolution, 'smoothed' | 'overruled'>;

interface WindowEntry extends Answer {
  at: number;
}

/**
 * Picks the answer on the device (DESIGN §1 step 4): the server's scores were computed against the
 * transformed query, so they are ignored and every candidate is re-scored against the original feature.
 */
export class Resolver {
  readonly threshold: number;
  readonly cacheThreshold: number;
  private readonly window?: { size: number; maxAgeMs: number };
  private readonly logger?: Logger;
  private entries: WindowEntry[] = [];

  constructor(options: ResolverOptions) {
    this.threshold = checkCosine('threshold', options.threshold);
    this.cacheThreshold = checkCosine('cacheThreshold', options.cacheThreshold ?? DEFAULT_CACHE_THRESHOLD);
    const window = options.window;
    if (window) {
      if (!Number.isInteger(window.size) || window.size < 1) {
        throw new RangeError(`resolver window.size must be an integer >= 1, got ${window.size}`);
      }
      if (!(window.maxAgeMs > 0)) throw new RangeError(`resolver window.maxAgeMs must be > 0, got ${window.maxAgeMs}`);
      this.window = { ...window };
    }
    this.logger = options.logger;
  }

  /** Answer for one real query from the server's candidates. */
  resolve(feature: Float32Array, candidates: readonly Candidate[], now = Date.now()): Resolution {
    const ranked = rank(feature, candidates, this.logger);
    return this.smooth(accept(ranked, this.threshold), now);
  }

  /**
   * The cached spot that answers `feature` without asking the server (continuous recognition sees the
   * same spot for many frames), or null. A pure look-up: it does not touch the smoothing window.
   */
  cacheHit(feature: Float32Array, spots: readonly RankableSpot[], threshold = this.cacheThreshold): CacheHit | null {
    return cacheHit(feature, spots, threshold, this.logger);
  }

  /** Like `cacheHit`, but a hit goes through the smoothing window like a server answer does. */
  resolveFromCache(feature: Float32Array, spots: readonly RankableSpot[], now = Date.now()): Resolution | null {
    const hit = this.cacheHit(feature, spots);
    return hit ? this.smooth({ spotId: hit.id, score: hit.score, margin: hit.margin, info: hit.info }, now) : null;
  }

  /**
   * The answer for a frame the device did not ask about because it matched no spot of the region closely enough (the
   * region gate): "unknown", voted through the window like any other answer. One such frame while the same scene
   * stays in view does not end the answer the last frames gave; several do (decision 37).
   */
  resolveUnmatched(now = Date.now()): Resolution {
    return this.smooth({ spotId: null, score: 0, margin: 0 }, now);
  }

  /** Forget the window, e.g. after the camera restarts or the device moves to another region. */
  reset(): void {
    this.entries = [];
  }

  /**
   * Score-weighted vote over the recent window, so a single odd frame does not flip the answer. An
   * "unknown" frame votes with the weight of a just-accepted match (the threshold): looking away for a
   * few frames does end the old answer, one blurred frame does not.
   */
  private smooth(frame: Answer, now: number): Resolution {
    if (!this.window) return { ...frame, smoothed: false };
    const oldest = now - this.window.maxAgeMs;
    this.entries.push({ ...frame, at: now });
    this.entries = this.entries.filter((e) => e.at >= oldest && e.at <= now).slice(-this.window.size);

    const votes = new Map<string | null, number>();
    for (const e of this.entries) {
      const weight = e.spotId === null ? Math.max(this.threshold, 0) : Math.max(e.score, 0);
      votes.set(e.spotId, (votes.get(e.spotId) ?? 0) + weight);
    }
    // Ties go to the current frame: the newest evidence.
    let winner = frame.spotId;
    let winnerVotes = votes.get(winner) ?? 0;
    for (const [spotId, weight] of votes) {
      if (weight > winnerVotes) {
        winner = spotId;
        winnerVotes = weight;
      }
    }
    if (winner === frame.spotId) return { ...frame, smoothed: false };
    // Report the winner as it was last seen, so score and info belong to the spot named.
    let latest = this.entries[this.entries.length - 1];
    for (const e of this.entries) if (e.spotId === winner) latest = e;
    return {
      spotId: latest.spotId,
      score: latest.score,
      margin: latest.margin,
      info: latest.info,
      smoothed: true,
      overruled: { spotId: frame.spotId, score: frame.score, margin: frame.margin },
    };
  }
}

/**
 * The best locally cached spot for `feature` if its cosine is at least `threshold`, else null. Pure, so
 * callers outside the resolver (the daemon's gate, the eval harness) can use it too.
 */
export function cacheHit(
  feature: Float32Array,
  spots: readonly RankableSpot[],
  threshold: number,
  logger?: Logger,
): CacheHit | null {
  const { best, score, margin } = rank(feature, spots, logger);
  return best && score >= threshold ? { id: best.id, score, margin, info: best.info } : null;
}

/** Best spot by cosine with `feature`, and its margin over the best different spot. */
function rank(
  feature: Float32Array,
  spots: readonly RankableSpot[],
  logger?: Logger,
): { best: RankableSpot | null; score: number; margin: number } {
  let best: RankableSpot | null = null;
  let bestScore = -Infinity;
  let secondScore = -Infinity;
  let skipped = 0;
  const featureNorm = norm(feature);
  for (const spot of spots) {
    // Checked here rather than trusted: cosine() maps a NaN vector to 0, which would look like a real score.
    const spotNorm = spot.feature.length === feature.length ? norm(spot.feature) : NaN;
    const score = dot(feature, spot.feature) / (featureNorm * spotNorm);
    if (!Number.isFinite(score)) {
      skipped++;
      continue;
    }
    if (score > bestScore) {
      // A repeated id (a confused server) must not become its own runner-up.
      if (best && best.id !== spot.id) secondScore = bestScore;
      best = spot;
      bestScore = score;
    } else if (best && spot.id !== best.id && score > secondScore) {
      secondScore = score;
    }
  }
  if (skipped > 0) {
    logger?.warn({ skipped, dimension: feature.length }, 'resolver skipped candidates with a wrong dimension or non-finite feature');
  }
  if (!best) return { best: null, score: 0, margin: 0 };
  return { best, score: bestScore, margin: bestScore - (Number.isFinite(secondScore) ? secondScore : 0) };
}

/** This frame's own answer: the best candidate if it clears the threshold, else unknown. */
function accept(ranking: ReturnType<typeof rank>, threshold: number): Answer {
  const { best, score, margin } = ranking;
  return best && score >= threshold ? { spotId: best.id, score, margin, info: best.info } : { spotId: null, score, margin };
}

function checkCosine(name: string, value: number): number {
  if (!(Number.isFinite(value) && value >= -1 && value <= 1)) {
    throw new RangeError(`resolver ${name} must be a cosine between -1 and 1, got ${value}`);
  }
  return value;
}
