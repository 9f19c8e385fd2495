import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
// sharp must be loaded on the main thread before a worker loads it: glibc would otherwise unload libvips when the
// worker ends while the process still runs (sharp's documentation, "worker threads").
import 'sharp';
import type { Frame } from '../camera/types.js';
import { silentLogger, type Logger } from '../util/log.js';
import type { LoadedManifest } from './manifest.js';
import type { ExtractTimings, OnnxExtractorOptions } from './onnx-extractor.js';
import type { Extractor } from './types.js';
import { deserializeError, type WorkerReply, type WorkerRequest } from './worker-protocol.js';

/** The worker's entry beside this file: .js once built, .ts when the tests run the sources. */
const WORKER_ENTRY = new URL(`./extraction-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

interface Waiting {
  resolve: (reply: WorkerReply) => void;
  reject: (err: Error) => void;
}

/**
 * The ONNX extractor on a worker thread (model.thread 'worker', the default). Decoding a frame and running the model
 * take milliseconds of CPU (ONNX Runtime's `run` holds the calling thread); on the daemon's own thread that time
 * would delay whatever timer falls due meanwhile — the slot timer too, and a slot that leaves late only when a
 * frame was being worked on tells the server which slots were real (docs/privacy.md, "On the wall clock"). Here
 * the frame's work runs beside the event loop, which only copies the picture over and the feature back.
 *
 * A worker that dies (a native crash in a decoder or the runtime) fails the requests it held, and the next
 * extract starts a new one: one bad moment must not stop recognition for the rest of the day.
 */
export class WorkerExtractor implements Extractor {
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private loaded: LoadedManifest | undefined;
  private provider = '';
  private timings: ExtractTimings | null = null;
  private stopping = false;
  private restarts = 0;
  private readonly log: Logger;

  constructor(private readonly options: OnnxExtractorOptions) {
    this.log = options.logger ?? silentLogger();
  }

  get modelId(): string {
    return this.started().id;
  }

  get dimension(): number {
    return this.started().output.dimension;
  }

  get manifest(): LoadedManifest {
    return this.started();
  }

  get executionProvider(): string {
    this.started();
    return this.provider;
  }

  /** Timings of the most recent successful extract(), measured on the worker. */
  get lastTimings(): ExtractTimings | null {
    return this.timings;
  }

  /** Workers started again after one died. */
  get workerRestarts(): number {
    return this.restarts;
  }

  async start(): Promise<void> {
    if (this.worker) return;
    this.stopping = false;
    await this.spawn();
    this.log.info({ model: this.loaded!.id, provider: this.provider, dimension: this.loaded!.output.dimension, thread: 'worker' }, 'extractor ready');
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.stopping = true;
    // Release the session on its own thread first; terminate() alone would leave ONNX Runtime's memory to the exit.
    await this.request({ type: 'stop', id: this.nextId++ }).catch(() => undefined);
    this.worker = undefined;
    await worker.terminate();
  }

  async extract(image: Buffer | Frame): Promise<Float32Array> {
    this.started();
    if (!this.worker) {
      // The last worker died; this frame gets a new one.
      this.restarts++;
      await this.spawn();
    }
    const id = this.nextId++;
    // A copy the worker owns: a Buffer is often a window on a larger pooled or stream buffer, which cloning
    // would copy whole and transferring would take from its other users.
    const bytes = new Uint8Array(Buffer.isBuffer(image) ? image : image.data);
    const request: WorkerRequest = Buffer.isBuffer(image)
      ? { type: 'extract', id, image: bytes }
      : { type: 'extract', id, frame: { ...image, data: bytes } };
    const reply = await this.request(request, [bytes.buffer]);
    if (reply.type !== 'feature') throw new Error(`extraction worker answered '${reply.type}' to an extract request`);
    this.timings = reply.timings;
    return reply.feature;
  }

  private started(): LoadedManifest {
    if (!this.loaded) throw new Error('WorkerExtractor: call start() first');
    return this.loaded;
  }

  private async spawn(): Promise<void> {
    const { logger: _logger, ...workerOptions } = this.options;
    const worker = new Worker(WORKER_ENTRY, { workerData: workerOptions });
    this.worker = worker;
    worker.on('message', (reply: WorkerReply) => this.onReply(reply));
    worker.on('error', (err) => this.onGone(worker, `extraction worker failed: ${err.message}`));
    worker.on('exit', (code) => this.onGone(worker, `extraction worker exited with code ${code}`));
    try {
      const reply = await this.request({ type: 'start', id: this.nextId++ });
      if (reply.type !== 'started') throw new Error(`extraction worker answered '${reply.type}' to start`);
      this.loaded = reply.manifest;
      this.provider = reply.provider;
    } catch (err) {
      this.worker = undefined;
      await worker.terminate();
      throw err;
    }
  }

  private request(message: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    const worker = this.worker;
    if (!worker) return Promise.reject(new Error('extraction worker is not running'));
    return new Promise<WorkerReply>((resolve, reject) => {
      this.waiting.set(message.id, { resolve, reject });
      worker.postMessage(message, transfer);
    });
  }

  private onReply(reply: WorkerReply): void {
    const waiting = this.waiting.get(reply.id);
    if (!waiting) return;
    this.waiting.delete(reply.id);
    if (reply.type === 'failed') waiting.reject(deserializeError(reply.error));
    else waiting.resolve(reply);
  }

  private onGone(worker: Worker, reason: string): void {
    if (this.worker !== worker && this.worker !== undefined) return;
    this.worker = undefined;
    if (!this.stopping) this.log.warn({ reason }, 'extraction worker stopped; the next frame starts a new one');
    for (const [id, waiting] of this.waiting) {
      this.waiting.delete(id);
      waiting.reject(new Error(reason));
    }
  }
}
