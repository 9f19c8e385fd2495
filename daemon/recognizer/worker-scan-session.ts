import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger, type Logger } from '../util/log.js';
import { WorkerClient } from '../util/worker-client.js';
import type { ScanBatch, ScanOutputs, ScanSession } from './scan-session.js';
import type { ScanReply, ScanRequest } from './scan-worker-protocol.js';

/** The worker's entry beside this file: .js once built, .ts when the tests run the sources. */
const WORKER_ENTRY = new URL(`./scan-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

export interface WorkerScanOptions {
  /** The graph's bytes; called again to open a new worker after one died (the first bytes were moved to it). */
  buildModel: () => Uint8Array;
  threads: number;
  logger?: Logger;
}

/**
 * The scan on a worker thread (index.thread 'worker', the default): the recognizer's thread keeps reading queries and
 * sending replies while a batch is scored, and orders one batch's answers while the next is scored. A worker that dies
 * (a native crash in the runtime) fails the batch it held, and the next batch opens a new one.
 */
export class WorkerScanSession implements ScanSession {
  private client: WorkerClient<ScanRequest, ScanReply> | undefined;
  private opening: Promise<void> | undefined;
  private releasing = false;
  /** Workers opened again after one died. */
  restarts = 0;
  private readonly log: Logger;

  private constructor(private readonly options: WorkerScanOptions) {
    this.log = options.logger ?? silentLogger();
  }

  static async create(options: WorkerScanOptions): Promise<WorkerScanSession> {
    const session = new WorkerScanSession(options);
    await session.open();
    return session;
  }

  async run(batch: ScanBatch): Promise<ScanOutputs> {
    if (this.releasing) throw new Error('the scan session is released');
    if (!this.client?.alive) {
      this.restarts++;
      await this.open();
    }
    // The batch's arrays were built for this call alone, so they are moved rather than copied.
    const transfer = [batch.queries.buffer, batch.queryBytes?.buffer].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
    const reply = await this.client!.request({ type: 'run', batch }, transfer);
    if (reply.type !== 'scanned') throw new Error(`scan worker answered '${reply.type}' to a batch`);
    return { scores: reply.scores, indices: reply.indices };
  }

  async release(): Promise<void> {
    this.releasing = true;
    await this.opening?.catch(() => undefined);
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    // Release the session on its own thread first; terminate() alone would leave ONNX Runtime's memory to the exit.
    await client.request({ type: 'release' }).catch(() => undefined);
    await client.terminate();
  }

  /** One worker opening at a time, however many batches find the last one gone. */
  private open(): Promise<void> {
    this.opening ??= this.spawn().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private async spawn(): Promise<void> {
    const client = new WorkerClient<ScanRequest, ScanReply>(WORKER_ENTRY, {
      name: 'scan worker',
      onGone: (reason) => {
        if (!this.releasing) this.log.warn({ reason }, 'scan worker stopped; the next batch starts a new one');
      },
    });
    const model = this.options.buildModel();
    try {
      const reply = await client.request({ type: 'open', model, threads: this.options.threads }, [model.buffer as ArrayBuffer]);
      if (reply.type !== 'opened') throw new Error(`scan worker answered '${reply.type}' to open`);
    } catch (err) {
      await client.terminate();
      throw err;
    }
    this.client = client;
  }
}
