/**
 * The little statistics the adversaries and the report need, written out so the harness adds no dependency: ROC AUC,
 * an L2-regularised logistic regression fitted by Newton's method on standardised features, intervals of rates whose
 * outcomes come in clusters (one simulated person's queries), and the report's rounding.
 */
import type { Random } from '../util/random.js';

/**
 * ROC AUC of `scores` for the binary `labels` (true = positive): the chance that a random positive scores above a
 * random negative, ties counting one half (Mann–Whitney U with mid-ranks). NaN when either class is empty.
 */
export function rocAuc(scores: readonly number[], labels: readonly boolean[]): number {
  if (scores.length !== labels.length) throw new RangeError(`rocAuc: ${scores.length} scores but ${labels.length} labels`);
  const order = scores.map((s, i) => ({ s, positive: labels[i] })).sort((a, b) => a.s - b.s);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j < order.length && order[j].s === order[i].s) j++;
    const midRank = (i + 1 + j) / 2; // ranks i+1 … j share their mean
    for (let m = i; m < j; m++) {
      if (order[m].positive) {
        positives++;
        rankSum += midRank;
      }
    }
    i = j;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

export interface LogisticModel {
  /** P(positive | features). */
  predict(features: readonly number[]): number;
}

export interface LogisticOptions {
  /** L2 penalty on the weights (not the bias). Default 1e-2. */
  l2?: number;
  iterations?: number;
  /** Weight positives so both classes count equally (cover traffic makes real queries rare). Default true. */
  balance?: boolean;
}

/** Fits P(y | x) = σ(w·z(x) + b), z standardising each feature with the training mean and deviation. */
export function fitLogistic(xs: readonly (readonly number[])[], ys: readonly boolean[], options: LogisticOptions = {}): LogisticModel {
  const n = xs.length;
  if (n === 0 || n !== ys.length) throw new RangeError(`fitLogistic needs as many labels as rows (got ${n} rows, ${ys.length} labels)`);
  const d = xs[0].length;
  const l2 = options.l2 ?? 1e-2;
  const mean = new Array<number>(d).fill(0);
  const sd = new Array<number>(d).fill(0);
  for (const x of xs) for (let j = 0; j < d; j++) mean[j] += x[j] / n;
  for (const x of xs) for (let j = 0; j < d; j++) sd[j] += (x[j] - mean[j]) ** 2 / n;
  for (let j = 0; j < d; j++) sd[j] = Math.sqrt(sd[j]) || 1;
  const z = (x: readonly number[]) => [...x.map((v, j) => (v - mean[j]) / sd[j]), 1];

  const positives = ys.filter(Boolean).length;
  const balance = options.balance ?? true;
  const weightOf = (y: boolean) => (!balance || positives === 0 || positives === n ? 1 : y ? n / (2 * positives) : n / (2 * (n - positives)));
  const rows = xs.map(z);
  const w = new Array<number>(d + 1).fill(0);
  for (let iter = 0; iter < (options.iterations ?? 25); iter++) {
    const grad = new Array<number>(d + 1).fill(0);
    const hess = Array.from({ length: d + 1 }, () => new Array<number>(d + 1).fill(0));
    rows.forEach((row, i) => {
      const p = sigmoid(dotRow(w, row));
      const c = weightOf(ys[i]);
      const r = c * (p - (ys[i] ? 1 : 0));
      const h = c * p * (1 - p);
      for (let a = 0; a <= d; a++) {
        grad[a] += r * row[a];
        for (let b = 0; b <= d; b++) hess[a][b] += h * row[a] * row[b];
      }
    });
    for (let a = 0; a < d; a++) {
      grad[a] += l2 * n * w[a];
      hess[a][a] += l2 * n;
    }
    hess[d][d] += 1e-9;
    const step = solve(hess, grad);
    let change = 0;
    for (let a = 0; a <= d; a++) {
      w[a] -= step[a];
      change = Math.max(change, Math.abs(step[a]));
    }
    if (change < 1e-8) break;
  }
  return { predict: (x) => sigmoid(dotRow(w, z(x))) };
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

function dotRow(w: readonly number[], row: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < w.length; i++) s += w[i] * row[i];
  return s;
}

/** Gaussian elimination with partial pivoting; the matrices are a handful of rows. */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r][col]) > Math.abs(m[pivot][col])) pivot = r;
    [m[col], m[pivot]] = [m[pivot], m[col]];
    const p = m[col][col] || 1e-12;
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = m[r][col] / p;
      if (f !== 0) for (let c = col; c <= n; c++) m[r][c] -= f * m[col][c];
    }
  }
  return m.map((row, i) => row[n] / (m[i][i] || 1e-12));
}

/**
 * 95 % confidence interval of a rate whose outcomes come in clusters (one simulated user's queries are not
 * independent: a long visit is many queries of one spot): the ratio estimator's variance over clusters.
 */
export function clusteredCi95(outcomes: readonly boolean[], clusters: readonly number[]): [number, number] {
  const byCluster = new Map<number, { hits: number; n: number }>();
  outcomes.forEach((hit, i) => {
    const c = byCluster.get(clusters[i]) ?? { hits: 0, n: 0 };
    c.n++;
    if (hit) c.hits++;
    byCluster.set(clusters[i], c);
  });
  const total = outcomes.length;
  const groups = [...byCluster.values()];
  if (total === 0 || groups.length < 2) return [0, 1];
  const r = outcomes.filter(Boolean).length / total;
  const variance = (groups.length / (groups.length - 1)) * groups.reduce((s, g) => s + (g.hits - r * g.n) ** 2, 0) / total ** 2;
  const half = 1.96 * Math.sqrt(variance);
  return [round(Math.max(0, r - half)), round(Math.min(1, r + half))];
}

/**
 * 95 % interval of (hits in `a`) / (hits in `b`) from a bootstrap over clusters (a simulated person's frames are not
 * independent): the clusters are drawn with replacement 2,000 times, each draw's ratio kept, the 2.5th and 97.5th
 * percentiles returned.
 */
export function clusteredRatioCi95(a: readonly boolean[], b: readonly boolean[], clusters: readonly number[], random: Random): [number, number] {
  const byCluster = new Map<number, { a: number; b: number }>();
  a.forEach((hit, i) => {
    const c = byCluster.get(clusters[i]) ?? { a: 0, b: 0 };
    if (hit) c.a++;
    if (b[i]) c.b++;
    byCluster.set(clusters[i], c);
  });
  const groups = [...byCluster.values()];
  if (groups.length < 2) return [0, Infinity];
  const ratios: number[] = [];
  for (let draw = 0; draw < 2000; draw++) {
    let sumA = 0;
    let sumB = 0;
    for (let n = 0; n < groups.length; n++) {
      const g = groups[Math.floor(random.next() * groups.length)];
      sumA += g.a;
      sumB += g.b;
    }
    if (sumB > 0) ratios.push(sumA / sumB);
  }
  ratios.sort((x, y) => x - y);
  const at = (q: number) => ratios[Math.min(ratios.length - 1, Math.floor(q * ratios.length))];
  return ratios.length > 0 ? [round(at(0.025)), round(at(0.975))] : [0, Infinity];
}

/** hits / n rounded for the report; 0 when there is nothing to count. */
export function rate(hits: number, n: number): number {
  return n > 0 ? round(hits / n) : 0;
}

/** Rounded to `digits` decimal places (the report's rates and AUCs; util/stats.ts `round` keeps significant digits). */
export function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
