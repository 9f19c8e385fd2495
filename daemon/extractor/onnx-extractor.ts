import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import './no-telemetry.js';
import * as ort from 'onnxruntime-node';
import type { Frame } from '../camera/types.js';
import { schemaDefault } from '../config/load.js';
import { UserError } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { normalize } from '../util/vector.js';
import { ModelOutputError } from './errors.js';
import { loadManifest, type LoadedManifest } from './manifest.js';
import { inputSpec, preprocess, type InputSpec } from './preprocess.js';
import type { Extractor } from './types.js';

export interface OnnxExtractorOptions {
  /** Path of the model's manifest (`models/<id>.json`); the model file is found beside it. */
  manifestPath: string;
  /** ONNX Runtime execution providers to try, in order, e.g. ['tensorrt', 'cuda', 'cpu']. Default ['cpu']. */
  executionProviders?: string[];
  /** Threads for one inference; default: ONNX Runtime's choice (one per physical core). */
  intraOpThreads?: number;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Let ONNX Runtime's worker threads spin after a run, waiting for the next (model.threadSpinning). */
  threadSpinning?: boolean;
  logger?: Logger;
}

/** Where the time of the latest extract() went, for the benchmark and the pipeline's own metrics. */
export interface ExtractTimings {
  preprocessMs: number;
  inferenceMs: number;
}

/**
 * The default Extractor: preprocessing (sharp for encoded pictures, in process for raw YUV420 frames) straight into
 * the model's input tensor, one ONNX Runtime session, an L2-normalised feature out. Any ONNX model described by a
 * manifest works.
 */
export class OnnxExtractor implements Extractor {
  private readonly options: OnnxExtractorOptions;
  private readonly log: Logger;
  private loaded: LoadedManifest | null = null;
  private spec: InputSpec | null = null;
  private session: ort.InferenceSession | null = null;
  private provider = '';
  private timings: ExtractTimings | null = null;

  constructor(options: OnnxExtractorOptions) {
    this.options = options;
    this.log = options.logger ?? silentLogger();
  }

  get modelId(): string {
    return this.started().manifest.id;
  }

  get dimension(): number {
    return this.started().manifest.output.dimension;
  }

  /** The validated manifest of the running model. */
  get manifest(): LoadedManifest {
    return this.started().manifest;
  }

  /** The execution provider the session runs on ('cpu' after a fallback). */
  get executionProvider(): string {
    this.started();
    return this.provider;
  }

  /** The options the running session was created with, provider included: what a comparison session must use. */
  get sessionOptions(): ort.InferenceSession.SessionOptions {
    this.started();
    return { ...this.baseSessionOptions(), executionProviders: [this.provider] };
  }

  private baseSessionOptions(): ort.InferenceSession.SessionOptions {
    const spinning = this.options.threadSpinning ?? (schemaDefault('edge', 'model.threadSpinning') as boolean);
    return {
      graphOptimizationLevel: this.options.graphOptimizationLevel ?? (schemaDefault('edge', 'model.graphOptimizationLevel') as 'all'),
      executionMode: 'sequential',
      ...(this.options.intraOpThreads ? { intraOpNumThreads: this.options.intraOpThreads } : {}),
      // Spinning workers keep cores busy after each run; on a device the next frame's decode needs them.
      extra: { session: { intra_op: { allow_spinning: spinning ? '1' : '0' } } },
    };
  }

  /** Timings of the most recent successful extract(), or null before the first. */
  get lastTimings(): ExtractTimings | null {
    return this.timings;
  }

  async start(): Promise<void> {
    if (this.session) return;
    const manifest = await loadManifest(this.options.manifestPath);
    const model = await readModel(manifest);
    const session = await this.createSession(manifest, model);
    try {
      checkSignature(session, manifest);
      this.loaded = manifest;
      this.spec = inputSpec(manifest);
      this.session = session;
      // The first run pays for kernel selection and memory planning; pay it now, not on the first frame.
      await this.infer(new Float32Array(manifest.input.shape.reduce((a, b) => a * b, 1)));
    } catch (err) {
      this.session = null;
      this.loaded = null;
      await session.release().catch(() => undefined);
      throw err;
    }
    this.log.info({ model: manifest.id, provider: this.provider, dimension: manifest.output.dimension }, 'extractor ready');
  }

