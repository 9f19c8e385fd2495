import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import type { TransformedQuery } from './types.js';

/** When queries leave the device (DESIGN §4, cover traffic). */
export type ScheduleMode = 'on-demand' | 'constant' | 'poisson';

export interface SchedulerOptions<R> {
  mode: ScheduleMode;
  /** Slots per second for 'constant' and 'poisson'. */
  ratePerSecond: number;
  /** Sends one query on the wire and resolves with the reply; the same call for real and dummy queries. */
  send: (query: TransformedQuery, kind: 'real' | 'dummy') => Promise<R>;
  /** Builds a dummy query for a slot with no real query waiting. Called ahead of the slot, never inside it. */
  makeDummy: () => TransformedQuery;
  /** Called with every dummy reply, so the device treats it exactly like a real one (e.g. caches it). */
  onDummyReply?: (reply: R) => void;
  /** Uniform random in [0,1) for slot phases and Poisson gaps; crypto-backed in production so timing is not predictable. */
  random: () => number;
  /** Default the wall clock; the evaluation passes its virtual clock. */
  clock?: Clock;
  logger?: Logger;
}

interface Pending<R> {
  query: TransformedQuery;
  /** Builds the same real query afresh (see submit); undefined when it may no longer be shown. */
  rebuild?: () => TransformedQuery | undefined;
  resolve: (reply: R) => void;
  reject: (err: Error) => void;
}

export class SupersededError extends Error {
  constructor() {
    super('a newer real query took this slot');
    this.name = 'SupersededError';
  }
}

/** A real query that waited through an identity change and may not be shown by the new identity (see resume). */
export class HeldBackError extends Error {
  constructor() {
    super('the new identity does not show this spot yet');
    this.name = 'HeldBackError';
  }
}

export interface SchedulerCounters {
  real: number;
  dummy: number;
  superseded: number;
  /** Requests that failed on the wire (timeout, error reply, broker away); never fatal. */
  failed: number;
  /** Slots whose dummy was not ready and had to be built in the slot (the event loop was too busy). */
  lateBuilds: number;
  /** Slots skipped because the device fell more than a slot behind (e.g. a suspended process). */
  skipped: number;
}

/**
 * Decides when queries go out (DESIGN §4, "time is on the wire too"). In 'constant' and 'poisson' modes a query
 * leaves only at an absolute slot time, from a timer that does nothing but send what was built before it: the
 * next slot's dummy is built right after each slot, a real query when its frame is processed, and the slot sends
 * whichever is waiting. So how long a query took to build never shows in when it leaves, and the device's work
 * right after a slot is the same whether that slot was real or not. Only one real query waits at a time: a newer
 * one supersedes it, like the camera mailbox.
 */
export class QueryScheduler<R> {
  private pending: Pending<R> | undefined;
  private preparedDummy: TransformedQuery | undefined;
  private timer: TimerHandle | undefined;
  private prepareTimer: TimerHandle | undefined;
  private nextSlotAt: number | undefined;
  private running = false;
  private paused = false;
  private readonly clock: Clock;
  private readonly inFlight = new Set<Promise<unknown>>();
  readonly counters: SchedulerCounters = { real: 0, dummy: 0, superseded: 0, failed: 0, lateBuilds: 0, skipped: 0 };

  constructor(private readonly options: SchedulerOptions<R>) {
    if (options.mode !== 'on-demand' && !(options.ratePerSecond > 0)) {
      throw new RangeError(`scheduler ratePerSecond must be > 0 in '${options.mode}' mode`);
    }
    this.clock = options.clock ?? systemClock;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.paused = false;
    if (this.options.mode !== 'on-demand') this.beginSchedule();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.cancelTimers();
    if (this.pending) {
      this.pending.reject(new Error('scheduler stopped'));
      this.pending = undefined;
    }
    await this.idle();
  }

  /**
   * Stops sending (identity rotation: nothing may leave while the device has no identity). A waiting real query
   * keeps waiting; `resume()` starts a new schedule with a fresh random phase, unrelated to the old one.
   */
  pause(): void {
    if (!this.running || this.paused) return;
    this.paused = true;
    this.cancelTimers();
  }

