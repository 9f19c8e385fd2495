/**
 * "Stays flat": a least-squares line through a metric's samples over the second half of the soak, and the criterion
 * it is held to — the growth that line predicts across the window must stay within max(relative × the window's mean,
 * an absolute floor). The floor keeps a small, noisy metric (a few file descriptors) from failing on one socket.
 */

export interface Point {
  /** Seconds since the soak started. */
  t: number;
  v: number;
}

export interface Criterion {
  /** Largest change across the window, as a share of the window's mean. */
  relative: number;
  /** …but never less than this, in the metric's unit. */
  absolute: number;
}

export interface Trend {
  samples: number;
  /** The metric at the first and last sample of the whole run, and the mean over the window. */
  start: number | null;
  end: number | null;
  window_mean: number | null;
  window_start_s: number;
  window_end_s: number;
  /** Fitted slope, units per minute. */
  slope_per_min: number | null;
  /** slope × window length: what the line says the metric grew by across the window. */
  change_over_window: number | null;
  allowed_change: number | null;
  pass: boolean;
}

export function fitSlope(points: readonly Point[]): { slope: number; intercept: number } {
  const n = points.length;
  const mt = points.reduce((s, p) => s + p.t, 0) / n;
  const mv = points.reduce((s, p) => s + p.v, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.t - mt) * (p.v - mv);
    sxx += (p.t - mt) ** 2;
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  return { slope, intercept: mv - slope * mt };
}

/** The trend over the second half of [0, durationS]; fewer than 3 samples in the window fails (nothing measured). */
export function secondHalfTrend(points: readonly Point[], durationS: number, criterion: Criterion): Trend {
  const from = durationS / 2;
  const window = points.filter((p) => p.t >= from && Number.isFinite(p.v));
  const all = points.filter((p) => Number.isFinite(p.v));
  const base = { samples: window.length, start: all[0]?.v ?? null, end: all.at(-1)?.v ?? null, window_start_s: from, window_end_s: durationS };
  if (window.length < 3) {
    return { ...base, window_mean: null, slope_per_min: null, change_over_window: null, allowed_change: null, pass: false };
  }
  const mean = window.reduce((s, p) => s + p.v, 0) / window.length;
  const { slope } = fitSlope(window);
  const change = slope * (window.at(-1)!.t - window[0].t);
  const allowed = Math.max(criterion.relative * Math.abs(mean), criterion.absolute);
  return {
    ...base,
    window_mean: mean,
    slope_per_min: slope * 60,
    change_over_window: change,
    allowed_change: allowed,
    pass: change <= allowed,
  };
}
