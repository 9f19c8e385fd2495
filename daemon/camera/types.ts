/** One picture from a camera or a file, as encoded bytes (JPEG/PNG/WebP) or a raw YUV420 plane set. */
export interface Frame {
  /** Encoded image (format 'encoded') or raw I420 bytes (format 'yuv420'). */
  data: Buffer;
  format: 'encoded' | 'yuv420';
  /** Required for 'yuv420'; optional for encoded images. */
  width?: number;
  height?: number;
  /** Monotonic sequence number given by the source, starting at 1. */
  seq: number;
  /** Capture time, ms since the epoch. */
  capturedAt: number;
  /** Where the frame came from (file name for the files source), for logs and the demo's ground truth. */
  label?: string;
}

/**
 * A camera. Sources keep only the latest frame (a mailbox): a slow consumer drops frames, never queues them.
 * `next()` resolves with the newest frame not yet handed out, waiting for one if needed, or `null` once the
 * source has ended (a finite replay) or was stopped.
 */
export interface FrameSource {
  readonly kind: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  next(): Promise<Frame | null>;
  /** Frames produced and frames overwritten before anyone took them. */
  stats(): { produced: number; dropped: number };
  /** Capture health for the local API and the watchdog (camera pipelines have it; the files source does not). */
  health?(): SourceHealth;
}

/** What a camera pipeline reports about itself. */
export interface SourceHealth {
  kind: string;
  /** The capture program runs (or, for 'still', the source is started). */
  running: boolean;
  produced: number;
  dropped: number;
  /** Bytes that were not a whole frame (a truncated JPEG, an over-long frame, a short final chunk). */
  badFrames: number;
  /** Capture program (re)starts after the first. */
  restarts: number;
  /** ms since the epoch of the latest frame, null before the first. */
  lastFrameAt: number | null;
  /** No frame for camera.stallSeconds. */
  stalled: boolean;
  /** Times there was no frame for camera.stallSeconds (each restarted the program). */
  stalls: number;
  /** The program and arguments running, for logs and support. */
  command?: string[];
  /** Latest stderr line or failure reason. */
  lastError?: string;
}
