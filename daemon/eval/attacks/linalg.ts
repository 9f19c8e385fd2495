/**
 * The few dense linear-algebra pieces the attacks share: float64 dot products, a symmetric positive-definite solve
 * (Cholesky with a ridge that grows until it factors), binomial counts and robust one-dimensional summaries. The
 * systems are small (k components, k × view directions): nothing here needs a library.
 */

export type Vector = ArrayLike<number>;

export function dot64(a: Vector, b: Vector): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** `out += f · v`, in place. */
export function addScaled(out: Float64Array, v: Vector, f: number): void {
  for (let i = 0; i < out.length; i++) out[i] += f * v[i];
}

/**
 * Solves A x = b for the symmetric n×n `a` (row-major, read only), which should be positive (semi)definite. A
 * relative ridge is added to the diagonal when the factorisation meets a non-positive pivot, so a rank-deficient
 * system (two components with the same reference) still gets the minimum-energy-like answer instead of NaN.
 */
export function solveSymmetric(a: Float64Array, b: Float64Array, n: number, ridge = 1e-10): Float64Array {
  let trace = 0;
  for (let i = 0; i < n; i++) trace += Math.abs(a[i * n + i]);
  let lambda = ridge * Math.max(trace / Math.max(n, 1), 1e-300);
  for (let attempt = 0; attempt < 12; attempt++, lambda *= 100) {
    const l = cholesky(a, n, lambda);
    if (l) return choleskySolve(l, b, n);
  }
  return new Float64Array(n);
}

function cholesky(a: Float64Array, n: number, lambda: number): Float64Array | undefined {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j] + (i === j ? lambda : 0);
      for (let m = 0; m < j; m++) s -= l[i * n + m] * l[j * n + m];
      if (i === j) {
        if (!(s > 0)) return undefined;
        l[i * n + i] = Math.sqrt(s);
      } else {
        l[i * n + j] = s / l[j * n + j];
      }
    }
  }
  return l;
}

function choleskySolve(l: Float64Array, b: Float64Array, n: number): Float64Array {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let m = 0; m < i; m++) s -= l[i * n + m] * y[m];
    y[i] = s / l[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let m = i + 1; m < n; m++) s -= l[m * n + i] * x[m];
    x[i] = s / l[i * n + i];
  }
  return x;
}

/** Least-squares weights of `q` on the columns `columns` (normal equations). */
export function leastSquares(columns: readonly Vector[], q: Vector): Float64Array {
  const n = columns.length;
  const gram = new Float64Array(n * n);
  const rhs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    rhs[i] = dot64(columns[i], q);
    for (let j = i; j < n; j++) gram[i * n + j] = gram[j * n + i] = dot64(columns[i], columns[j]);
  }
  return solveSymmetric(gram, rhs, n);
}

/** C(n, k) as a float (exact while it fits in 53 bits, which is all a search budget needs). */
export function binomial(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  let c = 1;
  for (let i = 1; i <= Math.min(k, n - k); i++) c = (c * (n - Math.min(k, n - k) + i)) / i;
  return Math.round(c);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function meanAndSd(values: readonly number[]): { mean: number; sd: number } {
  const n = values.length;
  if (n === 0) return { mean: 0, sd: 1 };
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / Math.max(1, n - 1);
  return { mean, sd: Math.sqrt(variance) };
}

/** Index of the largest entry (the first on ties); -1 for an empty list. */
export function argMax(values: readonly number[]): number {
  let best = -1;
  for (let i = 0; i < values.length; i++) if (best < 0 || values[i] > values[best]) best = i;
  return best;
}