  async stop(): Promise<void> {
    const session = this.session;
    this.session = null;
    if (session) await session.release();
  }

  async extract(image: Buffer | Frame): Promise<Float32Array> {
    const { manifest, spec } = this.started();
    const t0 = performance.now();
    const input = await preprocess(image, spec);
    const t1 = performance.now();
    const raw = await this.infer(input);
    const t2 = performance.now();
    let sumSq = 0;
    for (let i = 0; i < raw.length; i++) sumSq += raw[i] * raw[i];
    if (!Number.isFinite(sumSq)) {
      throw new ModelOutputError(`Model ${manifest.id} produced non-finite values (NaN or Infinity) for this picture; the model file may be broken.`);
    }
    if (sumSq === 0) {
      throw new ModelOutputError(`Model ${manifest.id} produced an all-zero feature for this picture (a blank or black frame?).`);
    }
    this.timings = { preprocessMs: t1 - t0, inferenceMs: t2 - t1 };
    const centre = manifest.output.centre;
    if (centre) for (let i = 0; i < raw.length; i++) raw[i] -= centre[i];
    return normalize(raw);
  }

  private started(): { manifest: LoadedManifest; spec: InputSpec; session: ort.InferenceSession } {
    if (!this.session || !this.loaded || !this.spec) throw new Error('OnnxExtractor: call start() first');
    return { manifest: this.loaded, spec: this.spec, session: this.session };
  }

  private async infer(data: Float32Array): Promise<Float32Array> {
    const { manifest, session } = this.started();
    const feeds = { [manifest.input.name]: new ort.Tensor('float32', data, manifest.input.shape) };
    const out = await session.run(feeds, [manifest.output.name]);
    const tensor = out[manifest.output.name];
    if (tensor.type !== 'float32' || tensor.data.length !== manifest.output.dimension) {
      throw new UserError(
        `Model ${manifestLabel(manifest)} gives ${tensor.data.length} ${tensor.type} values on output "${manifest.output.name}" but the manifest says output.dimension ${manifest.output.dimension} float32; fix the manifest or use the model it describes.`,
      );
    }
    return tensor.data as Float32Array;
  }

  /**
   * Tries the configured providers in order; one that cannot load (no CUDA libraries, no GPU) is skipped,
   * and the fallback is announced in a single log line, not one per provider.
   */
  private async createSession(manifest: LoadedManifest, model: Uint8Array): Promise<ort.InferenceSession> {
    const wanted = this.options.executionProviders?.length ? this.options.executionProviders : (schemaDefault('edge', 'model.executionProviders') as string[]);
    const base = this.baseSessionOptions();
    const unavailable: string[] = [];
    // ONNX Runtime prints its own coloured lines on stderr (one per provider that fails to load), outside
    // the JSON log. Every failure that matters also comes back as an exception, which is logged below
    // once, so keep ORT to fatal messages. The level is process-wide and fixed at ORT's first use.
    ort.env.logLevel = 'fatal';
    for (const ep of wanted) {
      try {
        // One provider per attempt: ORT itself hands nodes an accelerator cannot run to its CPU kernels,
        // while listing 'cpu' here would make ORT's JS layer drop an unknown provider with a console
        // warning and report success.
        const session = await ort.InferenceSession.create(model, { ...base, executionProviders: [ep] });
        this.provider = ep;
        if (unavailable.length > 0) this.logFallback(unavailable, ep);
        return session;
      } catch (err) {
        if (ep === 'cpu') throw modelLoadError(manifest, err);
        unavailable.push(`${ep} (${firstLine(err)})`);
      }
    }
    try {
      const session = await ort.InferenceSession.create(model, { ...base, executionProviders: ['cpu'] });
      this.provider = 'cpu';
      this.logFallback(unavailable, 'cpu');
      return session;
    } catch (err) {
      throw modelLoadError(manifest, err);
    }
  }

