/**
 * How soon the devices asked the server about what their wearers looked at: the cost side of holding a spot back
 * until it may go on the wire (privacy.transform.arrival 'deferred', decision 52). Read from the world's ground truth
 * (which frames belong to one visit) and from what left the devices, never from the devices' insides.
 */
import type { QueryTruth } from './fleet.js';
import type { ServerRecord } from './tap-ledger.js';
import type { WorldStream } from './world/index.js';
import { round } from './stats.js';

/** The figures of this module are reported to 3 decimals. */
const round3 = (x: number) => round(x, 3);

export interface AskingFigures {
  /**
   * Frames of a spot named on the device without a real query because their spot was not on the wire yet, over those
   * and the real queries of a spot (0 with 'immediate' arrival).
   */
  held_back: number;
  /** Visits to a gallery spot (a dwell, a browse, a passed spot, a kiosk presentation) that had at least one real query. */
  visits_asked: number;
  /** From a visit's first frame to its first real query arriving at the server, over the visits asked about (s). */
  first_ask_s: { median: number; p90: number };
}

/**
 * `labelOf(n)` is the label the fleet gave `stream.frames[n]`; `heldBack` the devices' summed counter of held frames;
 * `startedAt[device]` when the device's world started on the records' clock (FleetRun.startedAt; 0 where missing):
 * a frame's time counts from its own world's start, a record's from the run's.
 */
export function askingFigures(
  stream: WorldStream,
  labelOf: (n: number) => string,
  records: readonly ServerRecord[],
  truths: readonly QueryTruth[],
  heldBack: number,
  startedAt: readonly number[] = [],
): AskingFigures {
  const firstFrame = new Map<string, number>();
  const visitOf = new Map<string, string>();
  stream.frames.forEach((f, n) => {
    if (f.spot === null) return;
    const visit = `${f.device}/${f.visit}`;
    if (!firstFrame.has(visit)) firstFrame.set(visit, f.t + (startedAt[f.device] ?? 0));
    visitOf.set(labelOf(n), visit);
  });
  const firstAsk = new Map<string, number>();
  let realOfSpot = 0;
  truths.forEach((truth, i) => {
    if (truth.spot === null || truth.label === undefined) return;
    realOfSpot++;
    const visit = visitOf.get(truth.label);
    if (visit !== undefined && !firstAsk.has(visit)) firstAsk.set(visit, records[i].t);
  });
  const delays = [...firstAsk].map(([visit, t]) => Math.max(0, t - firstFrame.get(visit)!) / 1000).sort((a, b) => a - b);
  const at = (q: number) => (delays.length === 0 ? 0 : round3(delays[Math.min(delays.length - 1, Math.floor(q * delays.length))]));
  return {
    held_back: heldBack + realOfSpot === 0 ? 0 : round3(heldBack / (heldBack + realOfSpot)),
    visits_asked: firstFrame.size === 0 ? 0 : round3(firstAsk.size / firstFrame.size),
    first_ask_s: { median: at(0.5), p90: at(0.9) },
  };
}

