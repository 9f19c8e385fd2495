/**
 * The soak's side of one forked process (worker.ts): start it, ask it for its V8 heap and counters, kill it with any
 * signal. Memory and open files are read from /proc by the soak itself (probe.ts), so a hung or dying process is
 * measured too.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { UserError } from '../util/errors.js';

export type WorkerRole = 'edge' | 'recognizer';

/** Counters a worker reports: the edge's pipeline, or the recognizer's endpoint. */
export type WorkerCounters = Record<string, number>;

/** A result the edge acknowledged (emitted after its row was committed to SQLite). */
export interface AckedResult {
  at: number;
  label: string | undefined;
  /** Answered from a recognizer's reply, not the local cache. */
  queried: boolean;
  /** When the soak received it, ms since epoch. */
  receivedAt: number;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'result'; at: number; label?: string; queried: boolean }
  | { type: 'usage'; id: number; heapUsedBytes: number; counters: WorkerCounters };

export type ToWorker = { type: 'usage'; id: number };

const workerPath = fileURLToPath(new URL('./worker.js', import.meta.url));

export class SoakChild extends EventEmitter<{ result: [AckedResult] }> {
  private nextId = 0;
  private readonly waiting = new Map<number, (m: Extract<FromWorker, { type: 'usage' }>) => void>();
  /** Resolves when the process has exited, however it ended. */
  readonly exited: Promise<void>;
  private alive = true;
  /** The latest counters it reported (they stay readable after it is killed). */
  lastCounters: WorkerCounters = {};

  private constructor(
    readonly role: WorkerRole,
    private readonly child: ChildProcess,
  ) {
    super();
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      this.alive = false;
    });
    child.on('message', (m: FromWorker) => {
      if (m.type === 'result') this.emit('result', { at: m.at, label: m.label, queried: m.queried, receivedAt: Date.now() });
      else if (m.type === 'usage') {
        this.lastCounters = m.counters;
        this.waiting.get(m.id)?.(m);
        this.waiting.delete(m.id);
      }
    });
    // A soak that is itself killed must not leave its processes behind: the worker exits when the channel closes.
    child.on('error', () => undefined);
  }

  /** Forks `worker.js <role> <profile>` and resolves once the service has started. */
  static async start(role: WorkerRole, profile: string, startTimeoutMs = 120_000): Promise<SoakChild> {
    const child = fork(workerPath, [role, profile], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const handle = new SoakChild(role, child);
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new UserError(`the soak's ${role} did not start within ${startTimeoutMs / 1000} s.`)), startTimeoutMs);
      child.on('message', (m: FromWorker) => {
        if (m.type !== 'ready') return;
        clearTimeout(timer);
        resolve();
      });
      void handle.exited.then(() => {
        clearTimeout(timer);
        reject(new UserError(`the soak's ${role} exited while starting (exit code ${child.exitCode}); its log is above.`));
      });
    });
    try {
      await ready;
    } catch (err) {
      await handle.stop();
      throw err;
    }
    return handle;
  }

  get pid(): number | undefined {
    return this.alive ? this.child.pid : undefined;
  }

  /** Heap in use and counters, or undefined when the process does not answer in time (stopped, killed). */
  async usage(timeoutMs = 2_000): Promise<{ heapUsedBytes: number; counters: WorkerCounters } | undefined> {
    if (!this.alive || !this.child.connected) return undefined;
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.waiting.set(id, (m) => {
        clearTimeout(timer);
        resolve({ heapUsedBytes: m.heapUsedBytes, counters: m.counters });
      });
      this.child.send({ type: 'usage', id } satisfies ToWorker, (err) => {
        if (err) this.waiting.get(id)?.({ type: 'usage', id, heapUsedBytes: NaN, counters: this.lastCounters });
      });
    });
  }

  /** Sends a signal (SIGKILL for the crash faults); resolves at once. */
  kill(signal: NodeJS.Signals): void {
    if (this.alive) this.child.kill(signal);
  }

  /** SIGTERM, the way systemd stops a service; SIGKILL when it has not exited within `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGCONT');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
