import { MAX_VIEW_DIRECTIONS, type SpotViewModel } from './spot.js';

/** Principal directions a view model keeps by default. */
export const DEFAULT_VIEW_DIRECTIONS = 5;

/**
 * Fits a spot's view model from the features of V camera views of it and its unit reference: the mean of
 * (view − reference), the top `directions` principal directions of the centred deviations with their standard
 * deviations, and the total norm of what those directions leave over (spread isotropically when sampled).
 * Views are L2-normalised first, as every feature the device sends is. Needs at least two views.
 */
export function fitViewModel(reference: Float32Array, views: readonly Float32Array[], directions = DEFAULT_VIEW_DIRECTIONS): SpotViewModel {
  const n = views.length;
  const d = reference.length;
  if (n < 2) throw new RangeError(`a view model needs at least 2 views, got ${n}`);
  if (!Number.isInteger(directions) || directions < 0 || directions > MAX_VIEW_DIRECTIONS) {
    throw new RangeError(`view model directions must be an integer 0..${MAX_VIEW_DIRECTIONS}, got ${directions}`);
  }
  const deviations = views.map((v, i) => {
    if (v.length !== d) throw new RangeError(`view ${i} has dimension ${v.length}, the reference ${d}`);
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    if (!(norm > 0) || !Number.isFinite(norm)) throw new RangeError(`view ${i} is zero or not finite`);
    return Float64Array.from(v, (x, j) => x / norm - reference[j]);
  });
  const mean = new Float64Array(d);
  for (const dev of deviations) for (let j = 0; j < d; j++) mean[j] += dev[j] / n;
  const centred = deviations.map((dev) => dev.map((x, j) => x - mean[j]));
  // Eigen-decomposition of the n×n Gram matrix (n ≪ d): C Cᵀ e = λ e gives the direction Cᵀ e / √λ.
  const gram = centred.map((a) => centred.map((b) => dot64(a, b)));
  const { values, vectors } = jacobiEigen(gram);
  const order = values.map((_, i) => i).sort((a, b) => values[b] - values[a]);
  const dof = n - 1;
  const total = values.reduce((s, v) => s + Math.max(0, v), 0);
  const kept: Float32Array[] = [];
  const scales: number[] = [];
  let explained = 0;
  for (const i of order) {
    if (kept.length >= directions) break;
    const lambda = values[i];
    if (!(lambda > 1e-12 * Math.max(total, 1e-30))) break;
    const u = new Float64Array(d);
    for (let v = 0; v < n; v++) {
      const w = vectors[v][i];
      for (let j = 0; j < d; j++) u[j] += w * centred[v][j];
    }
    const norm = Math.sqrt(dot64(u, u));
    kept.push(Float32Array.from(u, (x) => x / norm));
    scales.push(Math.sqrt(lambda / dof));
    explained += lambda;
  }
  const residual = Math.sqrt(Math.max(0, total - explained) / dof);
  return { mean: Float32Array.from(mean), directions: kept, scales, residual };
}

/** Symmetric eigen-decomposition by cyclic Jacobi rotations; vectors[row][i] is the i-th eigenvector's row entry. */
function jacobiEigen(matrix: number[][]): { values: number[]; vectors: number[][] } {
  const n = matrix.length;
  const a = matrix.map((row) => [...row]);
  const v: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p][q] * a[p][q];
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(a[p][q]) < 1e-300) continue;
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k][p];
          const akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p][k];
          const aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k][p];
          const vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: a.map((row, i) => row[i]), vectors: v };
}

function dot64(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
