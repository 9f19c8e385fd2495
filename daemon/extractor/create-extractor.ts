import type { LoadedManifest } from './manifest.js';
import { OnnxExtractor, type ExtractTimings, type OnnxExtractorOptions } from './onnx-extractor.js';
import type { Extractor } from './types.js';
import { WorkerExtractor } from './worker-extractor.js';

/** Where a frame's decoding and inference run (model.thread). */
export type ExtractionThread = 'worker' | 'main';

/** An extractor of a manifest-described ONNX model, on whichever thread. */
export interface ModelExtractor extends Extractor {
  readonly manifest: LoadedManifest;
  readonly executionProvider: string;
  readonly lastTimings: ExtractTimings | null;
}

/** The extractor the configuration asks for: on a worker thread (the default) or on the calling thread. */
export function createExtractor(options: OnnxExtractorOptions & { thread: ExtractionThread }): ModelExtractor {
  const { thread, ...rest } = options;
  return thread === 'worker' ? new WorkerExtractor(rest) : new OnnxExtractor(rest);
}
