import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import '../extractor/no-telemetry.js';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import type { Frame } from '../camera/types.js';
import { OnnxExtractor } from '../extractor/onnx-extractor.js';
import { inputSpec, preprocess, type InputSpec } from '../extractor/preprocess.js';
import { seededRandom } from '../util/random.js';
import { msFields, round, summarize, type TimingSummary } from '../util/stats.js';
import type { BenchInputs } from './inputs.js';

/**
 * Issue #11 (DESIGN §7): frame→feature time at most this many times (decode floor + bare inference), where the decode
 * floor is the least any in-process preprocessing must spend on that input kind (see decodeFloor).
 */
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
  /** model.threadSpinning (default: the profile schema's); the bare session takes the same. */
  threadSpinning?: boolean;
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
  /** The decode floor: bare sharp from this input to model-sized RGB, the step no preprocessing can skip (decodeFloor). */
  decode: Ms;
  /** Frames per second one extractor sustains: 1000 / pipeline mean. */
  fps: number;
  /** pipeline p50 / (decode p50 + bare inference p50): the target ratio (≤ 1.15). */
  pipeline_over_decode_plus_inference: number;
  /** Same with means (includes the tails). */
  pipeline_over_decode_plus_inference_mean: number;
  /** pipeline p50 / bare inference p50: what preprocessing adds to the model alone, decode included. */
  pipeline_over_inference: number;
  /** Same with means. */
  pipeline_over_inference_mean: number;
  /** preprocess mean / pipeline mean: how much of a frame's time is not the model. */
  preprocess_share: number;
  /** pipeline_over_decode_plus_inference ≤ target. */
  target_met: boolean;
}

export interface ExtractorBenchResult {
  model: { id: string; dimension: number; input_shape: number[]; provider: string };
  images: number;
  frames: number;
  warmup: number;
  target_pipeline_over_decode_plus_inference: number;
  /** session.run on a tensor made before timing, on a second session with the extractor's options. */
  inference: Ms & { fps: number };
  inputs: { jpeg: InputKindResult; yuv420: InputKindResult };
}

type Kind = keyof BenchInputs;
const KINDS: Kind[] = ['jpeg', 'yuv420'];

/**
 * Times the full extractor against bare ONNX Runtime inference of the same model and each input kind's decode floor.
 * The five measurements (bare inference, two pipelines, two floors) are interleaved round by round, in an order
 * shuffled each round (seeded, so runs repeat), so machine noise (another process, CPU frequency) lands on all of
 * them alike and their ratios stay meaningful on a busy machine. Shuffled, not rotated: in a rotation each step
 * always follows the same one, so whatever a step leaves behind (ONNX Runtime's worker threads may spin a moment
 * after a run; caches) always lands on the same successor: with five steps rotated, the YUV floor never followed a
 * model run while the YUV pipeline always did.
 */
