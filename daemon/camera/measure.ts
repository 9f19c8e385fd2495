import { performance } from 'node:perf_hooks';
import { schemaDefaults } from '../config/load.js';
import type { CameraConfig, CameraKind } from '../config/types.js';
import type { Logger } from '../util/log.js';
import { createFrameSource } from './create-source.js';
import type { SourceHealth } from './types.js';

export interface MeasureOptions {
  /** Settings over the schema's defaults, e.g. { width: 640, height: 480, fps: 30, format: 'mjpeg' }. */
  camera?: Partial<CameraConfig>;
  /** How long to count frames after the first one arrived. Default 3000 ms. */
  durationMs?: number;
  /** Give up waiting for the first frame after this long. Default 10000 ms. */
  firstFrameTimeoutMs?: number;
  /**
   * Keep counting past `durationMs` until this many frames came (each awaited up to `firstFrameTimeoutMs`), so a slow
   * source (a still camera on a busy machine) is measured over a few frames, not reported as 0 fps. Default 0.
   */
  minFrames?: number;
  /** Environment of the capture program: put the fakes (test/fixtures/bin) first on PATH to measure without a camera. */
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

export interface SourceFps {
  kind: CameraKind;
  frames: number;
  seconds: number;
  fps: number;
  /** Mean size of a delivered frame. */
  bytesPerFrame: number;
  /** ms from start() to the first frame. */
  firstFrameMs: number;
  health: SourceHealth | null;
}

/** The profile schema's camera defaults, the same the daemon starts from. */
const DEFAULTS = schemaDefaults('edge', 'camera') as unknown as CameraConfig;

/**
 * Frames per second a source kind delivers to a consumer that takes every frame as fast as it can (the
 * benchmark's camera row). For 'still', set camera.still.intervalSeconds, or nothing is captured.
 */
export async function measureSourceFps(kind: CameraKind, options: MeasureOptions = {}): Promise<SourceFps> {
  const config: CameraConfig = { ...DEFAULTS, ...options.camera, kind };
  const source = createFrameSource(config, { env: options.env, logger: options.logger });
  const startedAt = performance.now();
  await source.start();
  try {
    const first = await withTimeout(source.next(), options.firstFrameTimeoutMs ?? 10_000, kind);
    if (!first) throw new Error(`the ${kind} source ended before its first frame`);
    const firstFrameMs = performance.now() - startedAt;
    const t0 = performance.now();
    const deadline = t0 + (options.durationMs ?? 3000);
    let frames = 0;
    let bytes = 0;
    const minFrames = options.minFrames ?? 0;
    while (performance.now() < deadline || frames < minFrames) {
      const wait = frames < minFrames ? (options.firstFrameTimeoutMs ?? 10_000) : Math.max(1, deadline - performance.now());
      const frame = await withTimeout(source.next(), wait, kind).catch(() => null);
      if (!frame) break;
      frames++;
      bytes += frame.data.length;
    }
    const seconds = (performance.now() - t0) / 1000;
    return {
      kind,
      frames,
      seconds,
      fps: frames / seconds,
      bytesPerFrame: frames ? bytes / frames : first.data.length,
      firstFrameMs,
      health: source.health?.() ?? null,
    };
  } finally {
    await source.stop();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, kind: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no frame from the ${kind} source within ${Math.round(ms)} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
