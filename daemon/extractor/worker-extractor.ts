import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
// sharp must be loaded on the main thread before a worker loads it: glibc would otherwise unload libvips when the
// worker ends while the process still runs (sharp's documentation, "worker threads").
import 'sharp';
import type { Frame } from '../camera/types.js';
import { silentLogger, type Logger } from '../util/log.js';
import { WorkerClient, type WithoutId } from '../util/worker-client.js';
import type { LoadedManifest } from './manifest.js';
import type { ExtractTimings, OnnxExtractorOptions } from './onnx-extractor.js';
import type { Extractor } from './types.js';
import { deserializeError, type WorkerReply, type WorkerRequest } from './worker-protocol.js';

/** The worker's entry beside this file: .js once built, .ts when the tests run the sources. */
const WORKER_ENTRY = new URL(`./extraction-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

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
  private worker: WorkerClient<WorkerRequest, WorkerReply> | undefined;
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
    await worker.request({ type: 'stop' }).catch(() => undefined);
    this.worker = undefined;
    await worker.terminate();
  }

  async extract(image: Buffer | Frame): Promise<Float32Array> {
    this.started();
    if (!this.worker?.alive) {
      // The last worker died; this frame gets a new one.
      this.restarts++;
      await this.spawn();
    }
    // A copy the worker owns: a Buffer is often a window on a larger pooled or stream buffer, which cloning
    // would copy whole and transferring would take from its other users.
    const bytes = new Uint8Array(Buffer.isBuffer(image) ? image : image.data);
    const request: WithoutId<WorkerRequest> = Buffer.isBuffer(image)
      ? { type: 'extract', image: bytes }
      : { type: 'extract', frame: { ...image, data: bytes } };
    const reply = await this.worker!.request(request, [bytes.buffer]);
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
    const worker = new WorkerClient<WorkerRequest, WorkerReply>(WORKER_ENTRY, {
      name: 'extraction worker',
      workerData: workerOptions,
      deserializeError,
      onGone: (reason) => {
        if (!this.stopping) this.log.warn({ reason }, 'extraction worker stopped; the next frame starts a new one');
      },
    });
    this.worker = worker;
    try {
      const reply = await worker.request({ type: 'start' });
      if (reply.type !== 'started') throw new Error(`extraction worker answered '${reply.type}' to start`);
      this.loaded = reply.manifest;
      this.provider = reply.provider;
    } catch (err) {
      this.worker = undefined;
      await worker.terminate();
      throw err;
    }
  }
}