export async function runExtractorBench(options: ExtractorBenchOptions): Promise<ExtractorBenchResult> {
  const extractor = new OnnxExtractor({
    manifestPath: options.manifestPath,
    executionProviders: options.executionProviders,
    intraOpThreads: options.intraOpThreads,
    threadSpinning: options.threadSpinning,
  });
  await extractor.start();
  let bare: BareInference | null = null;
  try {
    bare = await BareInference.create(extractor);
    const spec = inputSpec(extractor.manifest);
    const tensor = await preprocess(options.inputs.jpeg[0], spec);
    bare.prepare(tensor);
    const floors = { jpeg: decodeFloor('jpeg', options.inputs.jpeg, spec), yuv420: decodeFloor('yuv420', options.inputs.yuv420, spec) };

    const samples = {
      bare: [] as number[],
      pipeline: { jpeg: [] as number[], yuv420: [] as number[] },
      preprocess: { jpeg: [] as number[], yuv420: [] as number[] },
      inference: { jpeg: [] as number[], yuv420: [] as number[] },
      decode: { jpeg: [] as number[], yuv420: [] as number[] },
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
      ...KINDS.map((kind) => async (timed: boolean, round: number) => {
        const ms = await floors[kind](round % options.inputs[kind].length);
        if (timed) samples.decode[kind].push(ms);
      }),
    ];
    const rounds = options.warmup + options.frames;
    const order = steps.map((_, i) => i);
    const random = seededRandom(11);
    for (let round = 0; round < rounds; round++) {
      const timed = round >= options.warmup;
      for (const s of random.shuffle(order)) await steps[s](timed, round);
    }

    const bareSummary = summarize(samples.bare);
    const kindResult = (kind: Kind): InputKindResult => {
      const pipeline = summarize(samples.pipeline[kind]);
      const pre = summarize(samples.preprocess[kind]);
      const decode = summarize(samples.decode[kind]);
      const first = options.inputs[kind][0];
      const ratio = pipeline.p50 / (decode.p50 + bareSummary.p50);
      return {
        width: first.width ?? 0,
        height: first.height ?? 0,
        pipeline: msFields(pipeline),
        preprocess: msFields(pre),
        inference_in_pipeline: msFields(summarize(samples.inference[kind])),
        decode: msFields(decode),
        fps: round(1000 / pipeline.mean),
        pipeline_over_decode_plus_inference: round(ratio),
        pipeline_over_decode_plus_inference_mean: round(pipeline.mean / (decode.mean + bareSummary.mean)),
        pipeline_over_inference: round(pipeline.p50 / bareSummary.p50),
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
      target_pipeline_over_decode_plus_inference: PIPELINE_TARGET_RATIO,
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
 * The decode floor of one input kind: a timer of bare sharp turning frame i into model-sized 8-bit RGB (or YUV), the
 * step any in-process preprocessing must pay before the model can run. What the pipeline spends beyond it (our
 * sharp options, colour conversion, tensor fill, ORT call, output checks, normalisation) is overhead.
 *
 * - JPEG: sharp decoding the same JPEG straight to the model size. sharp's shrink-on-load is on by default
 *   (`fastShrinkOnLoad: true`): libjpeg decodes at 1/2, 1/4 or 1/8 scale when the resize allows. sharp steps
 *   one scale down when the shrink's integer part equals it (a libjpeg rounding issue), so 640x400 → 160x160, a
 *   2.5x shrink on the short side, decodes at full size, and 640x400 → 128x128 (3.1x) at 1/2; the pipeline's
 *   decode gets the same treatment.
 * - YUV420: sharp resizing the frame's pixels to the model size, from one 3-channel image of the frame
 *   (interleaveYuv420: at chroma resolution, luma averaged 2x2, when the model is at most half the frame). An I420
 *   frame carries one colour sample per 2x2 block, so that image is all the frame's colour information at the fewest
 *   pixels, and sharp's resample of it to the model size is the reference: what a bare library resize of the frame
 *   costs. Interleaving is left out of the floor (prepared before timing), so is the YUV→RGB matrix. The pipeline
 *   itself no longer calls sharp for raw frames (it area-resamples the planes in process, yuv420.ts), and its whole
 *   conversion counts against it; this floor is the same as before that change, so figures stay comparable.
 *   Resizing the full 640x480 frame instead would make the floor more work than a conversion needs and flatter the
 *   ratio.
 *
 * Inputs of the floor are prepared before timing (the YUV images here, the JPEGs by loadBenchInputs).
 */
function decodeFloor(kind: Kind, frames: Frame[], spec: InputSpec): (i: number) => Promise<number> {
  const resize = { fit: spec.fit } as const;
  if (kind === 'jpeg') {
    return async (i) => {
      const t0 = performance.now();
      await sharp(frames[i].data).resize(spec.width, spec.height, resize).raw().toBuffer();
      return performance.now() - t0;
    };
  }
  const images = frames.map((frame) => interleaveYuv420(frame, spec));
  return async (i) => {
    const { data, width, height } = images[i];
    const t0 = performance.now();
    await sharp(data, { raw: { width, height, channels: 3 } }).resize(spec.width, spec.height, resize).raw().toBuffer();
    return performance.now() - t0;
  };
}

/**
 * The one 3-channel YUV image the YUV decode floor hands sharp (the pipeline's own conversion until it moved in
 * process): at chroma resolution (luma averaged 2x2) when the model input is at most half the frame, at full
 * resolution (each chroma sample repeated over its 2x2 block) otherwise. Bench frames are whole I420 frames.
 */
function interleaveYuv420(frame: Frame, spec: Pick<InputSpec, 'width' | 'height'>): { data: Buffer; width: number; height: number } {
  const { width: w = 0, height: h = 0, data } = frame;
  const cw = (w + 1) >> 1;
  const ch = (h + 1) >> 1;
  if (w <= 0 || h <= 0 || data.length !== w * h + 2 * cw * ch) throw new RangeError(`not an I420 frame: ${w}x${h}, ${data.length} bytes`);
  const half = spec.width * 2 <= w && spec.height * 2 <= h;
  return half ? { data: interleaveHalf(data, w, h, cw, ch), width: cw, height: ch } : { data: interleaveFull(data, w, h, cw, ch), width: w, height: h };
}

/** Y averaged 2x2 down to the chroma grid, interleaved with U and V: cw*ch*3 bytes. */
function interleaveHalf(data: Buffer, w: number, h: number, cw: number, ch: number): Buffer {
  const out = Buffer.allocUnsafe(cw * ch * 3);
  const u = w * h;
  const v = u + cw * ch;
  for (let y = 0; y < ch; y++) {
    const r0 = 2 * y * w;
    const r1 = Math.min(2 * y + 1, h - 1) * w; // odd heights repeat the last row
    for (let x = 0; x < cw; x++) {
      const x0 = 2 * x;
      const x1 = Math.min(x0 + 1, w - 1);
      const i = 3 * (y * cw + x);
      out[i] = (data[r0 + x0] + data[r0 + x1] + data[r1 + x0] + data[r1 + x1] + 2) >> 2;
      out[i + 1] = data[u + y * cw + x];
      out[i + 2] = data[v + y * cw + x];
    }
  }
  return out;
}

/** Full-resolution Y with each chroma sample repeated over its 2x2 block: w*h*3 bytes. */
function interleaveFull(data: Buffer, w: number, h: number, cw: number, ch: number): Buffer {
  const out = Buffer.allocUnsafe(w * h * 3);
  const u = w * h;
  const v = u + cw * ch;
  for (let y = 0; y < h; y++) {
    const c = (y >> 1) * cw;
    for (let x = 0; x < w; x++) {
      const i = 3 * (y * w + x);
      out[i] = data[y * w + x];
      out[i + 1] = data[u + c + (x >> 1)];
      out[i + 2] = data[v + c + (x >> 1)];
    }
  }
  return out;
}

/**
 * The reference: one ORT session on the same model bytes, provider and session options as OnnxExtractor
 * (its `sessionOptions`: optimisation level, sequential execution, intra-op threads, spinning), timed around
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

  static async create(extractor: OnnxExtractor): Promise<BareInference> {
    const manifest = extractor.manifest;
    const model = await readFile(manifest.modelPath);
    const session = await ort.InferenceSession.create(model, extractor.sessionOptions);
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
