/**
 * Index of the first entry of the ascending `sorted` that is greater than `x` (the last index when none is): with a
 * cumulative weight table and `x` uniform below its total, a weighted draw.
 */
export function upperBound(sorted: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
