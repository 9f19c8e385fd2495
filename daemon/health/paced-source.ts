import type { Frame, FrameSource } from '../camera/types.js';

/**
 * The camera at a glance, for /status, /metrics and `enfpire status` (daemon/api/status-registry.ts): the source's
 * own SourceHealth where it has one (capture programs, stills), the rates seen here for any source.
 */
export interface CameraHealth {
  kind: string;
  /** The capture program runs (a source without health(): started and neither stopped nor at the end of a replay). */
  running: boolean;
  /** Frames handed to the pipeline per second, over the last RATE_WINDOW_MS. */
  deliveredFps: number;
  /** Frames the camera overwrote before the pipeline took them, per second, over the same window. */
  droppedFps: number;
  /** Capture program (re)starts after the first; 0 for a source without health(). */
  restarts: number;
  /** Times the camera went camera.stallSeconds without a frame. */
  stalls: number;
  /** No frame for camera.stallSeconds now. */
  stalled: boolean;
  /** Bytes that were not a whole frame, or failed stills. */
  badFrames: number;
  /** The latest failure the source reported. */
  lastError: string | null;
}

/** What the paced source's stats() carry through the pipeline's stats to the local API. */
export interface PacedSourceStats {
  produced: number;
  dropped: number;
  camera: CameraHealth;
}

/** The window delivered and dropped frame rates are measured over. */
export const RATE_WINDOW_MS = 10_000;
/** Samples are kept at most this often, so the window holds a bounded number. */
const SAMPLE_EVERY_MS = 250;

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
  private started = false;
  private ended = false;
  private delivered = 0;
  /** Counts at moments in the last RATE_WINDOW_MS (and the one just before it), oldest first. */
  private readonly samples: { at: number; delivered: number; dropped: number }[] = [];
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
    this.started = true;
    this.sample();
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
    if (frame) this.delivered++;
    else this.ended = true;
    if (this.keepLatest && frame) this.latest = frame;
    this.sample();
    return frame;
  }

  /** The last frame handed out while keepLatest is on. */
  latestFrame(): Frame | null {
    return this.latest;
  }

  stats(): PacedSourceStats {
    return { ...this.inner.stats(), camera: this.cameraHealth() };
  }

  /** The inner source's health with the rates seen here. */
  private cameraHealth(): CameraHealth {
    const health = this.inner.health?.();
    const { deliveredFps, droppedFps } = this.rates();
    return {
      kind: this.kind,
      running: health?.running ?? (this.started && !this.stopped && !this.ended),
      deliveredFps,
      droppedFps,
      restarts: health?.restarts ?? 0,
      stalls: health?.stalls ?? 0,
      stalled: health?.stalled ?? false,
      badFrames: health?.badFrames ?? 0,
      lastError: health?.lastError ?? null,
    };
  }

  private sample(): void {
    const at = this.now();
    const last = this.samples.at(-1);
    if (last && at - last.at < SAMPLE_EVERY_MS) return;
    this.samples.push({ at, delivered: this.delivered, dropped: this.inner.stats().dropped });
    // The oldest sample kept is the last one at or before the window's start: the rates cover the whole window.
    while (this.samples.length > 1 && this.samples[1].at <= at - RATE_WINDOW_MS) this.samples.shift();
  }

  private rates(): { deliveredFps: number; droppedFps: number } {
    if (!this.started) return { deliveredFps: 0, droppedFps: 0 };
    this.sample();
    const base = this.samples[0];
    const now = this.now();
    // Over at least a second, so the first frames after start do not read as a burst.
    const seconds = Math.max(now - base.at, 1000) / 1000;
    return {
      deliveredFps: (this.delivered - base.delivered) / seconds,
      droppedFps: (this.inner.stats().dropped - base.dropped) / seconds,
    };
  }
}

function intervalFor(fps: number): number {
  if (!(fps > 0) || !Number.isFinite(fps)) throw new RangeError(`fps must be a positive number, got ${fps}`);
  return 1000 / fps;
}
