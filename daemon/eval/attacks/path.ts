import type { PathModel } from '../../privacy/walk-model.js';

/**
 * A trellis for Viterbi: a path of `steps` steps, each in one of its own states (numbered 0 … states(step) − 1),
 * scored by log-likelihood callbacks. The callbacks for a step are asked for once, in step order, so a caller can
 * build a step's table (a transition matrix, an emission vector) when it is first needed.
 */
export interface Trellis {
  readonly steps: number;
  /** How many states step `step` may be in: at least one. */
  states(step: number): number;
  /** Log-likelihood of starting in `state` at step 0. */
  logPrior(state: number): number;
  /**
   * For step ≥ 1: the log-likelihood of moving from state `from` of step − 1 to state `to` of `step`, as a callback
   * or as a row-major matrix (entry from × states(step) + to), which keeps the inner loop a plain read when the
   * state sets are large.
   */
  logTransition(step: number): ((from: number, to: number) => number) | Float64Array;
  /** The log-likelihood of what was observed at `step` if the path is in `state` there; absent: all states alike. */
  logEmission?(step: number): (state: number) => number;
}

/**
 * Viterbi: the state per step of the most likely path through `trellis`. Ties go to the lower state index, both
 * for a state's best predecessor and for the last step. O(Σ states(step − 1) × states(step)).
 */
export function viterbi(trellis: Trellis): Int32Array {
  const { steps } = trellis;
  const path = new Int32Array(steps);
  if (steps === 0) return path;
  const sizes = Array.from({ length: steps }, (_, step) => trellis.states(step));
  sizes.forEach((size, step) => {
    if (!(size >= 1)) throw new RangeError(`viterbi: step ${step} has no state`);
  });
  const emission0 = trellis.logEmission?.(0);
  let scores = Float64Array.from({ length: sizes[0] }, (_, j) => (emission0 ? trellis.logPrior(j) + emission0(j) : trellis.logPrior(j)));
  const back: Int32Array[] = [];
  for (let step = 1; step < steps; step++) {
    const transition = trellis.logTransition(step);
    const emission = trellis.logEmission?.(step);
    const previous = sizes[step - 1];
    const next = new Float64Array(sizes[step]);
    const pointers = new Int32Array(sizes[step]);
    const width = next.length;
    if (transition instanceof Float64Array && transition.length !== previous * width) {
      throw new RangeError(`viterbi: the transition matrix into step ${step} has ${transition.length} entries, expected ${previous * width}`);
    }
    for (let to = 0; to < width; to++) {
      let best = -Infinity;
      let arg = 0;
      if (transition instanceof Float64Array) {
        for (let from = 0; from < previous; from++) {
          const s = scores[from] + transition[from * width + to];
          if (s > best) {
            best = s;
            arg = from;
          }
        }
      } else {
        for (let from = 0; from < previous; from++) {
          const s = scores[from] + transition(from, to);
          if (s > best) {
            best = s;
            arg = from;
          }
        }
      }
      next[to] = emission ? best + emission(to) : best;
      pointers[to] = arg;
    }
    back.push(pointers);
    scores = next;
  }
  let state = 0;
  for (let j = 1; j < scores.length; j++) if (scores[j] > scores[state]) state = j;
  for (let step = steps - 1; step >= 0; step--) {
    path[step] = state;
    if (step > 0) state = back[step - 1][state];
  }
  return path;
}

/**
 * A trellis over one set of `states` at every step where every transition scores at least `floor`, and from each state
 * only a few score more: a walker's model over a whole map, where a second later only nearby spots are in reach.
 */
export interface SparseTrellis {
  readonly steps: number;
  /** The states of every step, numbered 0 … states − 1. */
  readonly states: number;
  logPrior(state: number): number;
  /** The least any transition scores. */
  readonly floor: number;
  /**
   * For step ≥ 1: the transitions out of `from` (a state of step − 1) that may score above `floor`, as target states
   * and their log-likelihoods, which are at most 0 (every other target scores exactly `floor`). Asked only of states still able to be a
   * best predecessor, so a caller may compute them when asked.
   */
  moves(step: number, from: number): { to: readonly number[]; logLikelihood: (to: number) => number };
  logEmission?(step: number): (state: number) => number;
}

