import type { Clock, TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/log.js';

/** How often a change that fell due checks again whether the wearer's spot still shows. */
const WEARER_CHECK_MS = 1_000;

/** The part of the transport that changes identity (RecognitionClient). */
export interface RotatableIdentity {
  /** `pause` resolves false when the device is stopping: no new identity is connected then. */
  rotateIdentity(pause?: () => Promise<boolean>): Promise<void>;
}

/** The part of the pipeline that sends queries on a schedule (EdgeDaemon). */
export interface PausableQueries {
  pauseQueries(): void;
  /** Resumes with a new random slot phase. */
  resumeQueries(): void;
  /** Whether the queries now show the wearer's spot (a change waits until they do not; see IdentityRotation). */
  showsWearer?(): boolean;
}

export interface IdentityRotationOptions {
  identity: RotatableIdentity;
  queries: PausableQueries;
  /** Mean minutes between identity changes. */
  meanMinutes: number;
  /** The offline pause between the old identity's disconnect and the new one's connect, drawn uniformly, seconds. */
  pauseSeconds: { min: number; max: number };
  /** Uniform in [0, 1); crypto-backed in production. */
  random: () => number;
  clock: Clock;
  logger: Logger;
}

/**
 * Changes the device's broker identity (random client id and reply topic) at random times (DESIGN §4, "time is on
 * the wire too"). On a fixed interval the broker saw a disconnect and a connect from the same address within the
 * same second and with the same slot phase, which links the two sessions at once. Here the gaps are exponential
 * (memoryless: how long an identity has lived says nothing about when it ends), the device stays offline for a
 * random pause, and the new identity starts a new slot schedule with a fresh random phase. Nothing else happens at
 * a change: no region request, no burst of waiting queries.
 *
 * A change falls due at an exponential time but waits while the queries show the wearer's spot (checked every
 * second, for at most one mean interval): the decoys start afresh under a new identity, so the wearer's own spot was
 * the one thing the new identity's first queries still shared with the old one's last, and linking identities by
 * shared spots named the old identity of a new one in 0.28–0.49 of changes against 0.18–0.26 by chance (decision 47).
 * The wait has a price: sessions with real queries outlive the others, and a session's length tells them apart
 * (decision 54). A transform whose new identity does not carry the wearer's spot over (deferred arrival) never asks
 * it to wait.
 */
export class IdentityRotation {
  private timer: TimerHandle | undefined;
  private running = false;
  private rotation: Promise<void> | undefined;
  /** Ends a pause early when the daemon stops, so stopping never waits out a rotation's offline pause. */
  private stopping: () => void = () => {};
  private readonly stopped = new Promise<void>((resolve) => {
    this.stopping = resolve;
  });
  rotations = 0;
  private onTheWire = false;

  constructor(private readonly options: IdentityRotationOptions) {
    const { meanMinutes, pauseSeconds } = options;
    if (!(meanMinutes > 0)) throw new RangeError(`identity rotation needs a mean interval > 0 minutes, got ${meanMinutes}`);
    if (!(pauseSeconds.min >= 0 && pauseSeconds.max >= pauseSeconds.min)) {
      throw new RangeError(`identity rotation pause must satisfy 0 <= min <= max seconds, got [${pauseSeconds.min}, ${pauseSeconds.max}]`);
    }
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.arm();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopping();
    this.options.clock.clearTimer(this.timer);
    this.timer = undefined;
    await this.rotation;
  }

  /** Milliseconds until the next change: exponential with the configured mean, capped at 4 means. */
  private nextGapMs(): number {
    const mean = this.options.meanMinutes * 60_000;
    return Math.min(4 * mean, -Math.log(1 - this.options.random()) * mean);
  }

  private pauseMs(): number {
    const { min, max } = this.options.pauseSeconds;
    return (min + (max - min) * this.options.random()) * 1000;
  }

  private arm(): void {
    if (!this.running) return;
    this.timer = this.options.clock.setTimer(() => {
      this.timer = undefined;
      this.whenWearerNotShown(this.options.clock.now());
    }, this.nextGapMs());
  }

  /** Rotates once the queries no longer show the wearer's spot, or once a change has waited a mean interval. */
  private whenWearerNotShown(dueMs: number): void {
    if (!this.running) return;
    const { clock, queries, meanMinutes } = this.options;
    if (queries.showsWearer?.() && clock.now() - dueMs < meanMinutes * 60_000) {
      this.timer = clock.setTimer(() => {
        this.timer = undefined;
        this.whenWearerNotShown(dueMs);
      }, WEARER_CHECK_MS);
      return;
    }
    this.rotation = this.rotate().finally(() => {
      this.rotation = undefined;
      this.arm();
    });
  }

  /**
   * True while a change works on the network (closing the old identity, connecting the new one); false while it
   * waits out its offline pause on the clock, and between changes. The evaluation moves virtual time on only when
   * this is false: otherwise how long a disconnect takes in real time would move where the pause falls in virtual
   * time, and the same seed would give another run on a busier machine.
   */
  get busy(): boolean {
    return this.onTheWire;
  }

  /** Resolves true when the pause ran out, false when stop() cut it short (the timer is cleared either way). */
  private async offlinePause(ms: number): Promise<boolean> {
    const { clock } = this.options;
    let timer: TimerHandle | undefined;
    const elapsed = new Promise<boolean>((resolve) => {
      timer = clock.setTimer(() => resolve(true), ms);
    });
    try {
      return await Promise.race([elapsed, this.stopped.then(() => false)]);
    } finally {
      clock.clearTimer(timer);
    }
  }

  private async rotate(): Promise<void> {
    const { identity, queries, logger } = this.options;
    const pause = this.pauseMs();
    queries.pauseQueries();
    this.onTheWire = true;
    const offline = async () => {
      this.onTheWire = false;
      try {
        return await this.offlinePause(pause);
      } finally {
        this.onTheWire = true;
      }
    };
    try {
      await identity.rotateIdentity(offline);
      this.rotations++;
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'identity rotation failed; the next one is at a new random time');
    } finally {
      this.onTheWire = false;
      queries.resumeQueries();
    }
  }
}
