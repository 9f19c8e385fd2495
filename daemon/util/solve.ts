/**
 * Solves the small dense system a·x = b (n × n, row-major `a`) by Gaussian elimination with partial pivoting.
 * Returns null when `a` is singular or nearly so (a pivot under `tolerance` relative to the largest entry).
 * For the k × k systems of the privacy transform (k ≤ 16); not for large or ill-conditioned problems.
 */
export function solveLinear(a: readonly (readonly number[])[], b: readonly number[], tolerance = 1e-9): number[] | null {
  const n = b.length;
  if (a.length !== n || a.some((row) => row.length !== n)) throw new RangeError(`solveLinear needs an ${n} × ${n} matrix`);
  const m = a.map((row, i) => [...row, b[i]]);
  const scale = Math.max(...m.flatMap((row) => row.slice(0, n).map(Math.abs)));
  if (!(scale > 0) || !Number.isFinite(scale)) return null;
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r][col]) > Math.abs(m[pivot][col])) pivot = r;
    if (Math.abs(m[pivot][col]) < tolerance * scale) return null;
    [m[col], m[pivot]] = [m[pivot], m[col]];
    for (let r = col + 1; r < n; r++) {
      const f = m[r][col] / m[col][col];
      for (let c = col; c <= n; c++) m[r][c] -= f * m[col][c];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r][n];
    for (let c = r + 1; c < n; c++) s -= m[r][c] * x[c];
    x[r] = s / m[r][r];
  }
  return x.every(Number.isFinite) ? x : null;
}
