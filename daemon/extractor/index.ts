export type { Extractor, ModelManifest } from './types.js';
export { BadImageError, ModelOutputError } from './errors.js';
export { loadManifest, type LoadedManifest } from './manifest.js';
export { inputSpec, preprocess, toRgb, toTensorData, type InputSpec, type ResizeFit } from './preprocess.js';
export { OnnxExtractor, type ExtractTimings, type OnnxExtractorOptions } from './onnx-extractor.js';
export { WorkerExtractor } from './worker-extractor.js';
export { createExtractor, type ExtractionThread, type ModelExtractor } from './create-extractor.js';
