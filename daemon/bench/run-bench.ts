import { arch, cpus, platform } from 'node:os';
import { performance } from 'node:perf_hooks';
import '../extractor/no-telemetry.js';
import * as ort from 'onnxruntime-node';
import { loadManifest } from '../extractor/manifest.js';
import { runCameraBench, type CameraBenchResult } from './camera-bench.js';
import { runExtractorBench, type ExtractorBenchResult } from './extractor-bench.js';
import { loadBenchInputs } from './inputs.js';
import { runMemoryBench, type MemoryBenchResult } from './memory-bench.js';
import { runRecognizerBench, type RecognizerBenchResult } from './recognizer-bench.js';
import { runRecognizerScale, type RecognizerScaleResult } from './recognizer-scale.js';
import { round } from '../util/stats.js';

export const BENCH_SCHEMA = 'enfpire-bench/2';

export interface BenchOptions {
  /** Model manifest the extractor runs. */
  manifestPath: string;
  /** Folder of photos fed to the extractor and replayed by the files camera. */
  spotsDir: string;
  /** Timed extractor rounds; the camera and memory runs scale with it. Default 300, or 20 with `quick`. */
  frames?: number;
  /** Small sizes everywhere (under 20 s on 2 cores): for tests and a first look, not for numbers to quote. */
  quick?: boolean;
  /** Called as each measurement starts, e.g. to print progress. */
  onStage?: (stage: BenchStage) => void;
  /** Gallery sizes of the city-scale recognizer measurement; default [10,000, 100,000], or [1,000] with `quick`. */
  recognizerSizes?: number[];
  /** Progress lines within a measurement (the city-scale one takes minutes the first time). */
  progress?: (line: string) => void;
}

export type BenchStage = 'extractor' | 'camera' | 'recognizer' | 'recognizer-scale' | 'memory';

export interface BenchReport {
  schema: typeof BENCH_SCHEMA;
  created_at: string;
  quick: boolean;
  machine: { cpus: number; cpu_model: string; platform: string; node: string; onnxruntime: string };
  extractor: ExtractorBenchResult;
  camera: CameraBenchResult;
  recognizer: RecognizerBenchResult;
  /** The recognizer at city scale: real photo windows + synthetic spots, k-mix queries, component recall (recognizer-scale.ts). */
  recognizer_scale: RecognizerScaleResult[];
  memory: MemoryBenchResult;
  /** Wall time of the whole bench. */
  seconds: number;
}

/** Sizes of one run; `quick` trades precision for time, never what is measured. */
function plan(quick: boolean, frames: number | undefined) {
  const n = frames ?? (quick ? 20 : 300);
  if (!Number.isInteger(n) || n < 2) throw new RangeError(`frames must be an integer ≥ 2, got ${frames}`);
  return {
    frames: n,
    warmup: quick ? 3 : 20,
    cameraFrames: n * 2,
    memoryReplay: n * 3,
    gallery: quick ? 1000 : 10_000,
    queries: quick ? 200 : 2000,
    queryWarmup: quick ? 20 : 200,
    scaleSizes: quick ? [1000] : [10_000, 100_000],
    // Quick: few real windows (seconds to extract once) and a small query pool.
    photoWindows: quick ? 300 : 10_000,
    scalePool: quick ? 100 : 600,
  };
}

/** Runs every measurement in turn (never in parallel: each would steal the other's cores). */
export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const started = performance.now();
  const quick = options.quick ?? false;
  const p = plan(quick, options.frames);
  const manifest = await loadManifest(options.manifestPath);
  const inputs = await loadBenchInputs(options.spotsDir);

  options.onStage?.('extractor');
  const extractor = await runExtractorBench({ manifestPath: options.manifestPath, inputs, frames: p.frames, warmup: p.warmup });
  options.onStage?.('camera');
  const camera = await runCameraBench({ dir: options.spotsDir, frames: p.cameraFrames, streamingMs: options.quick ? 400 : 2000 });
  options.onStage?.('recognizer');
  const recognizer = await runRecognizerBench({
    gallery: p.gallery,
    dimension: manifest.output.dimension,
    queries: p.queries,
    warmup: p.queryWarmup,
    viewSigma: manifest.viewVariation?.sigma,
  });
  options.onStage?.('recognizer-scale');
  const recognizerScale = await runRecognizerScale({
    sizes: options.recognizerSizes ?? p.scaleSizes,
    manifestPath: options.manifestPath,
    photoWindows: p.photoWindows,
    poolSize: p.scalePool,
    progress: options.progress,
  });
  options.onStage?.('memory');
  const memory = await runMemoryBench({
    manifestPath: options.manifestPath,
    replay: p.memoryReplay,
    // Both kinds alternate, so both preprocessing paths are shown to be bounded.
    frames: inputs.jpeg.flatMap((frame, i) => [frame, inputs.yuv420[i]]),
  });

  return {
    schema: BENCH_SCHEMA,
    created_at: new Date().toISOString(),
    quick,
    machine: {
      cpus: cpus().length,
      cpu_model: cpus()[0]?.model.trim() ?? 'unknown',
      platform: `${platform()}-${arch()}`,
      node: process.version,
      onnxruntime: ort.env.versions.node ?? ort.env.versions.common,
    },
    extractor,
    camera,
    recognizer,
    recognizer_scale: recognizerScale,
    memory,
    seconds: round((performance.now() - started) / 1000),
  };
}
