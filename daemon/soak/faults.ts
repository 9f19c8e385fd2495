/**
 * The soak's faults: when each one happens, and what injecting one means. Each fault breaks something, waits, puts it
 * back, and then waits for the device to answer again through a recognizer — that moment is its recovery.
 */

export type FaultKind = 'edge-kill' | 'recognizer-kill' | 'broker-restart';

const CYCLE: readonly FaultKind[] = ['edge-kill', 'recognizer-kill', 'broker-restart'];

/**
 * One fault every `everyS` seconds from `everyS` on, the kinds in turn. Edge kills happen in the first half only, so
 * the edge's second-half trend is one process's (a restart would hide a leak); nothing happens in the last `quietS`
 * seconds, so the last recovery is seen.
 */
export function faultSchedule(durationS: number, everyS: number, quietS: number): { at_s: number; kind: FaultKind }[] {
  const plan: { at_s: number; kind: FaultKind }[] = [];
  for (let i = 1; i * everyS <= durationS - quietS; i++) {
    const kind = CYCLE[(i - 1) % CYCLE.length];
    if (kind === 'edge-kill' && i * everyS >= durationS / 2) continue;
    plan.push({ at_s: i * everyS, kind });
  }
  return plan;
}

/** After an edge was killed: SQLite's check of the file it left, and the acknowledged results looked for in it. */
export interface CrashCheck {
  integrity_check: string[];
  acknowledged_checked: number;
  acknowledged_missing: number;
}

/** What the soak lets a fault do to the running system. */
export interface FaultTarget {
  killEdge(): Promise<CrashCheck>;
  startEdge(): Promise<void>;
  /** SIGKILL one recognizer; the other keeps the shared group alive. */
  killRecognizer(): Promise<void>;
  startRecognizer(): Promise<void>;
  stopBroker(): Promise<void>;
  startBroker(): Promise<void>;
  /** When (ms since epoch) the first result answered by a recognizer after `since` arrived, or null after `timeoutMs`. */
  answeredAfter(since: number, timeoutMs: number): Promise<number | null>;
  /** Results answered by a recognizer received in [from, to). */
  answeredBetween(from: number, to: number): number;
  /** Queries that failed on the wire so far, all edge processes together. */
  failedQueries(): Promise<number>;
  /** Seconds since the soak started, for `at` times. */
  seconds(ms: number): number;
}

export interface FaultRecord {
  kind: FaultKind;
  injected_at_s: number;
  /** When the broken part was back (broker accepting, process started). */
  restored_at_s: number;
  /** First result answered by a recognizer after that; null when none came within the recovery timeout. */
  recovered_at_s: number | null;
  recovered: boolean;
  /** restored → recovered. */
  recovery_ms: number | null;
  /** injected → recovered: how long the device had no answer because of this fault (at most). */
  outage_ms: number | null;
  /** Answered results between injection and restore (a recognizer kill: the other member kept answering). */
  answered_while_broken: number;
  /** Queries that failed on the wire from injection to recovery. */
  failed_queries: number;
  crash_check?: CrashCheck;
}

export async function injectFault(kind: FaultKind, target: FaultTarget, downMs: number, recoveryTimeoutMs: number): Promise<FaultRecord> {
  const failedBefore = await target.failedQueries();
  const injected = Date.now();
  let crashCheck: CrashCheck | undefined;
  const pause = () => new Promise((r) => setTimeout(r, downMs));
  if (kind === 'edge-kill') {
    crashCheck = await target.killEdge();
    await pause();
    await target.startEdge();
  } else if (kind === 'recognizer-kill') {
    await target.killRecognizer();
    await pause();
    await target.startRecognizer();
  } else {
    await target.stopBroker();
    await pause();
    await target.startBroker();
  }
  const restored = Date.now();
  const recovered = await target.answeredAfter(restored, recoveryTimeoutMs);
  return {
    kind,
    injected_at_s: target.seconds(injected),
    restored_at_s: target.seconds(restored),
    recovered_at_s: recovered === null ? null : target.seconds(recovered),
    recovered: recovered !== null,
    recovery_ms: recovered === null ? null : recovered - restored,
    outage_ms: recovered === null ? null : recovered - injected,
    answered_while_broken: target.answeredBetween(injected, restored),
    failed_queries: (await target.failedQueries()) - failedBefore,
    ...(crashCheck ? { crash_check: crashCheck } : {}),
  };
}
