import type { Frame, FrameSource } from '../camera/types.js';

/**
 * Applies the thermal governor's target rate to any frame source without touching the camera: next() waits until
 * 1/fps after the previous frame was handed out, then takes the newest frame from the source's mailbox, so frames
 * produced meanwhile are dropped (counted by the source), never queued.
 */
export class PacedFrameSource implements FrameSource {
  readonly kind: string;
  private intervalMs: number;
  /** The camera's own rate: at or above it the source paces itself and waiting here would only drop frames. */
  private readonly baseIntervalMs: number;
  private lastHandedOut = Number.NEGATIVE_INFINITY;
  private wake: (() => void) | undefined;
  private stopped = false;
  private latest: Frame | null = null;
  /** Keep a reference to the last frame handed out, for the operator's camera thumbnail (memory only; default off). */
  keepLatest = false;

  constructor(
    private readonly inner: FrameSource,
    fps: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.kind = inner.kind;
    this.intervalMs = intervalFor(fps);
    this.baseIntervalMs = this.intervalMs;
  }

  /** Takes effect for the next frame; a shorter interval also cuts a wait already in progress short. */
  setFps(fps: number): void {
    this.intervalMs = intervalFor(fps);
    this.wake?.();
  }

  get fps(): number {
    return 1000 / this.intervalMs;
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.inner.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.inner.stop();
  }

  async next(): Promise<Frame | null> {
    for (;;) {
      if (this.stopped) return null;
      if (this.intervalMs <= this.baseIntervalMs) break;
      const wait = this.lastHandedOut + this.intervalMs - this.now();
      if (wait <= 0) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, wait);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.wake = done;
      });
      this.wake = undefined;
    }
    const frame = await this.inner.next();
    this.lastHandedOut = this.now();
    if (this.keepLatest && frame) this.latest = frame;
    return frame;
  }

  /** The last frame handed out while keepLatest is on. */
  latestFrame(): Frame | null {
    return this.latest;
  }

  stats(): { produced: number; dropped: number } {
    return this.inner.stats();
  }
}

function intervalFor(fps: number): number {
  if (!(fps > 0) || !Number.isFinite(fps)) throw new RangeError(`fps must be a positive number, got ${fps}`);
  return 1000 / fps;
}
