/**
 * The calling side of a worker thread that answers requests: each request carries an id, its reply the same id. Used
 * by the extractor (extractor/worker-extractor.ts) and the recognizer's scan (recognizer/worker-scan-session.ts), each
 * with its own messages. A worker that dies fails every request it held with the reason; the owner decides whether
 * to start another.
 */
import { Worker } from 'node:worker_threads';

/** An error as it crosses a thread: structured cloning keeps neither the class nor the stack. */
export interface SerializedError {
  name: string;
  message: string;
}

export function serializeError(err: unknown): SerializedError {
  return err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
}

/** A plain Error carrying the name it had on the other thread. */
export function plainError(e: SerializedError): Error {
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

/** What both sides of every such worker send: an id, a type, and on failure the error. */
export interface ThreadMessage {
  id: number;
  type: string;
}
export interface FailedReply {
  id: number;
  type: 'failed';
  error: SerializedError;
}

/** A request as its sender writes it: the client numbers it. */
export type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export interface WorkerClientOptions {
  /** Said in errors and in the reason a worker stopped, e.g. 'extraction worker'. */
  name: string;
  workerData?: unknown;
  /** The error class the worker threw, rebuilt on this side (default: a plain Error with its name). */
  deserializeError?: (e: SerializedError) => Error;
  /** Called once when the worker exits or fails, after every waiting request was failed. */
  onGone?: (reason: string) => void;
}

interface Waiting<Reply> {
  resolve: (reply: Reply) => void;
  reject: (err: Error) => void;
}

export class WorkerClient<Request extends ThreadMessage, Reply extends ThreadMessage> {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, Waiting<Reply>>();
  private nextId = 1;
  private goneReason: string | undefined;

  constructor(
    entry: URL,
    private readonly options: WorkerClientOptions,
  ) {
    this.worker = new Worker(entry, { workerData: options.workerData });
    this.worker.on('message', (reply: Reply | FailedReply) => this.onReply(reply));
    this.worker.on('error', (err) => this.onGone(`${options.name} failed: ${err.message}`));
    this.worker.on('exit', (code) => this.onGone(`${options.name} exited with code ${code}`));
  }

  /** False once the worker has exited or failed. */
  get alive(): boolean {
    return this.goneReason === undefined;
  }

  /** Sends a request; resolves with its reply, rejects with the worker's error or with why the worker stopped. */
  request(message: WithoutId<Request>, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.goneReason !== undefined) return Promise.reject(new Error(this.goneReason));
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }

  private onReply(reply: Reply | FailedReply): void {
    const waiting = this.waiting.get(reply.id);
    if (!waiting) return;
    this.waiting.delete(reply.id);
    if (reply.type === 'failed') waiting.reject((this.options.deserializeError ?? plainError)((reply as FailedReply).error));
    else waiting.resolve(reply as Reply);
  }

  private onGone(reason: string): void {
    if (this.goneReason !== undefined) return;
    this.goneReason = reason;
    for (const [id, waiting] of this.waiting) {
      this.waiting.delete(id);
      waiting.reject(new Error(reason));
    }
    this.options.onGone?.(reason);
  }
}
