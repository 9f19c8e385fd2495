import { performance } from 'node:perf_hooks';
import { FilesSource } from '../camera/files-source.js';
import type { FrameSource } from '../camera/types.js';
import { round } from './stats.js';

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
}

/** By source kind ('files' now; libcamera, gstreamer, … when their sources land). */
export type CameraBenchResult = Record<string, CameraSourceResult>;

export interface CameraBenchOptions {
  /** Folder the files source replays. */
  dir: string;
  frames: number;
  /** Far above what a source can reach, so the source, not its timer, sets the pace. */
  requestedFps?: number;
}

export async function runCameraBench(options: CameraBenchOptions): Promise<CameraBenchResult> {
  const requestedFps = options.requestedFps ?? 10_000;
  const sources: Record<string, () => FrameSource> = {
    files: () => new FilesSource({ dir: options.dir, fps: requestedFps, loop: true }),
  };
  const result: CameraBenchResult = {};
  for (const [kind, make] of Object.entries(sources)) {
    result[kind] = await measureSource(make(), options.frames, requestedFps);
  }
  return result;
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
