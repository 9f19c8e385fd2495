/**
 * Time, injected. Everything in the device that reads the time or waits on it takes a `Clock`, so the evaluation can
 * run the shipped daemon in virtual time at simulation speed (DESIGN §7) and tests can step time exactly. Production
 * uses `systemClock`.
 */

/** The handle of a pending timer: the system clock's is Node's, a virtual clock's a sequence number. */
export type TimerHandle = NodeJS.Timeout | number;

export interface Clock {
  /** Milliseconds since the epoch (virtual clocks: since their own origin). */
  now(): number;
  /** High-resolution milliseconds for measuring how long work takes (virtual clocks: their time, so work is free). */
  monotonic(): number;
  /** Runs `fn` once after `ms` milliseconds (0 or less: as soon as possible, after the current task). */
  setTimer(fn: () => void, ms: number): TimerHandle;
  clearTimer(handle: TimerHandle | undefined): void;
}

/** The wall clock. Its timers keep the process alive, like setTimeout's: every owner clears its own on stop(). */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimer(fn: () => void, ms: number): TimerHandle {
    return setTimeout(fn, Math.max(0, ms));
  },
  clearTimer(handle: TimerHandle | undefined): void {
    if (handle !== undefined) clearTimeout(handle);
  },
});

/** Resolves after `ms` on `clock`. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimer(resolve, ms));
}

interface VirtualTimer {
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * Virtual time for the evaluation and tests: time stands still until the owner advances it, and timers fire in time
 * order (ties in the order they were set). `runUntil` lets the owner wait for the asynchronous work each timer starts
 * (a broker round trip) before time moves on, so a simulation sees exactly what a device would at that instant.
 */
export class VirtualClock implements Clock {
  private time: number;
  private seq = 0;
  private readonly timers = new Map<number, VirtualTimer>();

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  monotonic(): number {
    return this.time;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const seq = ++this.seq;
    this.timers.set(seq, { at: this.time + Math.max(0, ms), seq, fn });
    return seq;
  }

  clearTimer(handle: TimerHandle | undefined): void {
    if (typeof handle === 'number') this.timers.delete(handle);
  }

  /**
   * Time passes without any timer firing, as while the CPU is busy with synchronous work (a slow dummy build in a
   * test): timers that fall due meanwhile fire late, at the next `runUntil`, as they would on a blocked event loop.
   */
  spend(ms: number): void {
    this.time += Math.max(0, ms);
  }

  /** When the next timer is due, or undefined when none is pending. */
  nextDue(): number | undefined {
    let next: number | undefined;
    for (const t of this.timers.values()) if (next === undefined || t.at < next) next = t.at;
    return next;
  }

  /**
   * Fires every timer due at or before `until`, in order, moving the clock to each one's time; after each timer,
   * awaits `settle()` (e.g. "every request in flight has its reply") so work a timer started finishes at that
   * instant of virtual time. Ends with the clock at `until`.
   */
  async runUntil(until: number, settle: () => Promise<unknown> = () => Promise.resolve()): Promise<void> {
    for (;;) {
      const due = this.earliest();
      if (!due || due.at > until) break;
      this.timers.delete(due.seq);
      this.time = Math.max(this.time, due.at);
      due.fn();
      await settle();
    }
    this.time = Math.max(this.time, until);
  }

  private earliest(): VirtualTimer | undefined {
    let best: VirtualTimer | undefined;
    for (const t of this.timers.values()) if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    return best;
  }
}
