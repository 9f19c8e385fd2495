/**
 * The device pipeline's counters (edge/edge-daemon.ts keeps them), read by the local API's /status and /metrics
 * (api/status-registry.ts) and by the tools: here, below both api/ and edge/, so that the API need not import the edge.
 */
export interface EdgeCounters {
  frames: number;
  /** Frames the scene gate skipped as unchanged. */
  gated: number;
  extracted: number;
  realQueries: number;
  dummyQueries: number;
  results: number;
  cacheHits: number;
  unknown: number;
  errors: number;
  superseded: number;
  /** Frames that matched no region spot closely enough: answered "unknown", never sent. */
  offGallery: number;
  /** Frames of a spot not yet on the wire (privacy.transform.arrival 'deferred'): named from the region pack, never sent. */
  heldBack: number;
  /** Queries that failed on the wire (timeout, error reply, broker away); the daemon keeps running. */
  failedQueries: number;
  /** Real frames sent again, freshly transformed, in a later regular slot after their request failed or went unanswered for hedgeAfterMs. */
  retried: number;
  /** Real frames whose every attempt failed: no result, counted here and in `errors`, never silently dropped. */
  failedFrames: number;
}
