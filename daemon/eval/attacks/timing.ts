/**
 * Timing (DESIGN §4 "Time is on the wire too"). On wall-clock stamps (a real Mosquitto run) the server sees when
 * each message of a session arrives. A device whose real queries leave when the camera delivers, or a few
 * milliseconds after their slot because the real path does more work, shows it in the gaps and in the phase of a
 * message within the session's slot grid. The server knows neither the rate nor the phase of a device: per session
 * it takes the median gap as the slot period and the circular mean of (t mod period) as the session's phase.
 *
 * Features per message: gap since the previous message and until the next one (in periods), phase relative to the
 * session's phase and to the previous message's grid (signed and absolute). A classifier on them is trained and
 * scored held out per session (adversaries.ts `heldOutScores`), as the real-vs-dummy classifier is: an upper bound
 * for a server that learned a device's timing from labelled traffic of its own devices.
 */
import { sessions } from '../adversaries.js';
import type { ServerRecord } from '../wiretap.js';
import { median } from './linalg.js';

/** A session's slot grid as the server estimates it. */
export interface SlotClock {
  /** Median gap between messages, ms (1 with fewer than two messages). */
  period: number;
  /** Phase of the grid, as a fraction of the period in [0, 1). */
  phase: number;
  /** Circular standard deviation of the messages' phases around it, in periods. */
  spread: number;
}

export function slotClock(times: readonly number[]): SlotClock {
  const sorted = [...times].sort((a, b) => a - b);
  const gaps = sorted.slice(1).map((t, i) => t - sorted[i]);
  const period = gaps.length > 0 ? Math.max(median(gaps), 1) : 1;
  let sin = 0;
  let cos = 0;
  for (const t of sorted) {
    const angle = 2 * Math.PI * fraction(t / period);
    sin += Math.sin(angle);
    cos += Math.cos(angle);
  }
  const n = Math.max(sorted.length, 1);
  const length = Math.min(1, Math.hypot(sin, cos) / n);
  const spread = length > 0 ? Math.sqrt(-2 * Math.log(length)) / (2 * Math.PI) : 0.5;
  return { period, phase: fraction(Math.atan2(sin, cos) / (2 * Math.PI)), spread: Math.min(spread, 0.5) };
}

/** Where `t` falls on the grid, in periods, in [−0.5, 0.5): 0 on a slot. */
export function gridOffset(t: number, clock: Pick<SlotClock, 'period' | 'phase'>): number {
  return wrap(t / clock.period - clock.phase);
}

/** `x` modulo 1, in [−0.5, 0.5). */
export function wrap(x: number): number {
  return fraction(x + 0.5) - 0.5;
}

function fraction(x: number): number {
  return x - Math.floor(x);
}

/** Record indices per reply topic, in time order (the server's sessions; adversaries.ts `sessions` on bare records). */
export function sessionsOf(records: readonly ServerRecord[]): Map<string, number[]> {
  return sessions(records.map((record) => ({ record, scores: [], components: [], residual: new Float64Array(0), residualNorm: 0 })));
}

export const TIMING_FEATURES = ['gap_before', 'gap_after', 'phase', 'abs_phase', 'local_phase', 'abs_local_phase'] as const;

/** One row of `TIMING_FEATURES` per record. */
export function timingFeatures(records: readonly ServerRecord[]): number[][] {
  const rows = records.map(() => [1, 1, 0, 0, 0, 0]);
  for (const steps of sessionsOf(records).values()) {
    const times = steps.map((i) => records[i].t);
    const clock = slotClock(times);
    steps.forEach((i, n) => {
      const before = n > 0 ? (times[n] - times[n - 1]) / clock.period : 1;
      const after = n + 1 < steps.length ? (times[n + 1] - times[n]) / clock.period : 1;
      const phase = gridOffset(times[n], clock);
      const local = wrap(before);
      rows[i] = [before, after, phase, Math.abs(phase), local, Math.abs(local)];
    });
  }
  return rows;
}
