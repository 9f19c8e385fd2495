import type { PathModel } from '../../privacy/walk-model.js';

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
  if (candidateSets.length === 0) return [];
  candidateSets.forEach((set, i) => {
    if (set.length === 0) throw new RangeError(`mostLikelyPath: candidate set ${i} is empty`);
    if (i > 0 && !(timesMs[i] >= timesMs[i - 1])) throw new RangeError(`mostLikelyPath: times must not decrease (step ${i})`);
  });
  let scores = candidateSets[0].map((s) => model.logPrior(s));
  const back: Int32Array[] = [];
  for (let step = 1; step < candidateSets.length; step++) {
    const previous = candidateSets[step - 1];
    const current = candidateSets[step];
    const dt = timesMs[step] - timesMs[step - 1];
    const pointers = new Int32Array(current.length);
    const next = current.map((to, j) => {
      let best = -Infinity;
      let arg = 0;
      previous.forEach((from, i) => {
        const s = scores[i] + model.logTransition(from, to, dt);
        if (s > best) {
          best = s;
          arg = i;
        }
      });
      pointers[j] = arg;
      return best;
    });
    back.push(pointers);
    scores = next;
  }
  let index = scores.indexOf(Math.max(...scores));
  const path = new Array<string>(candidateSets.length);
  for (let step = candidateSets.length - 1; step >= 0; step--) {
    path[step] = candidateSets[step][index];
    if (step > 0) index = back[step - 1][index];
  }
  return path;
}