/**
 * Viterbi on a SparseTrellis: the path `viterbi` finds on the same trellis written out in full (ties alike: the lower
 * state), at O(states + Σ moves of the states still in the running) a step instead of O(states²). A state whose score
 * trails the step's best by more than −floor can be no one's best predecessor, since the best state reaches every
 * target at `floor` or more; every target no contender moves to takes the best state, at `floor`.
 */
export function sparseViterbi(trellis: SparseTrellis): Int32Array {
  const { steps, states: n, floor } = trellis;
  const path = new Int32Array(steps);
  if (steps === 0) return path;
  if (!(n >= 1)) throw new RangeError('sparseViterbi: no state');
  if (!(floor <= 0 && Number.isFinite(floor))) throw new RangeError(`sparseViterbi: floor must be a finite log-likelihood, got ${floor}`);
  const emission0 = trellis.logEmission?.(0);
  let scores = Float64Array.from({ length: n }, (_, j) => (emission0 ? trellis.logPrior(j) + emission0(j) : trellis.logPrior(j)));
  const back: Int32Array[] = [];
  for (let step = 1; step < steps; step++) {
    let best = 0;
    for (let j = 1; j < n; j++) if (scores[j] > scores[best]) best = j;
    const next = new Float64Array(n).fill(scores[best] + floor);
    const pointers = new Int32Array(n).fill(best);
    const cutoff = scores[best] + floor;
    for (let from = 0; from < n; from++) {
      if (scores[from] < cutoff) continue;
      const { to: targets, logLikelihood } = trellis.moves(step, from);
      for (const to of targets) {
        const s = scores[from] + logLikelihood(to);
        if (s > next[to] || (s === next[to] && from < pointers[to])) {
          next[to] = s;
          pointers[to] = from;
        }
      }
    }
    const emission = trellis.logEmission?.(step);
    if (emission) for (let j = 0; j < n; j++) next[j] += emission(j);
    back.push(pointers);
    scores = next;
  }
  let state = 0;
  for (let j = 1; j < n; j++) if (scores[j] > scores[state]) state = j;
  for (let step = steps - 1; step >= 0; step--) {
    path[step] = state;
    if (step > 0) state = back[step - 1][state];
  }
  return path;
}

/**
 * Viterbi over candidate sets: the one path, taking one candidate per step, that `model` finds most likely.
 * This is the path attack of the evaluation (DESIGN §7, trajectory_acc): the server sees each query's k
 * candidate spots at known times and looks for the path a pedestrian could have walked. O(steps × k²).
 */
export function mostLikelyPath(
  candidateSets: readonly (readonly string[])[],
  timesMs: readonly number[],
  model: PathModel,
): string[] {
  if (candidateSets.length !== timesMs.length) {
    throw new RangeError(`mostLikelyPath needs one time per candidate set, got ${candidateSets.length} sets and ${timesMs.length} times`);
  }
  candidateSets.forEach((set, i) => {
    if (set.length === 0) throw new RangeError(`mostLikelyPath: candidate set ${i} is empty`);
    if (i > 0 && !(timesMs[i] >= timesMs[i - 1])) throw new RangeError(`mostLikelyPath: times must not decrease (step ${i})`);
  });
  const states = viterbi({
    steps: candidateSets.length,
    states: (step) => candidateSets[step].length,
    logPrior: (j) => model.logPrior(candidateSets[0][j]),
    logTransition: (step) => {
      const previous = candidateSets[step - 1];
      const current = candidateSets[step];
      const dt = timesMs[step] - timesMs[step - 1];
      return (from, to) => model.logTransition(previous[from], current[to], dt);
    },
  });
  return Array.from(states, (j, step) => candidateSets[step][j]);
}
