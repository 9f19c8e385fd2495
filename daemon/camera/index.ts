/** The camera room's front door: every frame source and helper, and `createFrameSource` for a configuration. */
export type { Frame, FrameSource, SourceHealth } from './types.js';
export { FrameMailbox } from './mailbox.js';
export { FilesSource, listImageFiles, type FilesSourceOptions } from './files-source.js';
export { StreamingSource, type StreamingSourceOptions } from './streaming-source.js';
export { StillSource, type StillSourceOptions } from './still-source.js';
export { ProcessSupervisor, type ProcessSupervisorOptions, type RestartPolicy } from './supervisor.js';
export { JpegSplitter, type JpegSplitterOptions, type DropReason } from './jpeg-splitter.js';
export { FixedSizeSplitter, i420Size, rotateI420 } from './raw-splitter.js';
export { libcameraPlan, gstreamerPlan, ffmpegPlan, type CapturePlan, type CaptureSettings } from './capture-plans.js';
export { SceneGate, frameHash, hammingDistance, type SceneGateOptions } from './scene-gate.js';
export { measureSourceFps, type MeasureOptions, type SourceFps } from './measure.js';
export { findExecutable } from './which.js';
export { createFrameSource, type FrameSourceDeps } from './create-source.js';