  private logFallback(unavailable: string[], using: string): void {
    this.log.warn({ unavailable, using }, `execution provider${unavailable.length > 1 ? 's' : ''} ${unavailable.map((u) => u.split(' ')[0]).join(', ')} unavailable; using ${using}`);
  }
}

async function readModel(manifest: LoadedManifest): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(manifest.modelPath);
  } catch (err) {
    throw new UserError(
      `Model file ${manifest.modelPath} named by field "file" of ${manifest.manifestPath} cannot be read (${(err as NodeJS.ErrnoException).code ?? firstLine(err)}); download the model again or rebuild it with \`/usr/bin/python3 scripts/build-model.py\`.`,
      { cause: err },
    );
  }
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== manifest.sha256.toLowerCase()) {
    throw new UserError(
      `Model file ${manifest.modelPath} does not match the sha256 in ${manifest.manifestPath} (file ${digest.slice(0, 12)}…, manifest ${manifest.sha256.slice(0, 12)}…); it is damaged or from another version: download it again or rebuild it with \`/usr/bin/python3 scripts/build-model.py\`.`,
    );
  }
  return bytes;
}

/** The model's real inputs and outputs must be the ones the manifest promises; all mismatches in one error. */
function checkSignature(session: ort.InferenceSession, manifest: LoadedManifest): void {
  const problems: string[] = [];
  const { input, output } = manifest;
  if (!session.inputNames.includes(input.name)) {
    problems.push(`input.name is "${input.name}" but the model's inputs are ${JSON.stringify(session.inputNames)}`);
  } else if (session.inputNames.length !== 1) {
    problems.push(`the model has ${session.inputNames.length} inputs ${JSON.stringify(session.inputNames)} but only one image input is supported`);
  }
  if (!session.outputNames.includes(output.name)) {
    problems.push(`output.name is "${output.name}" but the model's outputs are ${JSON.stringify(session.outputNames)}`);
  }
  // inputMetadata/outputMetadata came with ORT 1.23; symbolic dimensions (strings, -1) match anything.
  const inMeta = session.inputMetadata?.find((m) => m.name === input.name);
  if (inMeta?.isTensor) {
    if (inMeta.type !== 'float32') problems.push(`the model's input "${input.name}" is ${inMeta.type}, not float32`);
    const fits = inMeta.shape.length === input.shape.length && inMeta.shape.every((d, i) => typeof d !== 'number' || d < 0 || d === input.shape[i]);
    if (!fits) problems.push(`input.shape is ${JSON.stringify(input.shape)} but the model takes ${JSON.stringify(inMeta.shape)}`);
  }
  const outMeta = session.outputMetadata?.find((m) => m.name === output.name);
  if (outMeta?.isTensor) {
    const fixed = outMeta.shape.filter((d): d is number => typeof d === 'number' && d >= 0);
    const size = fixed.reduce((a, b) => a * b, 1);
    if (fixed.length === outMeta.shape.length && size !== output.dimension) {
      problems.push(`output.dimension is ${output.dimension} but the model's output has shape ${JSON.stringify(outMeta.shape)}`);
    }
  }
  if (problems.length > 0) {
    throw new UserError(
      `Model ${manifestLabel(manifest)} does not match its manifest ${manifest.manifestPath}: ${problems.join('; ')}; fix the manifest or use the model it describes.`,
    );
  }
}

function modelLoadError(manifest: LoadedManifest, err: unknown): UserError {
  return new UserError(
    `ONNX Runtime cannot load model ${manifest.modelPath} (${firstLine(err)}); download it again or rebuild it with \`/usr/bin/python3 scripts/build-model.py\`.`,
    { cause: err },
  );
}

const manifestLabel = (m: LoadedManifest): string => relative(process.cwd(), m.modelPath) || m.modelPath;
const firstLine = (err: unknown): string => (err instanceof Error ? err.message : String(err)).split('\n')[0].trim();
