/**
 * The wiretap of a wall-clock run (`enfpire eval --time wall`), reading the broker on a worker thread of its own
 * (`wiretap-worker.ts`). On the eval's main thread, which also runs every simulated device, a message would be stamped
 * only when that busy event loop got round to it, and the timing attacks would read the devices' own event-loop
 * delay instead of what the broker delivered. A real server stamps on its own machine; the thread stands in for it
 * (docs/privacy.md, "On the wall clock"). Records, pairing and waiting are the in-process `Wiretap`'s (`TapLedger`).
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { BrokerOptions } from '../transport/broker.js';
import type { WireLimits } from '../transport/messages.js';
import { UserError } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { TapLedger, type ServerTap } from './tap-ledger.js';
import type { TapThreadOptions, TapThreadReply, TapThreadRequest } from './wiretap-protocol.js';

/** The worker's entry beside this file: .js once built, .ts when the tests run the sources. */
const WORKER_ENTRY = new URL(`./wiretap-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/** How long stop() waits for the thread to close its client before terminating it. */
const STOP_GRACE_MS = 3_000;

export interface ThreadedWiretapOptions extends BrokerOptions {
  limits: WireLimits;
  /**
   * Wall-clock ms since the epoch that the stamps count from, read as records come in, so the owner may fix it once
   * the tap is up (default 0: records hold ms since the epoch).
   */
  origin?: () => number;
  /** Every spot id of the recognizer's gallery, to read replies by spot digest as the server would (here, not in the thread). */
  galleryIds: readonly string[];
  logger?: Logger;
}

export class ThreadedWiretap extends TapLedger implements ServerTap {
  private worker: Worker | undefined;
  private stopping = false;
  /** Resolves the pending stop() when the thread says it stopped or is gone. */
  private onStopped: (() => void) | undefined;
  private readonly log: Logger;

  constructor(private readonly options: ThreadedWiretapOptions) {
    super(options.galleryIds);
    this.log = options.logger ?? silentLogger();
  }

  /** Resolves once the thread is connected and subscribed; rejects (the thread ended) when it could not connect. */
  start(): Promise<void> {
    if (this.worker) return Promise.resolve();
    const { logger: _logger, origin: _origin, galleryIds: _galleryIds, ...tapOptions } = this.options;
    const workerData: TapThreadOptions = tapOptions;
    const worker = new Worker(WORKER_ENTRY, { workerData });
    this.worker = worker;
    this.stopping = false;
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (reply: TapThreadReply) => {
        if (reply.type === 'ready') resolve();
        else if (reply.type === 'failed') {
          reject(reply.error.name === 'UserError' ? new UserError(reply.error.message) : Object.assign(new Error(reply.error.message), { name: reply.error.name }));
          void this.stop();
        } else this.onReply(reply);
      });
      worker.on('error', (err) => {
        reject(err);
        this.log.warn({ err: err.message }, 'wiretap thread failed');
      });
      worker.on('exit', (code) => {
        reject(new Error(`wiretap thread exited with code ${code} before it connected`));
        // Queries it would have seen are missing; waitFor times out and the fleet goes on without them.
        if (!this.stopping) this.log.warn({ code }, 'wiretap thread exited; later queries go unrecorded');
        if (this.worker === worker) this.worker = undefined;
        this.onStopped?.();
      });
    });
  }

  /** Closes the thread's client; every record the thread stamped before is in `records` when this resolves. */
  async stop(): Promise<void> {
    const worker = this.worker;
    if (!worker || this.stopping) return;
    this.stopping = true;
    const stopped = new Promise<void>((resolve) => (this.onStopped = resolve));
    worker.postMessage({ type: 'stop' } satisfies TapThreadRequest);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([stopped, new Promise((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS)))]);
    clearTimeout(timer);
    this.onStopped = undefined;
    this.worker = undefined;
    await worker.terminate();
  }

  private onReply(reply: TapThreadReply): void {
    switch (reply.type) {
      case 'tapped': {
        const origin = this.options.origin?.() ?? 0;
        // To the µs: finer digits are float noise and would only lengthen every line of `--record`.
        for (const { message, t } of reply.batch) this.add(message, Math.round((t - origin) * 1000) / 1000);
        return;
      }
      case 'warning':
        this.log.warn({ err: reply.message }, reply.what);
        return;
      case 'stopped':
        this.onStopped?.();
        return;
    }
  }
}