  /** Paused for an identity change: nothing leaves until resume(). */
  get isPaused(): boolean {
    return this.paused;
  }

  /**
   * Fails the real query waiting for a slot with HeldBackError, so its caller names the frame on the device instead
   * of waiting (a device going through an identity change's offline pause: see EdgeDaemon.pauseQueries).
   */
  holdBackWaiting(): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    pending.reject(new HeldBackError());
  }

  resume(): void {
    if (!this.running || !this.paused) return;
    this.paused = false;
    if (this.options.mode !== 'on-demand') this.beginSchedule();
    this.rebuildPending();
  }

  /**
   * A real query that waited through a pause was built for a slot of the old identity: its decoys show where the
   * tracks stood then, and sent as the new identity's first query it would show the server the very spots of the old
   * identity's last ones, linking the two (measured: the first query after a rotation repeated the last one's four
   * spots). It is built again for the new schedule's first slot; one that cannot be is failed to its caller, and one
   * the new identity may not show yet (deferred arrival) is failed with HeldBackError: sent anyway, it put the
   * wearer's spot in the new identity's first query whenever the wearer stood at it through the pause, the very spot
   * the old identity's last queries showed (docs/privacy.md, "The query that waited through the pause").
   */
  private rebuildPending(): void {
    const pending = this.pending;
    if (!pending?.rebuild) return;
    try {
      const rebuilt = pending.rebuild();
      if (rebuilt) {
        pending.query = rebuilt;
        return;
      }
      this.pending = undefined;
      pending.reject(new HeldBackError());
    } catch (err) {
      this.pending = undefined;
      pending.reject(err as Error);
    }
  }

  /** Resolves when every request sent so far has its reply or has failed. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /**
   * Queue a real query for the next slot (or send it now in 'on-demand' mode). `rebuild` builds the same real query
   * afresh: it is called when the query waited through a pause (resume), and answers undefined when the query may no
   * longer be shown (the promise then rejects with HeldBackError).
   */
  submit(query: TransformedQuery, rebuild?: () => TransformedQuery | undefined): Promise<R> {
    if (!this.running) return Promise.reject(new Error('scheduler is not running'));
    if (this.options.mode === 'on-demand') {
      this.counters.real++;
      return this.track(this.options.send(query, 'real'));
    }
    if (this.pending) {
      this.counters.superseded++;
      this.pending.reject(new SupersededError());
    }
    return new Promise<R>((resolve, reject) => {
      this.pending = { query, rebuild, resolve, reject };
    });
  }

  /** Number of real queries waiting for a slot (0 or 1). */
  get queueDepth(): number {
    return this.pending ? 1 : 0;
  }

  /** Milliseconds until the next slot fires; Infinity when none is armed (on-demand, paused, stopped). */
  msUntilNextSlot(): number {
    return this.nextSlotAt === undefined ? Infinity : Math.max(0, this.nextSlotAt - this.clock.now());
  }

  /**
   * When a query built now will leave: the next slot, or now when none is armed (on-demand, paused, stopped). The
   * decoy tracks and their view drift are read at this time, not at the build's: a dummy is built right after the
   * slot before its own and a real query whenever its frame comes, so tracks read at build time moved less between a
   * real query and the dummy after it (built half a slot apart on average) than between two dummies (a whole slot),
   * and the server counted it (a component new to the session in 0.17 of dummies after a real query, 0.32 after a
   * dummy; docs/privacy.md, "Tracks read at the slot").
   */
  departureTime(): number {
    const now = this.clock.now();
    return this.nextSlotAt === undefined ? now : Math.max(now, this.nextSlotAt);
  }

  /**
   * Resolves at a moment when work expected to take `expectedMs` on this thread can finish before the next slot
   * fires: at once when the slot is far enough, else just after it. Building a real query right before a slot would
   * delay that slot's timer, and a late slot would say "the device was busy with a frame".
   */
  async quietMoment(expectedMs: number): Promise<void> {
    for (let tries = 0; tries < 4 && this.running; tries++) {
      const left = this.msUntilNextSlot();
      if (left === Infinity || left > expectedMs) return;
      await new Promise<void>((resolve) => this.clock.setTimer(resolve, left + 1));
    }
  }

  private gapMs(): number {
    const mean = 1000 / this.options.ratePerSecond;
    if (this.options.mode === 'constant') return mean;
    // Exponential inter-arrival times give a Poisson process; 1 - u avoids log(0).
    return -Math.log(1 - this.options.random()) * mean;
  }

  /** A fresh schedule: a random phase within one slot (constant) or one exponential gap (Poisson) from now. */
  private beginSchedule(): void {
    const first = this.options.mode === 'constant' ? this.options.random() * this.gapMs() : this.gapMs();
    this.nextSlotAt = this.clock.now() + first;
    this.prepareDummy();
    this.arm();
  }

  private arm(): void {
    if (!this.running || this.paused || this.nextSlotAt === undefined) return;
    this.timer = this.clock.setTimer(() => this.fireSlot(), this.nextSlotAt - this.clock.now());
  }

  /** The slot itself: send what is ready, arm the next absolute slot time, and only then build the next dummy. */
  private fireSlot(): void {
    this.timer = undefined;
    if (!this.running || this.paused || this.nextSlotAt === undefined) return;
    const real = this.pending;
    this.pending = undefined;
    let dummy: TransformedQuery | undefined;
    if (!real) {
      dummy = this.preparedDummy ?? this.buildDummyLate();
      this.preparedDummy = undefined;
    }
    if (real) {
      this.counters.real++;
      this.track(this.options.send(real.query, 'real')).then(real.resolve, real.reject);
    } else if (dummy) {
      this.counters.dummy++;
      this.track(this.options.send(dummy, 'dummy')).then(
        (reply) => this.options.onDummyReply?.(reply),
        (err: Error) => this.options.logger?.debug({ err: err.message }, 'dummy query failed'),
      );
    }
    // Absolute times: the next slot is one gap after this one was due, not after it happened to run, so a busy
    // moment does not shift every later slot. A device that fell behind (suspended, overloaded) skips the slots it
    // missed instead of sending them in a burst.
    const now = this.clock.now();
    let next = this.nextSlotAt + this.gapMs();
    while (next <= now) {
      this.counters.skipped++;
      next += this.gapMs();
    }
    this.nextSlotAt = next;
    this.arm();
    // Built after the slot, on its own turn of the event loop: the work after a slot is the same for real and dummy.
    this.prepareTimer = this.clock.setTimer(() => {
      this.prepareTimer = undefined;
      this.prepareDummy();
    }, 0);
  }

  private prepareDummy(): void {
    try {
      this.preparedDummy = this.options.makeDummy();
    } catch (err) {
      this.preparedDummy = undefined;
      this.options.logger?.warn({ err: (err as Error).message }, 'could not build a dummy query; the next slot builds one itself');
    }
  }

  private buildDummyLate(): TransformedQuery | undefined {
    this.counters.lateBuilds++;
    try {
      return this.options.makeDummy();
    } catch (err) {
      this.options.logger?.warn({ err: (err as Error).message }, 'could not build a dummy query; slot left empty');
      return undefined;
    }
  }

  private cancelTimers(): void {
    this.clock.clearTimer(this.timer);
    this.clock.clearTimer(this.prepareTimer);
    this.timer = undefined;
    this.prepareTimer = undefined;
    this.nextSlotAt = undefined;
  }

  /**
   * Counts a failure and keeps the request visible to `idle()`. The returned promise is the caller's to handle; the
   * copy kept here never rejects, so a failed request can never become an unhandled rejection (which would end the
   * process: the daemon must survive a recognizer that stops answering or a broker restart).
   */
  private track<T>(p: Promise<T>): Promise<T> {
    const settled: Promise<void> = p.then(
      () => undefined,
      () => {
        this.counters.failed++;
      },
    );
    const tracked = settled.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
    return p;
  }
}
