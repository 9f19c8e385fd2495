import type { ServiceInfo } from './spot.js';

/**
 * One recognition result of the device: the spot a frame showed (or none), as the edge emits it and the local API,
 * its event stream, the demo and the evaluation read it; the device's history keeps its core (gallery/, ResultRecord).
 * Never sent to the server.
 */
export interface EdgeResult {
  at: number;
  /** The frame's label (file name for replays). */
  label?: string;
  spotId: string | null;
  score: number;
  info?: ServiceInfo;
  /** Frame capture to result, ms. */
  latencyMs: number;
  /** Answered from the local gallery without a query. */
  fromCache: boolean;
  /**
   * The smoothing window's answer rather than this frame's own: the window overruled the frame, or held the answer
   * through a frame the region gate stopped. Absent where no window was asked.
   */
  smoothed?: boolean;
  /** When smoothed: the frame's own answer the window overruled (spotId null: "unknown"), for the local API's debugging and the evaluation. */
  overruled?: { spotId: string | null; score: number; margin: number };
}
