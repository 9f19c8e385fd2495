/** Time and memory bookkeeping for the fuzz runs: per-message timings, percentiles, heap after a full collection. */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** How many generated messages each fuzz run feeds (FUZZ_MESSAGES overrides; 100,000 by default, as issue #10 asks). */
export const FUZZ_MESSAGES = Number(process.env.FUZZ_MESSAGES ?? 100_000);
/** fast-check seed (FUZZ_SEED overrides), printed so a failing run can be replayed. */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20_251_010);

/** A real global.gc even without --expose-gc on the command line (tap starts the test process itself). */
export const gc: () => void = (() => {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/** Heap in use after a full collection, in MiB. */
export function heapMiB(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

export function rssMiB(): number {
  return process.memoryUsage().rss / 2 ** 20;
}

/**
 * CPU time this process has used, in milliseconds (µs resolution). The fuzz bounds are on CPU time, not wall time:
 * on a shared machine a process can wait for a core for hundreds of milliseconds, which says nothing of the decoder.
 */
export function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** Per-message durations in milliseconds, with the slowest sample's label. */
export class Timings {
  private readonly ms: Float64Array;
  private n = 0;
  max = 0;
  maxLabel = '';

  constructor(capacity: number) {
    this.ms = new Float64Array(capacity);
  }

  get count(): number {
    return this.n;
  }

  add(ms: number, label: string): void {
    if (this.n < this.ms.length) this.ms[this.n++] = ms;
    if (ms > this.max) {
      this.max = ms;
      this.maxLabel = label;
    }
  }

  percentile(p: number): number {
    if (this.n === 0) return 0;
    const sorted = this.ms.slice(0, this.n).sort();
    return sorted[Math.min(this.n - 1, Math.floor((p / 100) * this.n))];
  }

  summary(): string {
    return `p50 ${this.percentile(50).toFixed(3)} ms, p99 ${this.percentile(99).toFixed(3)} ms, max ${this.max.toFixed(1)} ms (${this.maxLabel})`;
  }
}

/** Counts per key, printed as "a 12, b 3". */
export class Tally {
  readonly counts = new Map<string, number>();
  add(key: string, n = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }
  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }
  toString(): string {
    return [...this.counts].map(([k, n]) => `${k} ${n}`).join(', ');
  }
}
