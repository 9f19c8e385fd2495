import { performance } from 'node:perf_hooks';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { FilesSource } from '../camera/files-source.js';
import { measureSourceFps, type SourceFps } from '../camera/measure.js';
import type { CameraKind } from '../config/types.js';
import { packageRoot } from '../util/paths.js';
import { findExecutable } from '../camera/which.js';
import type { FrameSource } from '../camera/types.js';
import { round } from '../util/stats.js';

export interface CameraSourceResult {
  /** Frames the consumer received. */
  frames: number;
  seconds: number;
  /** Frames per second delivered to a consumer that takes them as fast as they come. */
  fps: number;
  /** The rate the source was asked for; `fps` below it means the source itself is the limit. */
  requested_fps: number;
  /** Frames the source overwrote before they were taken (0 when the consumer keeps up). */
  dropped: number;
  /** How the frames were produced when no camera is attached (streaming kinds on a machine without one). */
  via?: string;
}

/** By source kind and format, e.g. 'files', 'libcamera-yuv420', 'gstreamer-mjpeg'. */
export type CameraBenchResult = Record<string, CameraSourceResult>;

export interface CameraBenchOptions {
  /** Folder the files source replays. */
  dir: string;
  frames: number;
  /** Far above what a source can reach, so the source, not its timer, sets the pace. */
  requestedFps?: number;
  /** How long each streaming kind is measured. */
  streamingMs?: number;
}

/**
 * Streaming kinds are measured through the capture programs found on PATH; on a machine without a camera the fakes
 * in test/fixtures/bin (they stream real YUV420 and JPEG frames) stand in, so the figure is what the splitting,
 * supervision and mailbox cost here — the camera's own rate is the sensor's business.
 */
const STREAMING: Array<{ kind: CameraKind; format: 'yuv420' | 'mjpeg' }> = [
  { kind: 'libcamera', format: 'yuv420' },
  { kind: 'libcamera', format: 'mjpeg' },
  { kind: 'gstreamer', format: 'mjpeg' },
  { kind: 'ffmpeg', format: 'mjpeg' },
];

export async function runCameraBench(options: CameraBenchOptions): Promise<CameraBenchResult> {
  const requestedFps = options.requestedFps ?? 10_000;
  const sources: Record<string, () => FrameSource> = {
    files: () => new FilesSource({ dir: options.dir, fps: requestedFps, loop: true }),
  };
  const result: CameraBenchResult = {};
  for (const [kind, make] of Object.entries(sources)) {
    result[kind] = await measureSource(make(), options.frames, requestedFps);
  }
  const fakes = join(packageRoot, 'test', 'fixtures', 'bin');
  const useFakes = findExecutable('rpicam-vid') === null && existsSync(fakes);
  const env = useFakes ? { ...process.env, PATH: `${fakes}${delimiter}${process.env.PATH ?? ''}` } : process.env;
  for (const { kind, format } of STREAMING) {
    const fps = 120;
    const r = await measureSourceFps(kind, { camera: { fps, width: 640, height: 480, format }, durationMs: options.streamingMs ?? 2000, env });
    const via = useFakes ? 'fake capture program streaming real frames (test/fixtures/bin)' : 'the capture program on PATH';
    result[`${kind}-${format}`] = fromSourceFps(r, fps, via);
  }
  // A still takes about half a second end to end, so it gets a few seconds even in a quick run.
  result.still = await measureStill(useFakes ? fakes : undefined, Math.max(options.streamingMs ?? 2000, 3000));
  return result;
}

/**
 * Still capture for trigger-driven kiosks, one libcamera-still run per picture, triggered as fast as they finish.
 * node-libcamera finds libcamera-still on the process PATH only, so the fakes are put there for the measurement.
 */
async function measureStill(fakes: string | undefined, durationMs: number): Promise<CameraSourceResult> {
  const savedPath = process.env.PATH;
  if (fakes) process.env.PATH = `${fakes}${delimiter}${savedPath ?? ''}`;
  try {
    const fps = 20;
    const r = await measureSourceFps('still', { camera: { width: 640, height: 480, still: { intervalSeconds: 1 / fps, settleMs: 1 } }, durationMs, minFrames: 3 });
    return fromSourceFps(r, fps, fakes ? 'fake libcamera-still writing a real JPEG (test/fixtures/bin)' : 'libcamera-still on PATH');
  } finally {
    process.env.PATH = savedPath;
  }
}

/** The camera module's measurement in the bench report's shape. */
function fromSourceFps(r: SourceFps, requestedFps: number, via: string): CameraSourceResult {
  return {
    frames: r.frames,
    seconds: round(r.seconds),
    fps: round(r.fps),
    requested_fps: requestedFps,
    dropped: r.health?.dropped ?? 0,
    via,
  };
}

/** Starts the source, takes `frames` frames with nothing in between, stops it. */
export async function measureSource(source: FrameSource, frames: number, requestedFps: number): Promise<CameraSourceResult> {
  await source.start();
  try {
    // The first frame pays for start-up (directory listing, first file read): not part of the rate.
    if (!(await source.next())) throw new Error(`camera source '${source.kind}' ended before its first frame`);
    const before = source.stats();
    const t0 = performance.now();
    let taken = 0;
    while (taken < frames) {
      const frame = await source.next();
      if (!frame) break;
      taken++;
    }
    const seconds = (performance.now() - t0) / 1000;
    if (taken === 0) throw new Error(`camera source '${source.kind}' delivered no frame after its first`);
    const after = source.stats();
    return {
      frames: taken,
      seconds: round(seconds),
      fps: round(taken / seconds),
      requested_fps: requestedFps,
      dropped: after.dropped - before.dropped,
    };
  } finally {
    await source.stop();
  }
}
