/**
 * Gradient-boosted decision trees for the real-vs-dummy classifier, written out so the harness adds no dependency.
 * A server need not be linear: when two kinds of real queries sit on either side of the dummies along one feature
 * (or real ones are told by the product of two features), a logistic regression reads chance while small trees read
 * the difference. Logistic loss, shallow trees grown level by level on per-feature quantile bins (histograms of
 * gradient and hessian, so a fit is rows × features × depth per round), shrinkage, L2 on leaf values, and a seeded
 * row subsample per round. Same data, same options, same seed: the same model.
 */
import { seededRandom } from '../util/random.js';

export interface BoostedTreesOptions {
  /** Boosting rounds (trees). Default 100. */
  rounds?: number;
  /** Depth of each tree (2^depth leaves at most). Default 3. */
  depth?: number;
  /** Shrinkage applied to every tree's leaf values. Default 0.1. */
  shrinkage?: number;
  /** Split candidates per feature: the training data's quantiles cut it into at most this many bins. Default 32. */
  bins?: number;
  /** Fewest training rows a leaf may hold. Default 20. */
  minLeaf?: number;
  /** L2 penalty on leaf values (the λ of the gain and of the leaf weight). Default 1. */
  l2?: number;
  /** Share of the rows each tree is grown on, drawn anew per round (1: all rows, no randomness). Default 0.8. */
  subsample?: number;
  /** Seed of the row subsample. Default 1. */
  seed?: number;
  /** Weight positives so both classes count equally, as `fitLogistic` does. Default true. */
  balance?: boolean;
}

export interface BoostedTreesModel {
  /** P(positive | features). */
  predict(features: readonly number[]): number;
  /** Number of trees grown. */
  readonly trees: number;
}

/** A tree as flat arrays; node 0 is the root, a leaf has feature −1. Left takes x[feature] <= threshold (NaN goes right). */
interface Tree {
  feature: Int32Array;
  threshold: Float64Array;
  left: Int32Array;
  right: Int32Array;
  value: Float64Array;
}

/** Per (feature, bin), row-major by feature: sums of gradient and hessian, and the row count. */
interface Histogram {
  g: Float64Array;
  h: Float64Array;
  n: Int32Array;
}

/** Stands in for the histogram of a node at the last level, which never splits. */
const EMPTY: Histogram = { g: new Float64Array(0), h: new Float64Array(0), n: new Int32Array(0) };

function subtract(parent: Histogram, child: Histogram): Histogram {
  return {
    g: parent.g.map((v, c) => v - child.g[c]),
    h: parent.h.map((v, c) => v - child.h[c]),
    n: parent.n.map((v, c) => v - child.n[c]),
  };
}

