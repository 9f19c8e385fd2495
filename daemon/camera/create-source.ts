import type { CameraConfig } from '../config/types.js';
import { UserError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { ffmpegPlan, gstreamerPlan, libcameraPlan, type CapturePlan } from './capture-plans.js';
import { FilesSource } from './files-source.js';
import { StillSource } from './still-source.js';
import { StreamingSource } from './streaming-source.js';
import type { FrameSource } from './types.js';

export interface FrameSourceDeps {
  logger?: Logger;
  /** Environment of capture programs (PATH decides which program runs); default process.env. */
  env?: NodeJS.ProcessEnv;
}

type Factory = (config: CameraConfig, deps: FrameSourceDeps) => FrameSource;

const streaming =
  (plan: (config: CameraConfig) => CapturePlan): Factory =>
  (config, deps) =>
    new StreamingSource({
      plan: plan(config),
      restart: config.restart,
      stallSeconds: config.stallSeconds,
      env: deps.env,
      logger: deps.logger,
    });

/** One entry per camera.kind. */
const factories: Record<CameraConfig['kind'], Factory> = {
  files: (config, deps) => {
    if (!config.dir) throw new UserError("camera.dir is missing; the 'files' camera needs a folder of images.");
    return new FilesSource({ dir: config.dir, fps: config.fps, loop: config.loop, logger: deps.logger });
  },
  libcamera: streaming(libcameraPlan),
  gstreamer: streaming(gstreamerPlan),
  ffmpeg: streaming(ffmpegPlan),
  still: (config, deps) =>
    new StillSource({
      width: config.width,
      height: config.height,
      rotation: config.rotation,
      roi: config.roi,
      intervalSeconds: config.still.intervalSeconds,
      settleMs: config.still.settleMs,
      logger: deps.logger,
    }),
};

/** The frame source for `camera` of a loaded configuration (paths already absolute). */
export function createFrameSource(config: CameraConfig, deps: FrameSourceDeps = {}): FrameSource {
  const factory = factories[config.kind];
  if (!factory) {
    throw new UserError(`camera.kind '${config.kind}' is unknown; use one of: ${Object.keys(factories).join(', ')}.`);
  }
  return factory(config, deps);
}
