import type { Logger } from '../util/log.js';
import type { TransformedQuery } from './types.js';

/** When queries leave the device (DESIGN §4, cover traffic). */
export type ScheduleMode = 'on-demand' | 'constant' | 'poisson';

export interface SchedulerOptions<R> {
  mode: ScheduleMode;
  /** Slots per second for 'constant' and 'poisson'. */
  ratePerSecond: number;
  /** Sends one query on the wire and resolves with the reply; the same call for real and dummy queries. */
  send: (query: TransformedQuery) => Promise<R>;
  /** Builds a dummy query for a slot with no real query waiting. */
  makeDummy: () => TransformedQuery;
  /** Called with every dummy reply, so the device treats it exactly like a real one (e.g. caches it). */
  onDummyReply?: (reply: R) => void;
  /** Uniform random in [0,1) for Poisson gaps; crypto-backed in production so timing is not predictable. */
  random: () => number;
  logger?: Logger;
}

interface Pending<R> {
  query: TransformedQuery;
  resolve: (reply: R) => void;
  reject: (err: Error) => void;
}

export class SupersededError extends Error {
  constructor() {
    super('a newer real query took this slot');
    this.name = 'SupersededError';
  }
}

/**
 * Decides when queries go out. In 'constant' and 'poisson' modes a query leaves only in a slot, and a slot with
 * no real query waiting carries a dummy, so the server sees the same traffic whether or not the user is looking
 * at anything. Only one real query waits at a time: a newer one supersedes it, like the camera mailbox.
 */
export class QueryScheduler<R> {
  private pending: Pending<R> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private inFlight = new Set<Promise<unknown>>();
  readonly counters = { real: 0, dummy: 0, superseded: 0, failed: 0 };

  constructor(private readonly options: SchedulerOptions<R>) {
    if (options.mode !== 'on-demand' && !(options.ratePerSecond > 0)) {
      throw new RangeError(`scheduler ratePerSecond must be > 0 in '${options.mode}' mode`);
    }
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.options.mode !== 'on-demand') this.armNextSlot();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending) {
      this.pending.reject(new Error('scheduler stopped'));
      this.pending = undefined;
    }
    await Promise.allSettled([...this.inFlight]);
  }

  /** Queue a real query for the next slot (or send it now in 'on-demand' mode). */
  submit(query: TransformedQuery): Promise<R> {
    if (!this.running) return Promise.reject(new Error('scheduler is not running'));
    if (this.options.mode === 'on-demand') {
      this.counters.real++;
      return this.track(this.options.send(query));
    }
    if (this.pending) {
      this.counters.superseded++;
      this.pending.reject(new SupersededError());
    }
    return new Promise<R>((resolve, reject) => {
      this.pending = { query, resolve, reject };
    });
  }

  /** Number of real queries waiting for a slot (0 or 1). */
  get queueDepth(): number {
    return this.pending ? 1 : 0;
  }

  private gapMs(): number {
    const mean = 1000 / this.options.ratePerSecond;
    if (this.options.mode === 'constant') return mean;
    // Exponential inter-arrival times give a Poisson process; 1 - u avoids log(0).
    return -Math.log(1 - this.options.random()) * mean;
  }

  private armNextSlot(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.fireSlot();
      this.armNextSlot();
    }, this.gapMs());
  }

  private fireSlot(): void {
    const real = this.pending;
    this.pending = undefined;
    if (real) {
      this.counters.real++;
      this.track(this.options.send(real.query)).then(real.resolve, real.reject);
      return;
    }
    this.counters.dummy++;
    let dummy: TransformedQuery;
    try {
      dummy = this.options.makeDummy();
    } catch (err) {
      this.counters.failed++;
      this.options.logger?.warn({ err: (err as Error).message }, 'could not build a dummy query; slot left empty');
      return;
    }
    this.track(this.options.send(dummy)).then(
      (reply) => this.options.onDummyReply?.(reply),
      (err: Error) => {
        this.counters.failed++;
        this.options.logger?.debug({ err: err.message }, 'dummy query failed');
      },
    );
  }

  private track<T>(p: Promise<T>): Promise<T> {
    const settled = p.finally(() => this.inFlight.delete(settled));
    this.inFlight.add(settled);
    return p;
  }
}
