import type { RegionSpot } from '../domain/spot.js';

/** What a transform produces: the vector the server sees, plus what the device keeps to itself. */
export interface TransformedQuery {
  /** The vector sent on the wire. */
  vector: Float32Array;
  /** Candidates to ask for, so that every component's spot can come back. */
  topM: number;
  /** Spot ids used as decoys (device-side only, never sent). */
  decoySpots: string[];
  /** The frame a real query came from (device-side only, never sent): logs and the evaluation's ground truth. */
  label?: string;
  /** The spot a real query stands for, where the transform names one (device-side only, never sent). */
  realSpot?: string;
}

/**
 * Turns a real feature into a query the server cannot pin down to one spot (DESIGN §4). Implementations:
 * k-mix (default), and later noise and bucket transforms behind the same interface.
 */
export interface Transform {
  readonly name: string;
  /** Real query: `feature` is the device's own feature. */
  transform(feature: Float32Array): TransformedQuery;
  /** Dummy query built from decoys only (cover traffic); same shape and size as a real one. */
  dummy(): TransformedQuery;
  /**
   * The camera shows no spot of the region (the region gate turned a frame away): the wearer has left the spot of
   * the last real query. Transforms whose decoys follow the wearer let go now instead of guessing from silence.
   */
  wearerLeft?(): void;
  /**
   * `query` left the device at `at` (its slot fired; a query built and then superseded or never sent is not seen
   * here). Transforms whose decoys follow the wearer learn from what the server was shown, not from what was built.
   */
  sent?(query: TransformedQuery, at: number): void;
  /**
   * The device is about to speak under a new identity (identity rotation). What the decoys show must not carry over:
   * the same phantom spots in the same views before and after would link the two identities.
   */
  newIdentity?(): void;
  /**
   * Whether what the device sends shows the spot its wearer stands at, or may show it again at once (a real query
   * within the last few seconds). A new identity then would start with that spot, which names the old identity of
   * the new one (decision 47); identity rotation waits for this to be false.
   */
  showsWearer?(): boolean;
  /**
   * A frame with this feature is ready to go out as a real query: may it go now? False while the spot it shows is not
   * on the wire yet and the transform's decoys would have to jump to it (privacy.transform.arrival 'deferred'): the
   * device then names the frame from its region pack and sends nothing for it. Absent: always.
   */
  mayShow?(feature: Float32Array): boolean;
}

/** The region pack the device fetched: spots it may draw decoys from. */
export interface DecoyPool {
  spots: RegionSpot[];
}

/**
 * Chooses which spots a query's decoys show. The popularity-weighted picker of decoys.ts is the first
 * one; phantom walkers (DESIGN §4) implement the same interface so a transform does not care which.
 */
export interface DecoySpotPicker {
  /** `n` distinct spot ids, none of them in `exclude`. */
  pickDecoySpots(n: number, exclude: ReadonlySet<string>): string[];
  /** See Transform.wearerLeft. */
  wearerLeft?(): void;
  /** The spots a query that left at `at` showed, `realSpot` among them for a real query (Transform.sent). */
  shown?(spots: readonly string[], realSpot: string | undefined, at: number): void;
  /** See Transform.newIdentity. */
  newIdentity?(): void;
  /** See Transform.showsWearer. */
  showsWearer?(): boolean;
  /** See Transform.mayShow: whether a real query may show `spotId` (the frame's nearest spot) now. */
  mayShow?(spotId: string): boolean;
  /** Whether mayShow can ever answer false; when not, the transform skips the frame's nearest-spot lookup. */
  readonly defersArrival?: boolean;
}

/**
 * What the device has learned of its wearer's habits (wearer-crowd.ts): lengths only, in ms, oldest first — how long
 * visits and the walks between them lasted. No spot, no time of day, no order of places.
 */
export interface WearerHabits {
  visitsMs: number[];
  walksMs: number[];
}

/**
 * Where learned habits outlive a restart (the device gallery file, privacy.rememberWearer). Glasses are switched off
 * every night, and without this each day starts from the prior. Off by default: after one earlier day of ten minutes
 * it measured worse, within noise (docs/decisions.md #42).
 */
export interface HabitStore {
  /** The habits saved last, or undefined when there are none (or what was stored could not be read). */
  loadHabits(): WearerHabits | undefined;
  /** Replaces what is stored. Must not throw: a failed save costs only the memory of today's habits. */
  saveHabits(habits: WearerHabits): void;
}
