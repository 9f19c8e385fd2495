import { schemaDefault } from '../config/load.js';

/** Percentiles over the recent window, in ms; null while the window is empty. */
export interface LatencySummary {
  /** Samples in the window. */
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

/**
 * The last `size` latencies in a ring buffer. A count window rather than a time window: on a device that
 * recognises rarely, the last few results stay visible instead of the summary going empty.
 */
export class LatencyWindow {
  private readonly samples: Float64Array;
  private next = 0;
  private filled = 0;

  constructor(readonly size = schemaDefault('edge', 'health.latencyWindow') as number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`latency window size must be a positive integer, got ${size}`);
    this.samples = new Float64Array(size);
  }

  /** Negative or non-finite values (clock jumps) are ignored rather than skewing the percentiles. */
  record(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.size;
    this.filled = Math.min(this.filled + 1, this.size);
  }

  summary(): LatencySummary {
    if (this.filled === 0) return { count: 0, p50: null, p95: null, p99: null, max: null };
    const sorted = this.samples.slice(0, this.filled).sort();
    return {
      count: this.filled,
      p50: nearestRank(sorted, 0.5),
      p95: nearestRank(sorted, 0.95),
      p99: nearestRank(sorted, 0.99),
      max: sorted[sorted.length - 1],
    };
  }
}

/** Nearest-rank percentile: always a latency that was actually observed. */
function nearestRank(sorted: Float64Array, q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

/** The part of the pipeline the latency tracker listens to (EdgeDaemon satisfies it). */
export interface ResultEvents {
  on(event: 'result', listener: (result: { latencyMs: number; fromCache: boolean }) => void): unknown;
  off(event: 'result', listener: (result: { latencyMs: number; fromCache: boolean }) => void): unknown;
}

/**
 * Frame-capture-to-result latency, split by path: a local cache hit and a round trip through the recognizer differ
 * by orders of magnitude, and one window mixing them would say little about either.
 */
export class LatencyTracker {
  readonly all: LatencyWindow;
  readonly cached: LatencyWindow;
  readonly queried: LatencyWindow;
  private readonly listener = (result: { latencyMs: number; fromCache: boolean }): void => {
    this.all.record(result.latencyMs);
    (result.fromCache ? this.cached : this.queried).record(result.latencyMs);
  };

  constructor(
    private readonly pipeline: ResultEvents,
    windowSize = schemaDefault('edge', 'health.latencyWindow') as number,
  ) {
    this.all = new LatencyWindow(windowSize);
    this.cached = new LatencyWindow(windowSize);
    this.queried = new LatencyWindow(windowSize);
  }

  start(): void {
    this.pipeline.on('result', this.listener);
  }

  stop(): void {
    this.pipeline.off('result', this.listener);
  }

  summary(): { all: LatencySummary; cached: LatencySummary; queried: LatencySummary } {
    return { all: this.all.summary(), cached: this.cached.summary(), queried: this.queried.summary() };
  }
}