/** Fits P(y | x) = σ(F₀ + Σ trees(x)) by Newton boosting on the logistic loss. */
export function fitBoostedTrees(
  xs: readonly (readonly number[])[],
  ys: readonly boolean[],
  options: BoostedTreesOptions = {},
): BoostedTreesModel {
  const n = xs.length;
  if (n === 0 || n !== ys.length) throw new RangeError(`fitBoostedTrees needs as many labels as rows (got ${n} rows, ${ys.length} labels)`);
  const d = xs[0].length;
  const rounds = options.rounds ?? 100;
  const depth = options.depth ?? 3;
  const shrinkage = options.shrinkage ?? 0.1;
  const maxBins = Math.max(2, options.bins ?? 32);
  const minLeaf = Math.max(1, options.minLeaf ?? 20);
  const l2 = options.l2 ?? 1;
  const subsample = Math.min(1, Math.max(0, options.subsample ?? 0.8));
  const random = seededRandom(options.seed ?? 1);

  // Per feature, the cut points (ascending): bin b holds values in (cut[b−1], cut[b]]; the last bin holds the rest and NaN.
  const cuts: Float64Array[] = [];
  for (let j = 0; j < d; j++) cuts.push(quantileCuts(xs, j, Math.min(maxBins, 256)));
  const width = Math.max(1, ...cuts.map((c) => c.length + 1));
  // Row-major bins: a node's histogram is one pass over its rows.
  const binned = new Uint8Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) binned[i * d + j] = binOf(cuts[j], xs[i][j]);

  const positives = ys.filter(Boolean).length;
  const balance = (options.balance ?? true) && positives > 0 && positives < n;
  const weight = Float64Array.from(ys, (y) => (!balance ? 1 : y ? n / (2 * positives) : n / (2 * (n - positives))));
  const target = Float64Array.from(ys, (y) => (y ? 1 : 0));
  let wPos = 0;
  let wAll = 0;
  for (let i = 0; i < n; i++) {
    wPos += weight[i] * target[i];
    wAll += weight[i];
  }
  const clamp = (p: number) => Math.min(1 - 1e-6, Math.max(1e-6, p));
  const base = Math.log(clamp(wPos / wAll) / (1 - clamp(wPos / wAll)));

  const margin = new Float64Array(n).fill(base);
  const grad = new Float64Array(n);
  const hess = new Float64Array(n);
  const trees: Tree[] = [];
  const all = Int32Array.from({ length: n }, (_, i) => i);

  /** Sums of gradient, hessian and count per (feature, bin) over `members`. */
  const histogram = (members: Int32Array): Histogram => {
    const h: Histogram = { g: new Float64Array(d * width), h: new Float64Array(d * width), n: new Int32Array(d * width) };
    for (let m = 0; m < members.length; m++) {
      const i = members[m];
      const gi = grad[i];
      const hi = hess[i];
      const row = i * d;
      for (let j = 0; j < d; j++) {
        const cell = j * width + binned[row + j];
        h.g[cell] += gi;
        h.h[cell] += hi;
        h.n[cell]++;
      }
    }
    return h;
  };

  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < n; i++) {
      const p = sigmoid(margin[i]);
      grad[i] = weight[i] * (p - target[i]);
      hess[i] = weight[i] * Math.max(p * (1 - p), 1e-12);
    }
    let rows = all;
    if (subsample < 1) {
      const kept = new Int32Array(n);
      let count = 0;
      for (let i = 0; i < n; i++) if (random.next() < subsample) kept[count++] = i;
      rows = kept.slice(0, count);
    }
    if (rows.length < 2 * minLeaf) continue;

    const nodes: { feature: number; bin: number; threshold: number; left: number; right: number; value: number }[] = [];
    const grow = (members: Int32Array, hist: Histogram, level: number): number => {
      const id = nodes.length;
      let g = 0;
      let h = 0;
      for (let m = 0; m < members.length; m++) {
        g += grad[members[m]];
        h += hess[members[m]];
      }
      nodes.push({ feature: -1, bin: -1, threshold: 0, left: -1, right: -1, value: (-shrinkage * g) / (h + l2) });
      if (level >= depth || members.length < 2 * minLeaf) return id;
      const parentScore = (g * g) / (h + l2);
      let bestGain = 1e-12;
      let bestFeature = -1;
      let bestBin = -1;
      let bestLeft = 0;
      for (let j = 0; j < d; j++) {
        const bins = cuts[j].length + 1;
        let gl = 0;
        let hl = 0;
        let nl = 0;
        // Split "bin <= b" for b < bins − 1: x <= cut[b] goes left.
        for (let b = 0; b < bins - 1; b++) {
          const cell = j * width + b;
          gl += hist.g[cell];
          hl += hist.h[cell];
          nl += hist.n[cell];
          if (nl < minLeaf) continue;
          if (members.length - nl < minLeaf) break;
          const gr = g - gl;
          const gain = (gl * gl) / (hl + l2) + (gr * gr) / (h - hl + l2) - parentScore;
          if (gain > bestGain) {
            bestGain = gain;
            bestFeature = j;
            bestBin = b;
            bestLeft = nl;
          }
        }
      }
      if (bestFeature < 0) return id;
      const leftRows = new Int32Array(bestLeft);
      const rightRows = new Int32Array(members.length - bestLeft);
      let l = 0;
      let r = 0;
      for (let m = 0; m < members.length; m++) {
        const i = members[m];
        if (binned[i * d + bestFeature] <= bestBin) leftRows[l++] = i;
        else rightRows[r++] = i;
      }
      nodes[id].feature = bestFeature;
      nodes[id].bin = bestBin;
      nodes[id].threshold = cuts[bestFeature][bestBin];
      // The smaller child's histogram is counted, the larger one's is the parent's minus it.
      let leftHist: Histogram | undefined;
      let rightHist: Histogram | undefined;
      if (level + 1 < depth) {
        const small = histogram(l <= r ? leftRows : rightRows);
        const large = subtract(hist, small);
        [leftHist, rightHist] = l <= r ? [small, large] : [large, small];
      }
      nodes[id].left = grow(leftRows, leftHist ?? EMPTY, level + 1);
      nodes[id].right = grow(rightRows, rightHist ?? EMPTY, level + 1);
      return id;
    };
    grow(rows, histogram(rows), 0);

    const tree: Tree = {
      feature: Int32Array.from(nodes, (t) => t.feature),
      threshold: Float64Array.from(nodes, (t) => t.threshold),
      left: Int32Array.from(nodes, (t) => t.left),
      right: Int32Array.from(nodes, (t) => t.right),
      value: Float64Array.from(nodes, (t) => t.value),
    };
    trees.push(tree);
    // Every row moves, sampled or not, walked on its bins (bin <= b exactly when x <= cut[b]).
    const splitBin = Int32Array.from(nodes, (t) => t.bin);
    for (let i = 0; i < n; i++) {
      let node = 0;
      while (tree.feature[node] >= 0) node = binned[i * d + tree.feature[node]] <= splitBin[node] ? tree.left[node] : tree.right[node];
      margin[i] += tree.value[node];
    }
  }

  return {
    trees: trees.length,
    predict(x) {
      if (x.length !== d) throw new RangeError(`BoostedTreesModel.predict: ${x.length} features, fitted on ${d}`);
      let f = base;
      for (const t of trees) f += leafOf(t, x);
      return sigmoid(f);
    },
  };
}

/** Up to `bins − 1` distinct cut points at the quantiles of column j (NaN ignored); no cut at the maximum. */
function quantileCuts(xs: readonly (readonly number[])[], j: number, bins: number): Float64Array {
  const values = Float64Array.from(xs, (x) => x[j]).filter((v) => !Number.isNaN(v));
  values.sort();
  const out: number[] = [];
  if (values.length === 0) return new Float64Array(0);
  const max = values[values.length - 1];
  for (let q = 1; q < bins; q++) {
    const v = values[Math.min(values.length - 1, Math.floor((q * values.length) / bins))];
    if (v < max && (out.length === 0 || v > out[out.length - 1])) out.push(v);
  }
  return Float64Array.from(out);
}

/** The first bin whose cut is >= v (binary search); cuts.length for values above every cut and for NaN. */
function binOf(cuts: Float64Array, v: number): number {
  if (Number.isNaN(v)) return cuts.length;
  let lo = 0;
  let hi = cuts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (v <= cuts[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function leafOf(tree: Tree, x: readonly number[]): number {
  let node = 0;
  while (tree.feature[node] >= 0) node = x[tree.feature[node]] <= tree.threshold[node] ? tree.left[node] : tree.right[node];
  return tree.value[node];
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}
