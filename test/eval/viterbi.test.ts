import t from 'tap';
import { sparseViterbi, viterbi, type Trellis } from '../../daemon/eval/attacks/path.js';
import { WalkModel } from '../../daemon/privacy/walk-model.js';
import { seededRandom } from '../../daemon/util/random.js';

// The textbook example: Healthy (0) or Fever (1), seen as normal, cold, dizzy; the most likely states are H, H, F.
const start = [0.6, 0.4];
const move = [
  [0.7, 0.3],
  [0.4, 0.6],
];
const emit = { normal: [0.5, 0.1], cold: [0.4, 0.3], dizzy: [0.1, 0.6] };
const seen = [emit.normal, emit.cold, emit.dizzy];
const doctor = (transition: 'callback' | 'matrix'): Trellis => ({
  steps: seen.length,
  states: () => 2,
  logPrior: (j) => Math.log(start[j]),
  logTransition: () => (transition === 'callback' ? (from, to) => Math.log(move[from][to]) : Float64Array.from(move.flat(), Math.log)),
  logEmission: (step) => (j) => Math.log(seen[step][j]),
});

t.test('viterbi finds the most likely states, with callbacks or a transition matrix', async (t) => {
  t.same(Array.from(viterbi(doctor('callback'))), [0, 0, 1]);
  t.same(Array.from(viterbi(doctor('matrix'))), [0, 0, 1]);
  // Without the evidence the prior and the transitions alone decide: stay healthy.
  t.same(Array.from(viterbi({ ...doctor('callback'), logEmission: undefined })), [0, 0, 0]);
});

t.test('viterbi: step sizes of their own, ties to the lower index, and its input checked', async (t) => {
  const flat: Trellis = { steps: 3, states: (step) => [2, 3, 1][step], logPrior: () => 0, logTransition: () => () => 0 };
  t.same(Array.from(viterbi(flat)), [0, 0, 0], 'every path alike: the lowest indices');
  t.same(Array.from(viterbi({ ...flat, steps: 0 })), []);
  t.throws(() => viterbi({ ...flat, states: (step) => (step === 1 ? 0 : 2) }), /step 1 has no state/);
  t.throws(() => viterbi({ ...flat, logTransition: () => new Float64Array(5) }), /transition matrix into step 1 has 5 entries, expected 6/);
});

/** A walk model on `n` spots scattered over a square, and sessions of queries a second or a few apart. */
function walkWorld(n: number, seed: number) {
  const random = seededRandom(seed);
  const side = 80 * Math.sqrt(n);
  const walk = new WalkModel(
    Array.from({ length: n }, (_, i) => ({ id: `s${i}`, x: random.next() * side, y: random.next() * side, popularity: 0.5 + random.next() * 2 })),
  );
  const steps = 40;
  const times: number[] = [0];
  for (let s = 1; s < steps; s++) times.push(times[s - 1] + [300, 1000, 1000, 1400, 4000, 30_000][random.int(6)]);
  // Each query shows 4 spots, usually including the neighbourhood of a wandering true spot.
  let here = random.int(n);
  const shown = times.map(() => {
    if (random.next() < 0.1) here = walk.reachable(here, 60_000)[0] ?? here;
    return [here, random.int(n), random.int(n), random.int(n)];
  });
  return { walk, times, shown };
}

t.test('sparseViterbi finds the path the full table finds, on walk models of a whole map', async (t) => {
  for (const [n, seed] of [[30, 1], [120, 2], [300, 3]] as const) {
    const { walk, times, shown } = walkWorld(n, seed);
    const logEps = Math.log(0.05);
    const emission = (s: number) => (j: number) => (shown[s].includes(j) ? 0 : logEps);
    const dense = viterbi({
      steps: times.length,
      states: () => n,
      logPrior: (j) => walk.logPrior(`s${j}`),
      logTransition: (s) => (a, b) => walk.logTransitionAt(a, b, times[s] - times[s - 1]),
      logEmission: emission,
    });
    let asked = 0;
    const sparse = sparseViterbi({
      steps: times.length,
      states: n,
      floor: walk.logFloor,
      logPrior: (j) => walk.logPrior(`s${j}`),
      moves: (s, from) => {
        asked++;
        return { to: [from, ...walk.reachable(from, times[s] - times[s - 1])], logLikelihood: (to) => walk.logTransitionAt(from, to, times[s] - times[s - 1]) };
      },
      logEmission: emission,
    });
    t.same(Array.from(sparse), Array.from(dense), `${n} spots: the same path`);
    t.ok(asked < (times.length - 1) * n, `${n} spots: moves asked of ${asked} states, fewer than every state of every step`);
  }
});

t.test('reachable: every spot a move scores above the floor from, and no other', async (t) => {
  const { walk } = walkWorld(150, 7);
  for (const dt of [0, 1000, 5000, 60_000]) {
    for (const from of [0, 17, 149]) {
      const above = Array.from({ length: 150 }, (_, j) => j).filter((j) => j !== from && walk.logTransitionAt(from, j, dt) > walk.logFloor);
      const listed = walk.reachable(from, dt);
      t.ok(above.every((j) => listed.includes(j)), `dt ${dt} from ${from}: all ${above.length} moves above the floor listed`);
      t.ok(listed.every((j) => j !== from), 'never the spot itself');
      if (dt === 1000) t.ok(listed.length < 150 / 4, `a second's reach is a neighbourhood (${listed.length} of 150)`);
    }
  }
  t.same(walk.map.within(0, Number.POSITIVE_INFINITY).length, 149, 'an unbounded radius holds every other spot');
});

t.test('sparseViterbi checks its input', async (t) => {
  const base = { steps: 2, states: 2, floor: -5, logPrior: () => 0, moves: () => ({ to: [], logLikelihood: () => 0 }) };
  t.same(Array.from(sparseViterbi({ ...base, steps: 0 })), []);
  t.same(Array.from(sparseViterbi(base)), [0, 0], 'every path alike: the lowest indices');
  t.throws(() => sparseViterbi({ ...base, states: 0 }), /no state/);
  t.throws(() => sparseViterbi({ ...base, floor: Number.NEGATIVE_INFINITY }), /floor/);
});
