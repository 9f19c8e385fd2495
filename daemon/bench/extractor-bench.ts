import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import '../extractor/no-telemetry.js';
import * as ort from 'onnxruntime-node';
import type { Frame } from '../camera/types.js';
import { OnnxExtractor } from '../extractor/onnx-extractor.js';
import { inputSpec, preprocess } from '../extractor/preprocess.js';
import { msFields, round, summarize, type TimingSummary } from '../util/stats.js';
import type { BenchInputs } from './inputs.js';

/** DESIGN §7: frame→feature time at most this many times the bare inference time. */
export const PIPELINE_TARGET_RATIO = 1.15;

export interface ExtractorBenchOptions {
  manifestPath: string;
  inputs: BenchInputs;
  /** Timed rounds; each round runs every input kind and the bare inference once. */
  frames: number;
  /** Untimed rounds first (kernel selection, sharp's thread pool, JIT). */
  warmup: number;
  executionProviders?: string[];
  intraOpThreads?: number;
}

type Ms = { mean_ms: number; p50_ms: number; p99_ms: number };

export interface InputKindResult {
  width: number;
  height: number;
  /** Whole extract(): decode/convert + resize + tensor fill + ORT + output checks + L2 normalisation. */
  pipeline: Ms;
  /** Of which sharp decode/resize and tensor fill. */
  preprocess: Ms;
  /** Of which ORT run inside the extractor. */
  inference_in_pipeline: Ms;
  /** Frames per second one extractor sustains: 1000 / pipeline mean. */
  fps: number;
  /** pipeline p50 / bare inference p50 (DESIGN target ≤ 1.15). */
  pipeline_over_inference: number;
  /** Same with means (includes the tails). */
  pipeline_over_inference_mean: number;
  /** preprocess mean / pipeline mean: how much of a frame's time is not the model. */
  preprocess_share: number;
  target_met: boolean;
}

export interface ExtractorBenchResult {
  model: { id: string; dimension: number; input_shape: number[]; provider: string };
  images: number;
  frames: number;
  warmup: number;
  target_pipeline_over_inference: number;
  /** session.run on a tensor made before timing, on a second session with the extractor's options. */
  inference: Ms & { fps: number };
  inputs: { jpeg: InputKindResult; yuv420: InputKindResult };
}

type Kind = keyof BenchInputs;
const KINDS: Kind[] = ['jpeg', 'yuv420'];

/**
 * Times the full extractor against bare ONNX Runtime inference of the same model. The three measurements are
 * interleaved round by round, with the order rotated each round, so machine noise (another process, CPU
 * frequency) lands on all of them alike and their ratio stays meaningful on a busy machine.
 */
export async function runExtractorBench(options: ExtractorBenchOptions): Promise<ExtractorBenchResult> {
  const extractor = new OnnxExtractor({
    manifestPath: options.manifestPath,
    executionProviders: options.executionProviders,
    intraOpThreads: options.intraOpThreads,
  });
  await extractor.start();
  let bare: BareInference | null = null;
  try {
    bare = await BareInference.create(extractor, options.intraOpThreads);
    const tensor = await preprocess(options.inputs.jpeg[0], inputSpec(extractor.manifest));
    bare.prepare(tensor);

    const samples = {
      bare: [] as number[],
      pipeline: { jpeg: [] as number[], yuv420: [] as number[] },
      preprocess: { jpeg: [] as number[], yuv420: [] as number[] },
      inference: { jpeg: [] as number[], yuv420: [] as number[] },
    };
    const steps: Array<(timed: boolean, round: number) => Promise<void>> = [
      async (timed) => {
        const ms = await bare!.run();
        if (timed) samples.bare.push(ms);
      },
      ...KINDS.map((kind) => async (timed: boolean, round: number) => {
        const frames = options.inputs[kind];
        const frame: Frame = frames[round % frames.length];
        const t0 = performance.now();
        await extractor.extract(frame);
        const ms = performance.now() - t0;
        if (!timed) return;
        const t = extractor.lastTimings!;
        samples.pipeline[kind].push(ms);
        samples.preprocess[kind].push(t.preprocessMs);
        samples.inference[kind].push(t.inferenceMs);
      }),
    ];
    const rounds = options.warmup + options.frames;
    for (let round = 0; round < rounds; round++) {
      const timed = round >= options.warmup;
      for (let s = 0; s < steps.length; s++) await steps[(round + s) % steps.length](timed, round);
    }

    const bareSummary = summarize(samples.bare);
    const kindResult = (kind: Kind): InputKindResult => {
      const pipeline = summarize(samples.pipeline[kind]);
      const pre = summarize(samples.preprocess[kind]);
      const first = options.inputs[kind][0];
      const ratio = pipeline.p50 / bareSummary.p50;
      return {
        width: first.width ?? 0,
        height: first.height ?? 0,
        pipeline: msFields(pipeline),
        preprocess: msFields(pre),
        inference_in_pipeline: msFields(summarize(samples.inference[kind])),
        fps: round(1000 / pipeline.mean),
        pipeline_over_inference: round(ratio),
        pipeline_over_inference_mean: round(pipeline.mean / bareSummary.mean),
        preprocess_share: round(pre.mean / pipeline.mean, 3),
        target_met: ratio <= PIPELINE_TARGET_RATIO,
      };
    };
    return {
      model: {
        id: extractor.modelId,
        dimension: extractor.dimension,
        input_shape: [...extractor.manifest.input.shape],
        provider: extractor.executionProvider,
      },
      images: options.inputs.jpeg.length,
      frames: options.frames,
      warmup: options.warmup,
      target_pipeline_over_inference: PIPELINE_TARGET_RATIO,
      inference: { ...msFields(bareSummary), fps: fps(bareSummary) },
      inputs: { jpeg: kindResult('jpeg'), yuv420: kindResult('yuv420') },
    };
  } finally {
    await bare?.release();
    await extractor.stop();
  }
}

const fps = (s: TimingSummary): number => round(1000 / s.mean);

/**
 * The reference: one ORT session on the same model bytes, provider and session options as OnnxExtractor
 * (graphOptimizationLevel 'all', sequential execution, the same intra-op thread count), timed around
 * session.run only.
 */
class BareInference {
  private feeds: Record<string, ort.Tensor> | null = null;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly inputName: string,
    private readonly outputName: string,
    private readonly shape: number[],
  ) {}

  static async create(extractor: OnnxExtractor, intraOpThreads: number | undefined): Promise<BareInference> {
    const manifest = extractor.manifest;
    const model = await readFile(manifest.modelPath);
    const session = await ort.InferenceSession.create(model, {
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      executionProviders: [extractor.executionProvider],
      ...(intraOpThreads ? { intraOpNumThreads: intraOpThreads } : {}),
    });
    const bare = new BareInference(session, manifest.input.name, manifest.output.name, manifest.input.shape);
    return bare;
  }

  prepare(data: Float32Array): void {
    this.feeds = { [this.inputName]: new ort.Tensor('float32', data, this.shape) };
  }

  async run(): Promise<number> {
    if (!this.feeds) throw new Error('BareInference: call prepare() first');
    const t0 = performance.now();
    await this.session.run(this.feeds, [this.outputName]);
    return performance.now() - t0;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
