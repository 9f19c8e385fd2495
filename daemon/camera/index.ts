import type { CameraConfig } from '../config/types.js';
import { UserError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { FilesSource } from './files-source.js';
import type { FrameSource } from './types.js';

export type { Frame, FrameSource } from './types.js';
export { FrameMailbox } from './mailbox.js';
export { FilesSource, listImageFiles, type FilesSourceOptions } from './files-source.js';

export interface FrameSourceDeps {
  logger?: Logger;
}

type Factory = (config: CameraConfig, deps: FrameSourceDeps) => FrameSource;

/** One entry per camera.kind this build supports; the other kinds of the schema come with their sources. */
const factories: Partial<Record<CameraConfig['kind'], Factory>> = {
  files: (config, deps) => {
    if (!config.dir) throw new UserError("camera.dir is missing; the 'files' camera needs a folder of images.");
    return new FilesSource({ dir: config.dir, fps: config.fps, loop: config.loop, logger: deps.logger });
  },
};

/** The frame source for `camera` of a loaded configuration (paths already absolute). */
export function createFrameSource(config: CameraConfig, deps: FrameSourceDeps = {}): FrameSource {
  const factory = factories[config.kind];
  if (!factory) {
    const available = Object.keys(factories).join(', ');
    throw new UserError(`camera.kind '${config.kind}' is not available in this build yet; use one of: ${available}.`);
  }
  return factory(config, deps);
}
