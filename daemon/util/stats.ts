/** Summary of one series of timings. Percentiles are nearest-rank, so every value is one that was measured. */
export interface TimingSummary {
  count: number;
  mean: number;
  p50: number;
  p99: number;
  min: number;
  max: number;
}

export function summarize(samples: readonly number[]): TimingSummary {
  if (samples.length === 0) throw new RangeError('summarize needs at least one sample');
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((s, x) => s + x, 0) / sorted.length;
  return {
    count: sorted.length,
    mean,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    min: sorted[0],
    max: sorted[sorted.length - 1],
  };
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Milliseconds series in the JSON's `*_ms` form. */
export function msFields(s: TimingSummary): { mean_ms: number; p50_ms: number; p99_ms: number } {
  return { mean_ms: round(s.mean), p50_ms: round(s.p50), p99_ms: round(s.p99) };
}

/** Microsecond series (input in ms) in the JSON's `*_us` form. */
export function usFields(s: TimingSummary): { mean_us: number; p50_us: number; p99_us: number } {
  return { mean_us: round(s.mean * 1000), p50_us: round(s.p50 * 1000), p99_us: round(s.p99 * 1000) };
}

/**
 * Rounded for the report; 4 significant digits is well under the run-to-run noise of any timing here. Ratios in the
 * report are computed from the unrounded values first.
 */
export function round(x: number, digits = 4): number {
  return x === 0 || !Number.isFinite(x) ? x : Number(x.toPrecision(digits));
}
